"""Label Studio's per-annotation toggle ("Start model training on annotation submission"): Label Studio then sends
Start Training for every annotation, just before the annotation's own webhook. Training still follows
START_TRAINING_EACH_N_UPDATES (`infra.dispatch.start_training_trigger`), and a press of Start Training still starts
a job. The exact bodies Label Studio 1.23.2 sends, real jobs (in-process, and Redis with a real `rq worker`) that
fail fast against a Label Studio stand-in answering 500."""

from __future__ import annotations

import math

import pytest

from bench.corpus import make_tasks
from tests.support.bodies import annotation_with_training_toggle, start_training_press
from tests.support.jobs import job, wait_job
from tests.support.redis_server import rq_worker
from tests.support.slow_http import FailingServer

N = 5  # START_TRAINING_EACH_N_UPDATES
ANNOTATIONS = 30


@pytest.fixture(params=["in-process", "rq"])
def client(request, make_client, rule_model_dir, tmp_path):
    stand_in = FailingServer(delay=0.05, status=500)
    env = dict(
        BASELINE_MODEL_NAME=rule_model_dir,
        START_TRAINING_EACH_N_UPDATES=N,
        LABEL_STUDIO_HOST=stand_in.url,
        LABEL_STUDIO_API_KEY="k" * 40,
        LABEL_STUDIO_RETRIES=0,
    )
    worker = None
    if request.param == "rq":
        private = request.getfixturevalue("private_redis")
        env["REDIS_URL"] = private.url
        worker = rq_worker(private.url, tmp_path / "rq-worker.log", **env)
    try:
        yield make_client(**env)
    finally:
        if worker is not None:
            worker.stop()
        stand_in.close()


def ended(runs: int):
    return lambda s: s.get("runs") == runs and s.get("state") in ("finished", "failed")


def test_with_the_toggle_on_training_follows_every_n_annotations_and_a_press_starts_one_job(client):
    answers, jobs = [], 0
    for i, task in enumerate(make_tasks(ANNOTATIONS, seed=11), start=1):
        start, created = annotation_with_training_toggle(task, annotations=i)
        for body in (start, created):
            response = client.post("/webhook", json=body)
            assert response.status_code == 201, response.json
            answers.append((i, body["action"], response.json["status"]))
        if answers[-1][2] == "queued":
            jobs += 1
            wait_job(client, ended(jobs), timeout=120)  # the job finishes before the next annotation

    assert {a for _, action, a in answers if action == "START_TRAINING"} == {"ignored"}
    queued_at = [i for i, action, a in answers if action == "ANNOTATION_CREATED" and a == "queued"]
    assert queued_at[0] == N  # the first job waits for N annotations
    assert queued_at == list(range(N, ANNOTATIONS + 1, N))
    runs = job(client)["runs"]
    assert runs == len(queued_at) <= math.ceil(ANNOTATIONS / N) + 1

    press = client.post("/webhook", json=start_training_press(annotations=ANNOTATIONS))
    assert press.status_code == 201 and press.json["status"] == "queued", press.json
    assert wait_job(client, ended(runs + 1), timeout=120)["reason"] == "Start Training"


def test_with_the_toggle_off_every_start_training_is_a_press(client):
    assert client.post("/webhook", json=start_training_press(annotations=0, toggle=False)).json["status"] == "queued"
