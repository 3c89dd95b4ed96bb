"""Three "hosts" sharing versions through MLflow's Model Registry (MODEL_STORE=mlflow): web A and web B (gunicorn) and a
training worker C (`rq worker`), each a process of its own with its own MODEL_DIR, one Redis, and a real MLflow
tracking server on PostgreSQL. No Label Studio: jobs train on the annotations webhooks delivered to web A, which
reach worker C through Redis, and the label config through the registry.
"""

from __future__ import annotations

import signal
import time

import pytest
import requests
from mlflow.tracking import MlflowClient

from bench.corpus import LABEL_CONFIG, make_tasks
from bench.servers import Process, start_gunicorn
from store.mlflow_registry import ALIAS, registered_model_name
from tests.support.bodies import annotation_webhook, start_training_webhook
from tests.support.jobs import job_state
from tests.support.redis_server import rq_worker
from tests.support.upload_stall import UploadStallProxy

pytestmark = pytest.mark.slow

POLL = 1.0  # REGISTRY_POLL_INTERVAL of the web servers
TASK = {"id": 9001, "data": {"text": "Marta Kovell flew from Lisbon to Bergen for Norvane Bank."}}


@pytest.fixture
def proxy(mlflow_server):
    stall = UploadStallProxy(mlflow_server.url)
    yield stall
    stall.close()


def host_env(tmp_path, host: str, tracking_uri: str, redis_url: str, rule_model_dir) -> dict:
    """Each host's settings: its own MODEL_DIR; a tiny training (the rule model, a few steps) that always deploys."""
    return dict(
        MODEL_DIR=tmp_path / host,
        MODEL_STORE="mlflow",
        MLFLOW_TRACKING_URI=tracking_uri,
        REDIS_URL=redis_url,
        REGISTRY_POLL_INTERVAL=POLL,
        BASELINE_MODEL_NAME=rule_model_dir,
        START_TRAINING_EACH_N_UPDATES=0,
        DEPLOY_POLICY="always",
        FINAL_FIT="train",
        NUM_TRAIN_EPOCHS=1,
        MIN_TRAIN_STEPS=5,
        BATCH_SIZE=16,
        JOB_HEARTBEAT_TIMEOUT=10,
        OMP_NUM_THREADS=1,
        LOG_LEVEL="INFO",
    )


def predict(url: str, project: str, timeout: float = 30) -> dict:
    body = {"project": f"{project}.1795511008", "label_config": LABEL_CONFIG, "tasks": [TASK]}
    answer = requests.post(url + "/predict", json=body, timeout=timeout)
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]


def served_version(url: str, project: str) -> str:
    return predict(url, project)["model_version"]


def every_worker_serves(url: str, project: str, version: str, answers: int = 8) -> bool:
    """True when `answers` requests in a row are served `version`: a host's gunicorn workers each follow the alias
    on their own timer and load in the background, so one answer speaks for one worker only."""
    return all(served_version(url, project) == version for _ in range(answers))


def wait_for(check, timeout: float, what: str, describe=lambda: ""):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"{what} within {timeout}s (last: {last})\n{describe()}")


def train(url: str, project: str, worker: Process) -> dict:
    """Start Training on `url`; the job runs on the worker host. Returns its finished state."""
    runs = job_state(url, project).get("runs", 0)
    answer = requests.post(url + "/webhook", json=start_training_webhook(int(project)), timeout=30)
    assert answer.status_code == 201, answer.text
    done = wait_for(
        lambda: (lambda s: s if s.get("runs", 0) > runs and s.get("state") in ("finished", "failed") else None)(
            job_state(url, project)
        ),
        240,
        "the job never ended",
        worker.tail,
    )
    assert done["state"] == "finished" and done["deployed"], (done, worker.tail())
    return done


