"""A running job's progress and heartbeat against a Redis that hangs: training never waits, the failure is logged,
and the state catches up when Redis answers again."""

from __future__ import annotations

import logging
import os
import signal
import time

from infra.heartbeat import Heartbeat
from infra.job_state import RedisJobState
from infra.redis_clients import heartbeat_client


def test_progress_never_waits_for_a_hanging_redis_and_the_heartbeat_logs_it(private_redis, caplog):
    triggers = RedisJobState(heartbeat_client(private_redis.client(), timeout=0.3))
    triggers.request("1", "test", "job-a")
    generation = triggers.start("1", "job-a")
    caplog.set_level(logging.WARNING, logger="infra.heartbeat")
    with Heartbeat(triggers, "1", "job-a", generation, every=0.2) as heartbeat:
        os.kill(private_redis.proc.proc.pid, signal.SIGSTOP)
        started = time.perf_counter()
        for step in range(10_000):  # a training loop reporting every step
            heartbeat.progress(step / 10_000, f"step {step}")
        assert time.perf_counter() - started < 0.5
        time.sleep(1.5)
        assert "could not write job job-a's heartbeat" in caplog.text
        os.kill(private_redis.proc.proc.pid, signal.SIGCONT)
        heartbeat.progress(0.5, "epoch 2/4")
        deadline = time.time() + 30
        while time.time() < deadline and "written again" not in caplog.text:
            time.sleep(0.2)
        time.sleep(0.5)
    state = triggers.status("1")["1"]
    assert state["state"] == "running" and state["progress"] == 0.5 and state["message"] == "epoch 2/4"
    assert "written again" in caplog.text
