"""State the release before the layered folders wrote (tests/fixtures/state-before-layers, see its SOURCE.md) still
loads and serves: its local store, its Redis job state and its annotation mirror, read by today's code; and a new
training job on that state trains and deploys the next version."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from bench.corpus import LABEL_CONFIG, make_tasks
from infra.annotation_mirror import AnnotationMirror
from infra.lead_times import AnnotationTimes
from store.local import LocalStore
from tests.support.bodies import PROJECT, start_training_webhook
from tests.support.jobs import job, wait_job
from tests.support.paths import REPO
from tests.support.redis_server import rq_worker

STATE = REPO / "tests" / "fixtures" / "state-before-layers"


@pytest.fixture
def state(tmp_path, private_redis) -> Path:
    """The archive unpacked into tmp_path, and its Redis keys written into the private Redis."""
    with tarfile.open(STATE / "state.tgz") as archive:
        archive.extractall(tmp_path / "state", filter="data")
    restore_redis(private_redis.client(), json.loads((tmp_path / "state" / "redis.json").read_text()))
    return tmp_path / "state"


def restore_redis(client, keys: dict) -> None:
    """Write back {key: {type, value}} as redis.json holds it (lists in Redis's order, head first)."""
    for key, entry in keys.items():
        kind, value = entry["type"], entry["value"]
        if kind == "string":
            client.set(key, value)
        elif kind == "hash":
            client.hset(key, mapping=value)
        elif kind == "list":
            client.rpush(key, *value)
        elif kind == "set":
            client.sadd(key, *value)
        else:
            raise AssertionError(f"{key}: a {kind} in redis.json")


def settings_env(state: Path, redis_url: str, rule_model_dir, **overrides) -> dict:
    return dict(MODEL_DIR=state / "models", REDIS_URL=redis_url, BASELINE_MODEL_NAME=rule_model_dir, **overrides)


def predict_request() -> dict:
    """The request predict-fresh.json answers: the first four tasks of the annotated set (SOURCE.md)."""
    tasks = [{"id": 1, "data": {"text": task["data"]["text"]}} for task in make_tasks(8, seed=5)[:4]]
    return {"tasks": tasks, "project": PROJECT, "label_config": LABEL_CONFIG}


def test_the_previous_release_state_loads_and_serves(state, private_redis, make_client, rule_model_dir):
    client = make_client(**settings_env(state, private_redis.url, rule_model_dir))

    assert client.get("/versions").json["projects"] == {"1": ["p1-v1-n8", "p1-v2-n8"]}
    assert LocalStore(state / "models").deployed("1") == "p1-v1-n8"  # deployed again by a rollback
    setup = client.post("/setup", json={"project": PROJECT, "schema": LABEL_CONFIG})
    assert setup.status_code == 200 and setup.json["model_version"] == "p1-v1-n8"

    answer = client.post("/predict", json=predict_request())
    assert answer.status_code == 200
    recorded = json.loads((STATE / "predict-fresh.json").read_text())["results"]
    # Same version and regions; scores to 0.01, since float kernels differ between CPUs (the fixture's scores came
    # from another machine than an AMD EPYC, which gives 0.1824 for its 0.1836).
    assert [(r["model_version"], r["result"]) for r in answer.json["results"]] == [
        (r["model_version"], r["result"]) for r in recorded
    ]
    assert [r["score"] for r in answer.json["results"]] == pytest.approx([r["score"] for r in recorded], abs=0.01)

    jobs = client.get("/train_status?project=1").json
    assert jobs["mode"] == "rq"
    finished = jobs["jobs"]["1"]
    assert finished["state"] == "finished" and finished["deployed"] is True
    assert finished["version"] == "p1-v2-n8" and finished["runs"] == 1
    assert finished["job_id"] == "train-p1-00000000000000000000000000000001"
    assert finished["annotations_since_last_job"] == 3  # the annotation counter

    mirrored = AnnotationMirror(LocalStore(state / "models")).tasks(1)
    assert len(mirrored) == 11 and all(task["annotations"] for task in mirrored)
    # Lead times: in Redis when the web has REDIS_URL (oldest first), in the store's file without it.
    assert AnnotationTimes(LocalStore(state / "models"), private_redis.client()).observations("1") == (
        [17, 13, 10],
        [20.0, 21.0, 22.0],
    )
    words, seconds = AnnotationTimes(LocalStore(state / "models")).observations("1")
    assert words == [8, 14, 10, 15, 13, 16, 16, 12] and seconds == [10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0]


def test_a_new_training_job_on_the_previous_release_state_deploys_the_next_version(
    tmp_path, state, private_redis, make_client, rule_model_dir
):
    env = settings_env(
        state,
        private_redis.url,
        rule_model_dir,
        START_TRAINING_EACH_N_UPDATES=0,
        DEPLOY_POLICY="always",
        NUM_TRAIN_EPOCHS=1,
        MIN_TRAIN_STEPS=5,
        BATCH_SIZE=16,
        LOG_LEVEL="INFO",
        OMP_NUM_THREADS=1,
    )
    client = make_client(**env)
    before = job(client)
    answer = client.post("/webhook", json=start_training_webhook())
    assert answer.status_code == 201 and answer.json["status"] == "queued", answer.json

    worker = rq_worker(private_redis.url, tmp_path / "worker.log", **env)
    try:
        done = wait_job(
            client,
            lambda s: s.get("runs", 0) > before["runs"] and s.get("state") in ("finished", "failed"),
            timeout=300,
            poll=0.5,
            describe=worker.tail,
        )
    finally:
        worker.stop()
    assert done["state"] == "finished" and done["deployed"] is True, (done, worker.tail())
    assert done["version"].startswith("p1-v3-"), done
    assert done["generation"] != before["generation"]
    assert LocalStore(state / "models").deployed("1") == done["version"]
    assert client.get("/versions").json["projects"] == {"1": ["p1-v1-n8", "p1-v2-n8", done["version"]]}