def test_versions_trained_on_one_host_are_served_by_every_web_host_and_survive_failures(
    tmp_path, mlflow_server, proxy, private_redis, rule_model_dir, fresh_project
):
    project = fresh_project
    web_a, url_a = start_gunicorn(
        tmp_path, workers=2, threads=4, **host_env(tmp_path, "a", mlflow_server.url, private_redis.url, rule_model_dir)
    )
    web_b, url_b = start_gunicorn(
        tmp_path, workers=1, threads=4, **host_env(tmp_path, "b", mlflow_server.url, private_redis.url, rule_model_dir)
    )
    worker_env = host_env(tmp_path, "c", proxy.url, private_redis.url, rule_model_dir)
    worker = rq_worker(private_redis.url, tmp_path / "worker-c.log", **worker_env)
    logs = lambda: (
        "\n--- web A\n" + web_a.tail(30) + "\n--- web B\n" + web_b.tail(30) + "\n--- worker C\n" + worker.tail()
    )
    try:
        # annotations arrive on web A only
        setup = {"project": f"{project}.1795511008", "schema": LABEL_CONFIG}
        base = requests.post(url_a + "/setup", json=setup, timeout=30).json()["model_version"]
        assert base.startswith("base-")  # the rule model's own NER head, before any training
        for task in make_tasks(8, seed=5):
            # generous timeout: a process's first request for a project reads the registry once (on a loaded machine)
            sent = requests.post(url_a + "/webhook", json=annotation_webhook(task, project=int(project)), timeout=30)
            assert sent.status_code == 201, sent.text
        assert served_version(url_b, project) == base

        # worker C trains and registers; both webs serve the version on their next requests after the alias timer
        first = train(url_a, project, worker)["version"]
        assert first.startswith(f"p{project}-v1-n8")
        for url in (url_a, url_b):
            wait_for(
                lambda: every_worker_serves(url, project, first), 10 * POLL + 20, f"{url} never served {first}", logs
            )
        second = train(url_b, project, worker)["version"]  # Start Training on B: the same queue, the same worker
        for url in (url_a, url_b):
            wait_for(lambda: every_worker_serves(url, project, second), 10 * POLL + 20, f"{url} never served {second}")
        assert requests.get(url_b + "/versions", timeout=10).json()["projects"][project] == [first, second]

        # a rollback through web B is served by web A
        rollback = requests.post(url_b + "/deploy", json={"project_id": int(project), "version": first}, timeout=30)
        assert rollback.status_code == 200, rollback.text
        # web B loads the version in the background (the old one answers meanwhile), web A after its alias timer
        wait_for(lambda: every_worker_serves(url_b, project, first), 10 * POLL + 20, "web B never rolled back", logs)
        wait_for(lambda: every_worker_serves(url_a, project, first), 10 * POLL + 20, "web A never rolled back", logs)

        # the worker killed mid-upload: the alias and every served model stay as they were
        proxy.stall_after(2)  # two files of the next version reach the server, then its upload hangs
        requests.post(url_a + "/webhook", json=start_training_webhook(int(project)), timeout=30)
        assert proxy.wait_stalled(240), "the third job never reached its upload\n" + worker.tail()
        worker.stop(signal.SIGKILL)
        registry = MlflowClient(tracking_uri=mlflow_server.url)
        model = registry.get_registered_model(registered_model_name(project))
        assert model.aliases[ALIAS] == "1"
        listed = sorted(int(v.version) for v in registry.search_model_versions(f"name='{model.name}'"))
        assert listed == [1, 2], "a partly uploaded version was registered"
        registered = registry.get_model_version(model.name, "1")
        assert registered.tags["annotations"] == "8" and "PER" in registered.tags["labels"]
        assert "metric.entity_f1" in registered.tags
        run = registry.get_run(registered.run_id)  # one run per job: the version's files and the training's record
        assert "final_entity_f1" in run.data.metrics and run.data.params["annotations"] == "8"
        assert run.data.tags["model_version"] == first
        time.sleep(2 * POLL)
        assert every_worker_serves(url_a, project, first) and every_worker_serves(url_b, project, first)
        assert requests.get(url_a + "/versions", timeout=10).json()["projects"][project] == [first, second]

        # the MLflow server stopped: both webs answer /predict from their caches, /health says the registry is down
        mlflow_server.stop()
        for url in (url_a, url_b):
            wait_for(
                lambda: requests.get(url + "/health", timeout=5).json()["model_store"]["registry"] == "unreachable",
                10 * POLL + 15,
                f"{url}'s /health never said the registry is unreachable",
                logs,
            )
            started = time.perf_counter()
            answer = predict(url, project, timeout=10)
            assert answer["model_version"] == first and "score" in answer
            assert time.perf_counter() - started < 5, "a /predict waited on the stopped registry"
        health = requests.get(url_a + "/health", timeout=5).json()["model_store"]
        assert health["kind"] == "mlflow" and health["error"] and health["serving"]
    finally:
        worker.stop()
        web_a.stop()
        web_b.stop()  # the mlflow_server fixture starts the server again for the next test that needs it
