"""Fault injection: a training worker killed mid-job, Redis going away, Label Studio failing, a model write cut off.

Each test runs the real processes (gunicorn, `rq worker`, a private redis-server, a Label Studio stand-in) and
checks what the service promises: the served model is never damaged, failures show up in /train_status with
their reason, and the next trigger works again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import requests

from bench.corpus import LABEL_CONFIG, make_tasks
from bench.servers import free_port, start_gunicorn
from tests.support.bodies import annotation_webhook, predict_body, start_training_webhook
from tests.support.jobs import job_state, wait_job_state
from tests.support.paths import REPO
from tests.support.redis_server import rq_worker
from tests.support.rule_model import save_rule_version
from tests.support.serving import results_once_serving
from tests.support.slow_http import FailingServer

pytestmark = pytest.mark.slow
SETUP = {"project": "1.1795511008", "schema": LABEL_CONFIG}


def assert_store_intact(models, url: str) -> str:
    """Every stored version is complete and loadable, and /predict serves the deployed one; returns its name."""
    from transformers import AutoModelForTokenClassification

    from store.local import LocalStore

    store = LocalStore(models)
    listed = {v.name for v in store.versions(1)}
    on_disk = [p for p in (models / "1" / "versions").iterdir() if not p.name.startswith(".")]
    for folder in on_disk:  # a version folder only ever appears complete (it is renamed into place)
        assert (folder / "meta.json").is_file(), f"{folder.name} has no meta.json"
        assert folder.name in listed
        AutoModelForTokenClassification.from_pretrained(folder)
    for leftover in (models / "1" / "versions").glob(".incoming-*"):
        assert leftover.name not in listed
    deployed = store.deployed(1)
    assert deployed in listed and (models / "1" / "versions" / deployed / "meta.json").is_file()
    answer = requests.post(url + "/predict", json=predict_body(), timeout=30)
    assert answer.status_code == 200, answer.text
    served = results_once_serving(
        lambda: requests.post(url + "/predict", json=predict_body(), timeout=30).json(), deployed
    )  # a version deployed meanwhile is loaded in the background
    assert served[0]["model_version"] == deployed
    return deployed


def kill_worker(worker) -> None:
    """SIGKILL the rq worker's process group and its work horse's (RQ puts the horse in a session of its own)."""
    import psutil

    groups = {os.getpgid(worker.proc.pid)}
    for child in psutil.Process(worker.proc.pid).children(recursive=True):
        try:
            groups.add(os.getpgid(child.pid))
        except ProcessLookupError:
            pass
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    worker.proc.wait(timeout=10)
    worker.log.close()


def test_worker_killed_mid_training_ten_times(tmp_path, private_redis, rule_model_dir):
    models = tmp_path / "models"
    env = dict(
        MODEL_DIR=models,
        REDIS_URL=private_redis.url,
        JOB_HEARTBEAT_TIMEOUT=5,
        BASELINE_MODEL_NAME=rule_model_dir,
        START_TRAINING_EACH_N_UPDATES=0,
        DEPLOY_POLICY="always",
        NUM_TRAIN_EPOCHS=1,
        MIN_TRAIN_STEPS=150,
        BATCH_SIZE=16,
        LOG_LEVEL="WARNING",
        OMP_NUM_THREADS=1,
    )
    proc, url = start_gunicorn(tmp_path, workers=1, threads=4, **env)
    worker = rq_worker(private_redis.url, tmp_path / "worker-0.log", **env)
    kills, late = [], []
    try:
        assert requests.post(url + "/setup", json=SETUP, timeout=10).status_code == 200
        for task in make_tasks(16, seed=11):
            assert requests.post(url + "/webhook", json=annotation_webhook(task), timeout=5).status_code == 201
        assert requests.post(url + "/webhook", json=start_training_webhook(), timeout=5).json()["status"] == "queued"
        first = wait_job_state(url, lambda s: s.get("state") in ("finished", "failed"), timeout=240)
        assert first["state"] == "finished" and first["deployed"], (first, worker.tail())
        good = assert_store_intact(models, url)
        print(f"first job: {first['duration_s']}s")

        for cycle in range(10):
            runs = job_state(url)["runs"]
            answer = requests.post(url + "/webhook", json=start_training_webhook(), timeout=5)
            assert answer.status_code == 201 and answer.json()["status"] == "queued", answer.text
            at = 0.06 + 0.03 * cycle  # kill at different points: loading, scoring, fine-tuning (6% .. 33%)
            state = wait_job_state(
                url,
                lambda s: (
                    s.get("state") == "running" and s.get("runs") == runs + 1 and float(s.get("progress") or 0) >= at
                ),
                timeout=120,
                poll=0.05,
            )
            kill_worker(worker)
            kills.append((round(float(state["progress"]), 3), round(time.time() - float(state["started_at"]), 1)))
            worker = rq_worker(private_redis.url, tmp_path / f"worker-{cycle + 1}.log", **env)
            served = assert_store_intact(models, url)  # every version loads, the pointer names a complete one
            lost = wait_job_state(url, lambda s: s.get("state") != "running", timeout=30, poll=0.25)
            assert lost["state"] == "failed" and "worker lost" in lost["error"], lost
            assert assert_store_intact(models, url) == served
            if served != good:  # progress is written at most once a second: the kill came after the deploy
                late.append(cycle)
                good = served
        assert len(late) <= 5, f"kills after the deploy in cycles {late}: the test no longer kills mid-training"

        answer = requests.post(url + "/webhook", json=start_training_webhook(), timeout=5)
        assert answer.json()["status"] == "queued", answer.text
        final = wait_job_state(
            url, lambda s: s.get("state") in ("finished", "failed") and s.get("runs") == 12, timeout=240
        )
        assert final["state"] == "finished", (final, worker.tail())
        assert final["version"] != good and assert_store_intact(models, url) == final["version"]
        print(f"killed the worker at progress {kills}; then trained {final['version']}")
    finally:
        worker.stop()
        proc.stop()


def test_redis_stopped_and_back(tmp_path, private_redis, rule_model_dir):
    env = dict(
        MODEL_DIR=tmp_path / "models",
        REDIS_URL=private_redis.url,
        BASELINE_MODEL_NAME=rule_model_dir,
        START_TRAINING_EACH_N_UPDATES=100,
        LOG_LEVEL="WARNING",
    )
    proc, url = start_gunicorn(tmp_path, workers=1, threads=4, **env)
    tasks = make_tasks(3, seed=2)
    try:
        assert requests.post(url + "/setup", json=SETUP, timeout=10).status_code == 200
        assert (
            requests.post(url + "/webhook", json=annotation_webhook(tasks[0], annotated=1), timeout=5).status_code
            == 201
        )
        private_redis.stop()

        answers = [requests.post(url + "/predict", json=predict_body(), timeout=10) for _ in range(50)]
        assert [a.status_code for a in answers] == [200] * 50
        for action in ("ANNOTATION_CREATED", "START_TRAINING"):
            body = annotation_webhook(tasks[1], annotated=2) if action != "START_TRAINING" else start_training_webhook()
            started = time.perf_counter()
            answer = requests.post(url + "/webhook", json=body, timeout=5)
            took = time.perf_counter() - started
            assert answer.status_code == 503 and "Redis" in answer.json()["error"], answer.text
            assert took < 1.0, took
        assert requests.get(url + "/health", timeout=5).status_code == 200
        status = requests.get(url + "/train_status", timeout=5)
        assert status.status_code == 200 and "Redis" in status.json()["error"]

        private_redis.start()  # same port, empty: the counter is gone
        answer = requests.post(url + "/webhook", json=annotation_webhook(tasks[2], annotated=7), timeout=5)
        assert answer.status_code == 201 and answer.json()["status"] == "counted", answer.text
        # Label Studio says 7 tasks have annotations and no version was trained: 7 are waiting
        assert job_state(url)["annotations_since_last_job"] == 7
        assert requests.post(url + "/webhook", json=start_training_webhook(), timeout=5).json()["status"] == "queued"
    finally:
        proc.stop()


def test_redis_hanging_gets_a_fast_503(tmp_path, private_redis, rule_model_dir):
    """A Redis that accepts connections but never answers (SIGSTOP) must not hang the webhook past 1 s."""
    env = dict(
        MODEL_DIR=tmp_path / "models",
        REDIS_URL=private_redis.url,
        BASELINE_MODEL_NAME=rule_model_dir,
        START_TRAINING_EACH_N_UPDATES=100,
        LOG_LEVEL="WARNING",
    )
    proc, url = start_gunicorn(tmp_path, workers=1, threads=4, **env)
    os.kill(private_redis.proc.proc.pid, signal.SIGSTOP)
    try:
        started = time.perf_counter()
        answer = requests.post(url + "/webhook", json=start_training_webhook(), timeout=10)
        took = time.perf_counter() - started
        assert answer.status_code == 503 and "Redis" in answer.json()["error"], answer.text
        assert requests.post(url + "/predict", json=predict_body(), timeout=10).status_code == 200
        print(f"webhook with a hanging Redis answered 503 in {took:.2f}s")
        assert took < 1.0, f"the webhook took {took:.2f}s with a hanging Redis (Label Studio gives up after 1 s)"
    finally:
        os.kill(private_redis.proc.proc.pid, signal.SIGCONT)
        proc.stop()


class _Timed(list):
    """FailingServer's request list, with the arrival time of each request."""

    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def append(self, item):
        self.times.append(time.monotonic())
        super().append(item)


