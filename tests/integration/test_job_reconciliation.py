"""Job state against what RQ and Redis really do: a job RQ lost, a worker without REDIS_URL, Redis restarted under
a running job, and a live job declared lost while its replacement runs. Real Redis (a private redis-server),
real `rq worker` processes, the web app in-process, tiny trainings of the rule model on webhook-delivered
annotations (no Label Studio).
"""

from __future__ import annotations

import os
import signal
import time

import psutil
from rq import Queue
from rq.command import send_stop_job_command
from rq.job import Job, JobStatus

from bench.corpus import LABEL_CONFIG, make_tasks
from bench.servers import Process
from infra.dispatch import ENQUEUE_GRACE_S
from infra.job_state import RedisJobState
from infra.rq_queue import QUEUE_NAME, RQQueue
from store.local import LocalStore
from tests.support.bodies import annotation_webhook, start_training_webhook
from tests.support.jobs import job, wait_job
from tests.support.redis_server import rq_worker

SETUP = {"project": "1.1795511008", "schema": LABEL_CONFIG}


def settings_env(tmp_path, rule_model_dir, **overrides) -> dict:
    """A tiny training (the rule model, a few steps) that always deploys; no Label Studio, so jobs train on the
    annotations the webhooks delivered."""
    return {
        **dict(
            MODEL_DIR=tmp_path / "models",
            BASELINE_MODEL_NAME=rule_model_dir,
            START_TRAINING_EACH_N_UPDATES=0,
            DEPLOY_POLICY="always",
            NUM_TRAIN_EPOCHS=1,
            MIN_TRAIN_STEPS=5,
            BATCH_SIZE=16,
            LOG_LEVEL="INFO",
            JOB_HEARTBEAT_TIMEOUT=5,
            OMP_NUM_THREADS=1,
        ),
        **overrides,
    }


def annotate(client, tasks: int = 8) -> None:
    assert client.post("/setup", json=SETUP).status_code == 200
    for task in make_tasks(tasks, seed=5):
        assert client.post("/webhook", json=annotation_webhook(task)).status_code == 201


def start_training(client) -> str:
    answer = client.post("/webhook", json=start_training_webhook())
    assert answer.status_code == 201, answer.json
    return answer.json["status"]


def test_a_job_rq_no_longer_holds_stops_being_queued_and_a_worker_without_redis_url_trains_the_next(
    tmp_path, private_redis, make_client, rule_model_dir
):
    env = settings_env(tmp_path, rule_model_dir)
    client = make_client(REDIS_URL=private_redis.url, **env)
    annotate(client)
    assert job(client)["annotations_since_last_job"] == 8  # START_TRAINING_EACH_N_UPDATES=0: counted, never fired
    assert start_training(client) == "queued"
    queued = job(client)
    assert queued["state"] == "queued" and Job.fetch(queued["job_id"], connection=private_redis.client())
    assert queued["annotations_since_last_job"] == 0  # the job takes them: the count starts again
    assert start_training(client) == "already queued"

    Queue(QUEUE_NAME, connection=private_redis.client()).empty()  # what `rq empty ner-training` does
    emptied = time.time()
    lost = wait_job(client, lambda s: s.get("state") != "queued", timeout=ENQUEUE_GRACE_S + 5)
    assert time.time() - emptied <= ENQUEUE_GRACE_S + 5
    assert lost["state"] == "failed" and "no longer exists" in lost["error"], lost

    worker = rq_worker(private_redis.url, tmp_path / "worker.log", with_redis_url=False, **env)
    try:
        assert start_training(client) == "queued"
        done = wait_job(client, lambda s: s.get("state") in ("finished", "failed"), timeout=240, describe=worker.tail)
        assert done["state"] == "finished" and done["deployed"], (done, worker.tail())
        assert done["runs"] == 1 and done["generation"] > 0
    finally:
        worker.stop()


def test_a_job_a_worker_took_but_never_started_is_lost_after_job_queued_timeout(
    tmp_path, private_redis, make_client, rule_model_dir
):
    """The worker took the job from the queue and died before the job ran its first line (RQ says started)."""
    client = make_client(REDIS_URL=private_redis.url, JOB_QUEUED_TIMEOUT=2, **settings_env(tmp_path, rule_model_dir))
    annotate(client, tasks=2)
    assert start_training(client) == "queued"
    taken = Job.fetch(job(client)["job_id"], connection=private_redis.client())
    Queue(QUEUE_NAME, connection=private_redis.client()).remove(taken)
    taken.set_status(JobStatus.STARTED)
    assert job(client)["state"] == "queued"  # within the bound, RQ's word is taken
    lost = wait_job(client, lambda s: s.get("state") != "queued", timeout=10)
    assert lost["state"] == "failed" and "JOB_QUEUED_TIMEOUT=2s" in lost["error"], lost
    assert start_training(client) == "queued"  # the next trigger enqueues again
    assert RQQueue(private_redis.client()).whereabouts(job(client)["job_id"])[0] == "waiting"


