"""/webhook -> counters -> coalesced training jobs, in-process and with Redis + a real `rq worker`.

Jobs here talk to a Label Studio stand-in that answers 500 after 2 s, so each job runs for a moment and then
fails with that reason: enough to observe counting, coalescing and failure reporting without training.
"""

from __future__ import annotations

import time

import pytest
import redis

from tests.support.jobs import job, wait_job
from tests.support.paths import fixture
from tests.support.redis_server import rq_worker
from tests.support.slow_http import FailingServer

REDIS_DB = 13
N = 3


@pytest.fixture
def stand_in():
    server = FailingServer(delay=2.0, status=500)
    yield server
    server.close()


@pytest.fixture(params=["in-process", "rq"])
def jobs_client(request, make_client, rule_model_dir, stand_in, tmp_path):
    env = dict(
        BASELINE_MODEL_NAME=rule_model_dir,
        START_TRAINING_EACH_N_UPDATES=N,
        LABEL_STUDIO_HOST=stand_in.url,
        LABEL_STUDIO_API_KEY="k" * 40,
        LABEL_STUDIO_RETRIES=0,
        MODEL_DIR=tmp_path / "models",
    )
    if request.param == "in-process":
        yield make_client(**env)
        return
    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    redis.Redis.from_url(url).flushdb()
    env["REDIS_URL"] = url
    worker = rq_worker(url, tmp_path / "rq-worker.log", **env)
    try:
        yield make_client(**env)
    finally:
        worker.stop()
        redis.Redis.from_url(url).flushdb()


def send(client, action="ANNOTATION_CREATED", times=1):
    body = fixture(f"webhook_{action}")["body"]
    body["project"]["num_tasks_with_annotations"] = 0  # nothing waiting from before: counting starts at zero
    answers = []
    for _ in range(times):
        started = time.perf_counter()
        response = client.post("/webhook", json=body)
        assert response.status_code == 201, response.json
        assert time.perf_counter() - started < 1.0
        answers.append(response.json["status"])
    return answers


def test_n_webhooks_make_exactly_one_job_and_a_burst_while_running_one_follow_up(jobs_client):
    client = jobs_client
    assert send(client, times=N - 1) == ["counted"] * (N - 1)
    assert send(client) == ["queued"]
    state = wait_job(client, lambda s: s.get("state") == "failed", timeout=60)
    assert state["runs"] == 1 and "500" in state["error"]

    assert send(client, "START_TRAINING") == ["queued"]
    wait_job(client, lambda s: s.get("state") == "running" and s.get("runs") == 2, timeout=60)
    answers = send(client, times=3 * N)
    assert answers.count("follow-up queued") == 3 and answers.count("counted") == 3 * N - 3
    state = wait_job(client, lambda s: s.get("state") == "failed" and s.get("runs") == 3, timeout=90)
    time.sleep(3)
    assert job(client)["runs"] == 3  # the burst produced one follow-up job, not three


def test_other_events_are_acknowledged_and_ignored(jobs_client):
    for action in ("PROJECT_UPDATED", "TASKS_CREATED"):
        body = fixture(f"webhook_{action}")["body"]
        response = jobs_client.post("/webhook", json=body)
        assert response.status_code == 201 and response.json["status"] == "ignored"


def test_webhook_without_project_is_a_400(jobs_client):
    response = jobs_client.post("/webhook", json={"action": "ANNOTATION_CREATED"})
    assert response.status_code == 400 and "project" in response.json["error"]


def test_in_process_worker_runs_jobs_under_gunicorn_preload(tmp_path, rule_model_dir, stand_in):
    import requests

    from bench.servers import start_gunicorn

    proc, url = start_gunicorn(
        tmp_path,
        workers=1,
        threads=4,
        MODEL_DIR=tmp_path / "models",
        BASELINE_MODEL_NAME=rule_model_dir,
        LABEL_STUDIO_HOST=stand_in.url,
        LABEL_STUDIO_API_KEY="k" * 40,
        LABEL_STUDIO_RETRIES=0,
    )
    try:
        body = fixture("webhook_START_TRAINING")["body"]
        assert requests.post(url + "/webhook", json=body, timeout=2).json()["status"] == "queued"
        deadline = time.time() + 30
        while time.time() < deadline:
            state = requests.get(url + "/train_status?project=1", timeout=2).json()["jobs"]["1"]
            if state["state"] == "failed":
                break
            time.sleep(0.3)
        assert state["state"] == "failed" and state["runs"] == 1 and "500" in state["error"], (state, proc.tail())
    finally:
        proc.stop()