@pytest.mark.parametrize("failure", ["401", "500", "unreachable"])
def test_label_studio_failing_during_a_job(failure, make_client, rule_model_dir):
    server = None
    if failure == "unreachable":
        host = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    else:
        server = FailingServer(delay=0.0, status=int(failure))
        server.requests = _Timed()
        host = server.url
    client = make_client(
        BASELINE_MODEL_NAME=rule_model_dir,
        LABEL_STUDIO_HOST=host,
        LABEL_STUDIO_API_KEY="f" * 40,
        LABEL_STUDIO_RETRIES=2,
        LABEL_STUDIO_RETRY_DELAY=0.2,
        START_TRAINING_EACH_N_UPDATES=0,
    )
    try:
        before = client.post("/predict", json=predict_body()).json["results"][0]
        expected = {"401": "refused the API key (401)", "500": "answered 500", "unreachable": "unreachable"}[failure]
        for run in (1, 2):  # the next trigger tries again, from scratch
            assert client.post("/webhook", json=start_training_webhook()).json["status"] == "queued"
            deadline = time.time() + 30
            while time.time() < deadline:
                state = client.get("/train_status?project=1").json["jobs"]["1"]
                if state["state"] == "failed" and state.get("runs") == run:
                    break
                time.sleep(0.05)
            assert state["state"] == "failed" and expected in state["error"], state
            if failure == "401":  # a refused key is not retried: waiting would not make it valid
                assert len(server.requests) == run, server.requests
                continue
            assert state["duration_s"] >= 0.6 - 0.1  # waited 0.2 s, then 0.4 s, before giving up
            if server is not None:
                assert len(server.requests) == 3 * run, server.requests  # 1 attempt + 2 retries per job
                t = server.requests.times[-3:]
                first_gap, second_gap = t[1] - t[0], t[2] - t[1]
                assert 0.2 <= first_gap < second_gap and second_gap >= 0.4, (first_gap, second_gap)
        after = client.post("/predict", json=predict_body()).json["results"][0]
        assert after == before  # the served model did not change
    finally:
        if server is not None:
            server.close()