def test_redis_restarted_empty_under_a_running_job_the_job_finishes_and_status_says_so(
    tmp_path, private_redis, make_client, rule_model_dir
):
    env = settings_env(tmp_path, rule_model_dir, MIN_TRAIN_STEPS=150)
    client = make_client(REDIS_URL=private_redis.url, **env)
    annotate(client)
    worker = rq_worker(private_redis.url, tmp_path / "worker.log", with_redis_url=False, **env)
    try:
        assert start_training(client) == "queued"
        running = wait_job(
            client,
            lambda s: s.get("state") == "running" and float(s.get("progress") or 0) > 0.05,
            timeout=120,
            describe=worker.tail,
        )
        private_redis.stop()
        time.sleep(3)
        private_redis.start()  # same port, empty: the job state and the generation counter are gone
        done = wait_job(client, lambda s: s.get("state") in ("finished", "failed"), timeout=240, describe=worker.tail)
        assert done["state"] == "finished" and done["deployed"], (done, worker.tail())
        assert done["job_id"] == running["job_id"]
        deployed = (tmp_path / "models" / "1" / "deployed.json").read_text()
        assert done["version"] in deployed
        assert start_training(client) == "queued"  # and the next trigger is taken
    finally:
        worker.stop()


def horse_of(worker: Process) -> psutil.Process:
    """The work horse RQ forked for the running job."""
    deadline = time.time() + 30
    while time.time() < deadline:
        children = psutil.Process(worker.proc.pid).children(recursive=True)
        if children:
            return children[0]
        time.sleep(0.1)
    raise AssertionError(f"no work horse:\n{worker.tail()}")


def test_a_live_job_declared_lost_does_not_deploy_over_its_replacement(
    tmp_path, private_redis, make_client, rule_model_dir
):
    env = settings_env(tmp_path, rule_model_dir)
    client = make_client(REDIS_URL=private_redis.url, **env)
    annotate(client)
    old_worker = rq_worker(
        private_redis.url, tmp_path / "old.log", with_redis_url=False, **{**env, "MIN_TRAIN_STEPS": 60}
    )
    new_worker = None
    try:
        assert start_training(client) == "queued"
        old = wait_job(
            client,
            lambda s: s.get("state") == "running" and float(s.get("progress") or 0) > 0.05,
            timeout=120,
            describe=old_worker.tail,
        )
        horse = horse_of(old_worker)
        os.kill(horse.pid, signal.SIGSTOP)  # alive, but silent: no heartbeat
        try:
            wait_job(client, lambda s: s.get("state") != "running", timeout=30)  # declared lost
            assert start_training(client) == "queued"
            new_worker = rq_worker(private_redis.url, tmp_path / "new.log", with_redis_url=False, **env)
            new = wait_job(
                client,
                lambda s: s.get("state") in ("finished", "failed") and s.get("runs", 0) >= 2,
                timeout=240,
                describe=new_worker.tail,
            )
            assert new["state"] == "finished" and new["deployed"], (new, new_worker.tail())
            assert new["generation"] > old["generation"]
        finally:
            os.kill(horse.pid, signal.SIGCONT)  # the old job wakes up and finishes its training

        old_job = Job.fetch(old["job_id"], connection=private_redis.client())
        deadline = time.time() + 240
        while old_job.get_status() != JobStatus.FINISHED and time.time() < deadline:
            time.sleep(0.5)
        outcome = old_job.return_value()
        assert outcome and outcome["deployed"] is False, (outcome, old_worker.tail())
        assert "newer job" in outcome["reason"], outcome
        store = LocalStore(tmp_path / "models")
        assert store.deployed(1) == new["version"] != outcome["version"]
        saved = store.get(1, outcome["version"])  # saved, not deployed, and its meta.json says so
        assert saved.meta["deployed"] is False and "newer job" in saved.meta["reason"]
        after = job(client)
        assert after["job_id"] == new["job_id"] and after["state"] == "finished"  # the old job wrote nothing
    finally:
        old_worker.stop()
        if new_worker is not None:
            new_worker.stop()


