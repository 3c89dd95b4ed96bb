"""Redis restarting under the job path and the web: redis-py's `Retry` reconnects, so the deploy guard, the outcome
and the web's next call succeed whatever the moment of the restart. Real redis-server processes; the restart is
ordered explicitly before or during the call, so the machine's speed decides nothing."""

from __future__ import annotations

import os
import signal
import threading
import time

from redis.backoff import NoBackoff
from redis.retry import Retry

from infra.job_state import RedisJobState
from infra.redis_clients import job_client, web_client
from tests.support.redis_server import PrivateRedis


def restart(server: PrivateRedis, down_s: float = 0.0) -> None:
    server.stop()
    time.sleep(down_s)
    server.start()  # same port, empty


def running_job(triggers: RedisJobState, project: str = "1") -> int:
    triggers.request(project, "test", "job-a")
    return triggers.start(project, "job-a")


def test_the_deploy_guard_on_connections_a_restart_closed_deploys(tmp_path):
    server = PrivateRedis(tmp_path)
    try:
        triggers = RedisJobState(job_client(server.client()))
        generation = running_job(triggers)
        restart(server)
        with triggers.deploying("1", generation) as refusal:
            assert refusal is None
    finally:
        server.stop()


def test_without_a_retry_a_guard_called_while_redis_is_down_refuses_the_deploy(tmp_path):
    """The control: what failed in CI, where the job reached the guard during the restart."""
    server = PrivateRedis(tmp_path)
    try:
        triggers = RedisJobState(job_client(server.client(), retry=Retry(NoBackoff(), 0)))
        generation = running_job(triggers)
        server.stop()
        with triggers.deploying("1", generation) as refusal:
            assert refusal is not None and "could not check" in refusal and "ConnectionError" in refusal
    finally:
        server.stop()


def test_the_deploy_guard_and_the_outcome_wait_for_a_redis_that_is_down_until_it_is_back(tmp_path):
    server = PrivateRedis(tmp_path)
    try:
        triggers = RedisJobState(job_client(server.client()))
        generation = running_job(triggers)
        server.stop()
        back = threading.Thread(target=lambda: (time.sleep(3), server.start()))
        back.start()
        try:
            with triggers.deploying("1", generation) as refusal:  # called while Redis is down
                assert refusal is None
            assert server.proc is not None  # the call returned only once Redis was back
            assert triggers.finish("1", "job-a", True, "job-b", version="v1") is False
            assert triggers.status("1")["1"]["state"] == "finished"
        finally:
            back.join()
    finally:
        server.stop()


def test_the_webs_first_call_after_a_restart_succeeds(tmp_path):
    server = PrivateRedis(tmp_path)
    try:
        client = web_client(server.url)
        assert client.ping()
        restart(server)
        assert client.ping()
        assert web_client("") is None
    finally:
        server.stop()


def test_a_guard_whose_lock_write_timed_out_on_a_paused_redis_holds_the_lock_and_releases_it(tmp_path):
    """The lock's SET times out while Redis is paused and is applied when it resumes; the retried SET finds our own
    token. Without RetrySafeLock the guard waited for itself for DEPLOY_WAIT_S and left the lock taken."""
    server = PrivateRedis(tmp_path)
    pid = server.proc.proc.pid
    try:
        triggers = RedisJobState(job_client(server.client(), timeout=0.5))
        generation = running_job(triggers)
        os.kill(pid, signal.SIGSTOP)
        resume = threading.Timer(2.0, lambda: os.kill(pid, signal.SIGCONT))
        resume.start()
        started = time.monotonic()
        with triggers.deploying("1", generation) as refusal:
            assert refusal is None
            assert server.client().exists("nerb:1:deploy")
        assert time.monotonic() - started < 10  # not DEPLOY_WAIT_S
        assert not server.client().exists("nerb:1:deploy")  # released: the next job may deploy
        resume.join()
    finally:
        os.kill(pid, signal.SIGCONT)
        server.stop()
