"""Lead times from Label Studio's webhooks reach the cost model, in-process (files) and through real Redis."""

from __future__ import annotations

import copy

import pytest
import redis

from bench.corpus import LABEL_CONFIG, make_tasks
from infra.lead_times import AnnotationTimes, observation
from store.local import LocalStore
from tests.support.paths import fixture
from text.words import split_words
from uncertainty.cost import MIN_TIMED


def timed_webhook(task: dict, seconds) -> dict:
    body = copy.deepcopy(fixture("webhook_ANNOTATION_CREATED")["body"])
    body["project"]["label_config"] = LABEL_CONFIG
    body["task"] = {"id": task["id"], "data": task["data"]}
    body["annotation"] = {**task["annotations"][0], "task": task["id"], "was_cancelled": False, "lead_time": seconds}
    return body


def test_only_real_lead_times_are_observations():
    assert observation(12, {"lead_time": 31.5}) == (12, 31.5)
    for annotation in (
        {"lead_time": None},
        {"lead_time": 0},
        {"lead_time": "5"},
        {"lead_time": True},
        {"lead_time": 9.0, "was_cancelled": True},
        None,
    ):
        assert observation(12, annotation) is None
    assert observation(0, {"lead_time": 4.0}) is None


def test_webhook_lead_times_make_cost_aware_selection_use_a_fitted_cost(make_client, rule_model_dir):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, START_TRAINING_EACH_N_UPDATES=0)
    client.post("/setup", json={"project": "1.1795511008", "schema": LABEL_CONFIG})
    tasks = make_tasks(MIN_TIMED + 5, seed=9)
    for i, task in enumerate(tasks):
        words = len(split_words(task["data"]["text"]))
        seconds = None if i < 5 else 4.0 + 0.8 * words  # the first 5 made by the SDK: no lead time
        assert client.post("/webhook", json=timed_webhook(task, seconds)).status_code in (200, 201)
    pool = [{"id": 100 + i, "data": {"text": t}} for i, t in enumerate(["Angela maybe", "maybe perhaps in Paris"])]
    body = client.post(
        "/select_samples",
        json={"project_id": 1, "tasks": pool, "label_config": LABEL_CONFIG, "cost_aware": True, "limit": 2},
    ).json
    assert (
        body["cost"]["observations"] == MIN_TIMED and body["cost"]["source"] == f"lead times of {MIN_TIMED} annotations"
    )
    assert body["cost"]["b"] == pytest.approx(0.8, abs=0.05) and body["cost"]["a"] == pytest.approx(4.0, abs=0.5)


def test_redis_keeps_observations_for_every_process_and_caps_them(tmp_path):
    client = redis.Redis(host="127.0.0.1", port=6379)  # as the service connects: replies are bytes
    client.delete("nerb:lead_times:77")
    store = LocalStore(str(tmp_path))
    writer, reader = AnnotationTimes(store, client), AnnotationTimes(LocalStore(str(tmp_path / "other")), client)
    for words in range(1, 6):
        writer.record("77", words, 2.0 * words)
    assert reader.observations("77") == ([1, 2, 3, 4, 5], [2.0, 4.0, 6.0, 8.0, 10.0])
    client.delete("nerb:lead_times:77")


def test_an_unreachable_redis_loses_the_timing_not_the_webhook(tmp_path, caplog):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, decode_responses=True)
    times = AnnotationTimes(LocalStore(str(tmp_path)), dead)
    times.record("3", 10, 20.0)  # logged, not raised
    assert times.observations("3") == ([], []) and "lead time" in caplog.text