INTERRUPTED_SAVE = textwrap.dedent("""
    import os, shutil, signal, sys
    from pathlib import Path
    from store.local import LocalStore
    source, root = Path(sys.argv[1]), sys.argv[2]
    files = sorted(source.iterdir())

    def write(directory):
        for f in files[: len(files) // 2]:
            shutil.copy2(f, directory / f.name)
        os.kill(os.getpid(), signal.SIGKILL)  # the power goes out half-way through the write

    LocalStore(root).save(1, 99, write, {"labels": ["PER"]})
""")


def test_model_write_interrupted(tmp_path, make_client, rule_model_dir):
    from store.local import LocalStore

    models = tmp_path / "models"
    store = LocalStore(models)
    good = save_rule_version(store, rule_model_dir)
    store.deploy(1, good.name)
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir)
    assert client.post("/predict", json=predict_body()).json["results"][0]["model_version"] == good.name

    for attempt in range(3):
        done = subprocess.run(
            [sys.executable, "-c", INTERRUPTED_SAVE, str(rule_model_dir), str(models)],
            cwd=REPO,
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    leftovers = list((models / "1" / "versions").glob(".incoming-*"))
    assert len(leftovers) == 3 and all(any(p.iterdir()) for p in leftovers)  # half-written folders are there...
    assert [v.name for v in store.versions(1)] == [good.name]  # ...but never listed as versions
    assert store.deployed(1) == good.name
    assert client.get("/versions").json["projects"] == {"1": [good.name]}
    answer = client.post("/predict", json=predict_body())
    assert answer.status_code == 200 and answer.json["results"][0]["model_version"] == good.name
    assert answer.json["results"][0]["result"], "the previous version still predicts entities"

    later = save_rule_version(store, rule_model_dir, annotations=2)  # the next save works and gets the next number
    assert later.name == "p1-v2-n2" and [v.name for v in store.versions(1)] == [good.name, later.name]
    store.deploy(1, later.name)  # loaded in the background while the previous version answers
    served = results_once_serving(lambda: client.post("/predict", json=predict_body()).json, later.name)
    assert served[0]["model_version"] == later.name
    assert len(list((models / "1" / "versions").glob(".incoming-*"))) == 3  # recent leftovers: pruned after 1 h
