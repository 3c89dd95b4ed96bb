"""`gunicorn _wsgi:app` serves Label Studio's requests, and /health stays fast while predictions run."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from bench.servers import start_gunicorn
from tests.support.paths import fixture
from tests.support.predictions import check_predictions


@pytest.fixture
def served(tmp_path, rule_model_dir):
    proc, url = start_gunicorn(
        tmp_path,
        workers=1,
        threads=4,
        MODEL_DIR=tmp_path / "models",
        BASELINE_MODEL_NAME=rule_model_dir,
        MAX_SEQUENCE_LENGTH=64,
    )
    yield url
    proc.stop()


def test_gunicorn_serves_setup_and_predict(served):
    assert requests.post(served + "/setup", json=fixture("setup")["body"], timeout=3).json()["model_version"]
    body = fixture("predict_retrieve_action")["body"]
    results = requests.post(served + "/predict", json=body, timeout=60).json()["results"]
    assert len(results) == 2 and results[0]["result"]
    check_predictions(body["label_config"], results)


def test_health_answers_within_a_second_while_a_big_predict_runs(served):
    body = fixture("predict_retrieve_action")["body"]
    body["tasks"] = [
        {"id": i, "data": {"text": "Angela Merkel visited the Sony offices in Tokyo. " * 20}} for i in range(300)
    ]
    requests.post(served + "/setup", json=fixture("setup")["body"], timeout=3)
    done = {}
    worker = threading.Thread(
        target=lambda: done.setdefault("r", requests.post(served + "/predict", json=body, timeout=300))
    )
    worker.start()
    time.sleep(0.5)
    slowest = 0.0
    while worker.is_alive():
        started = time.perf_counter()
        assert requests.get(served + "/health", timeout=5).status_code == 200
        slowest = max(slowest, time.perf_counter() - started)
        time.sleep(0.2)
    worker.join()
    assert len(done["r"].json()["results"]) == 300
    check_predictions(body["label_config"], done["r"].json()["results"])
    assert slowest < 1.0, f"/health took {slowest:.2f}s during a predict (Label Studio gives up after 1 s)"


@pytest.mark.parametrize("workers, override", [(2, ""), (1, "3")])
def test_each_worker_takes_its_share_of_the_cores_or_torch_threads(tmp_path, rule_model_dir, workers, override):
    from modeling.threads import available_cores

    proc, url = start_gunicorn(
        tmp_path,
        workers=workers,
        threads=2,
        MODEL_DIR=tmp_path / "models",
        BASELINE_MODEL_NAME=rule_model_dir,
        TORCH_THREADS=override,
    )
    try:
        expected = int(override) if override else max(1, available_cores() // workers)
        seen = {requests.get(url + "/health", timeout=5).json()["torch_threads"] for _ in range(8)}
        assert seen == {expected}, proc.tail()
    finally:
        proc.stop()


def test_concurrent_single_task_predicts_share_passes_and_each_gets_its_own_answer(tmp_path, rule_model_dir):
    proc, url = start_gunicorn(
        tmp_path,
        workers=1,
        threads=8,
        MODEL_DIR=tmp_path / "models",
        BASELINE_MODEL_NAME=rule_model_dir,
        PREDICT_BATCH_WINDOW_MS=50,
        LOG_LEVEL="DEBUG",
    )
    try:
        setup = fixture("setup")["body"]
        requests.post(url + "/setup", json=setup, timeout=10)
        people = ["Angela Merkel", "Tim Cook", "Alice", "Bob"]
        places = ["Berlin", "Tokyo", "Geneva", "Munich", "Paris", "London"]
        texts = [f"{'Yesterday ' * (i % 3)}{people[i % 4]} flew to {places[i % 6]}." for i in range(16)]
        answers: list = [None] * len(texts)
        start = threading.Barrier(8)

        def client(k):
            start.wait()
            for i in range(k, len(texts), 8):
                body = {
                    "tasks": [{"id": i, "data": {"text": texts[i]}}],
                    "label_config": setup["schema"],
                    "project": setup["project"],
                }
                answers[i] = requests.post(url + "/predict", json=body, timeout=60).json()["results"]

        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for i, text in enumerate(texts):
            check_predictions(setup["schema"], answers[i])
            (prediction,) = answers[i]
            got = [(r["value"]["text"], r["value"]["labels"][0]) for r in prediction["result"]]
            assert got == [(people[i % 4], "PER"), (places[i % 6], "LOC")], (i, text, prediction)
            assert all(
                text[r["value"]["start"] : r["value"]["end"]] == r["value"]["text"] for r in prediction["result"]
            )
        assert "one forward pass for" in proc.log_path.read_text(), "no two requests ever shared a pass"
    finally:
        proc.stop()