def test_redis_paused_past_the_heartbeat_timeout_status_recovers_and_the_newest_data_is_deployed_last(
    tmp_path, private_redis, make_client, rule_model_dir
):
    env = settings_env(tmp_path, rule_model_dir, MIN_TRAIN_STEPS=150)
    client = make_client(REDIS_URL=private_redis.url, **env)
    annotate(client)
    worker = rq_worker(private_redis.url, tmp_path / "worker.log", with_redis_url=False, **env)
    try:
        assert start_training(client) == "queued"
        wait_job(
            client,
            lambda s: s.get("state") == "running" and float(s.get("progress") or 0) > 0.05,
            timeout=120,
            describe=worker.tail,
        )
        os.kill(private_redis.proc.proc.pid, signal.SIGSTOP)
        try:
            started = time.perf_counter()
            paused = client.get("/train_status?project=1")
            assert "Redis is unavailable" in paused.json["error"] and time.perf_counter() - started < 5
            time.sleep(7)  # past JOB_HEARTBEAT_TIMEOUT=5
        finally:
            os.kill(private_redis.proc.proc.pid, signal.SIGCONT)
        # A trigger right away: it may find the heartbeat stale (the job is declared lost and a new one queued)
        # or already refreshed (a follow-up); either way status names a live job, never a wedged one.
        assert start_training(client) in ("queued", "follow-up queued")
        assert job(client)["state"] in ("queued", "running")
        done = wait_job(
            client,
            lambda s: s.get("state") in ("finished", "failed") and not s.get("followup"),
            timeout=300,
            describe=worker.tail,
        )
        assert done["state"] == "finished", (done, worker.tail())
        store = LocalStore(tmp_path / "models")
        assert store.deployed(1) == store.versions(1)[-1].name  # the newest version was deployed last
    finally:
        worker.stop()


def raw_state(private_redis, project: str = "1") -> dict:
    """The job state as stored, without /train_status consulting RQ (which would settle it on its own)."""
    return RedisJobState(private_redis.client()).status(project).get(project, {})


def wait_raw(private_redis, predicate, timeout: float, describe=lambda: "") -> dict:
    deadline = time.time() + timeout
    while not predicate(state := raw_state(private_redis)) and time.time() < deadline:
        time.sleep(0.1)
    assert predicate(state), (state, describe())
    return state


def test_a_job_that_raises_in_its_worker_is_marked_failed_by_rqs_failure_callback(
    tmp_path, private_redis, make_client, rule_model_dir
):
    env = settings_env(tmp_path, rule_model_dir)
    client = make_client(REDIS_URL=private_redis.url, **env)
    annotate(client, tasks=2)
    assert start_training(client) == "queued"
    queued = raw_state(private_redis)
    # The worker's own environment is broken: run_job raises before the job body can record anything.
    worker = rq_worker(
        private_redis.url, tmp_path / "worker.log", with_redis_url=False, burst=True, **{**env, "LEARNING_RATE": "fast"}
    )
    try:
        failed = wait_raw(private_redis, lambda s: s.get("state") == "failed", timeout=60, describe=worker.tail)
    finally:
        worker.stop()
    assert failed["job_id"] == queued["job_id"]
    assert "SettingsError" in failed["error"] and "LEARNING_RATE" in failed["error"], failed
    assert start_training(client) == "queued"  # and the next trigger is taken


def test_a_job_stopped_in_rq_is_marked_failed_by_rqs_stopped_callback(
    tmp_path, private_redis, make_client, rule_model_dir
):
    env = settings_env(tmp_path, rule_model_dir, MIN_TRAIN_STEPS=2000)
    client = make_client(REDIS_URL=private_redis.url, **env)
    annotate(client)
    worker = rq_worker(private_redis.url, tmp_path / "worker.log", with_redis_url=False, **env)
    try:
        assert start_training(client) == "queued"
        running = wait_raw(private_redis, lambda s: s.get("state") == "running", timeout=120, describe=worker.tail)
        send_stop_job_command(private_redis.client(), running["job_id"])  # what `rq` stop-job does
        stopped = wait_raw(private_redis, lambda s: s.get("state") != "running", timeout=30, describe=worker.tail)
        assert stopped["state"] == "failed" and "stopped" in stopped["error"], stopped
        assert stopped["job_id"] == running["job_id"]
        assert start_training(client) == "queued"
    finally:
        worker.stop()
