"""A newly deployed version is loaded in the background while the old one answers, then served, without a
restart; the old one stays loadable (rollback)."""

from __future__ import annotations

import shutil
import threading
import time

import modeling.cache
from bench.corpus import LABEL_CONFIG
from modeling.cache import ModelCache
from settings import Settings
from store.local import LocalStore
from store.mlflow_registry import MlflowStore
from tests.support.paths import fixture
from tests.support.rule_model import NER_TAGS, RULES, build_rule_model
from tests.support.serving import results_once_serving
from text.label_config import parse_ner_config


def save_version(store, project, source_dir, annotations):
    def write(directory):
        for f in source_dir.iterdir():
            shutil.copy(f, directory / f.name)

    return store.save(project, annotations, write, {"labels": ["PER", "ORG", "LOC", "MISC"], "tags": NER_TAGS})


def served_after_switch(client, body, version) -> list[dict]:
    return results_once_serving(lambda: client.post("/predict", json=body).json, version)


def test_deployed_version_is_served_once_loaded_and_rollback_works(make_client, tmp_path):
    client = make_client()
    setup = fixture("setup")["body"]
    body = fixture("predict_retrieve_action")["body"]
    assert client.post("/setup", json=setup).json["model_version"] == "untrained"
    assert client.post("/predict", json=body).json["results"][0]["result"] == []

    store = LocalStore(tmp_path / "models")
    v1 = save_version(store, 1, build_rule_model(tmp_path / "m1", NER_TAGS, RULES), 20)
    quiet = {k: ("O" if v.startswith(("B-ORG", "I-ORG")) else v) for k, v in RULES.items()}
    v2 = save_version(store, 1, build_rule_model(tmp_path / "m2", NER_TAGS, quiet), 30)
    store.deploy(1, v1.name)

    assert client.post("/setup", json=setup).json["model_version"] == "p1-v1-n20"
    results = served_after_switch(client, body, "p1-v1-n20")
    assert {r["model_version"] for r in results} == {"p1-v1-n20"}
    assert [r["value"]["text"] for r in results[0]["result"]] == ["Apple", "Tim Cook", "Cupertino"]

    store.deploy(1, v2.name)
    results = served_after_switch(client, body, "p1-v2-n30")
    assert {r["model_version"] for r in results} == {"p1-v2-n30"}
    assert [r["value"]["text"] for r in results[0]["result"]] == ["Tim Cook", "Cupertino"]

    rollback = client.post("/deploy", json={"project_id": 1, "version": v1.name})  # a rollback through the API
    assert rollback.status_code == 200 and rollback.json == {"project_id": 1, "model_version": "p1-v1-n20"}
    assert served_after_switch(client, body, "p1-v1-n20")[0]["model_version"] == "p1-v1-n20"
    assert client.post("/deploy", json={"project_id": 1, "version": "p1-v9-n1"}).status_code == 404
    assert client.post("/deploy", json={"project_id": 1, "version": "../../etc"}).status_code == 404
    assert client.post("/deploy", json={"version": v1.name}).status_code == 400
    bad_project = client.post("/deploy", json={"project_id": "../1", "version": v1.name})
    assert bad_project.status_code == 400 and "project id" in bad_project.json["error"]
    assert client.get("/versions").json["projects"]["1"] == ["p1-v1-n20", "p1-v2-n30"]


def test_a_request_during_a_slow_load_is_answered_by_the_old_version_at_once_then_the_new_one_serves(
    tmp_path, rule_model_dir, monkeypatch
):
    store = LocalStore(tmp_path / "models")
    v1 = save_version(store, 1, rule_model_dir, 10)
    v2 = save_version(store, 1, rule_model_dir, 20)
    store.deploy(1, v1.name)
    models = ModelCache(Settings.from_env({"BASELINE_MODEL_NAME": str(rule_model_dir)}), store)
    config = parse_ner_config(LABEL_CONFIG)
    assert models.get("1", config).version == v1.name

    loads, release = [], threading.Event()
    real_load = modeling.cache.load_saved_model

    def slow_load(path, label_map):  # the edge: reading a checkpoint from disk, made slow at will
        loads.append(path)
        assert release.wait(60), "the test never released the load"
        return real_load(path, label_map)

    monkeypatch.setattr(modeling.cache, "load_saved_model", slow_load)
    store.deploy(1, v2.name)
    started = time.monotonic()
    during = [models.get("1", config) for _ in range(5)]
    assert time.monotonic() - started < 2.0  # nobody waited for the load
    assert {m.version for m in during} == {v1.name}
    assert during[0].predictor.predict(["Alice met Bob"])[0].probs.shape[0] == 3  # the old one really answers
    deadline = time.monotonic() + 10
    while not loads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(loads) == 1 and loads[0].endswith(v2.name)  # one background load, however many requests
    assert models.status()["1"]["model_version"] == v1.name

    release.set()
    deadline = time.monotonic() + 30
    while models.get("1", config).version != v2.name and time.monotonic() < deadline:
        time.sleep(0.02)
    assert models.get("1", config).version == v2.name
    assert len(loads) == 1 and len(models.status()) == 1  # the old version was let go: no second copy is held


def test_the_worker_refresh_waits_for_the_deployed_version(tmp_path, rule_model_dir):
    store = LocalStore(tmp_path / "models")
    v1, v2 = save_version(store, 1, rule_model_dir, 10), save_version(store, 1, rule_model_dir, 20)
    store.deploy(1, v1.name)
    models = ModelCache(Settings.from_env({"BASELINE_MODEL_NAME": str(rule_model_dir)}), store)
    config = parse_ner_config(LABEL_CONFIG)
    models.get("1", config)
    store.deploy(1, v2.name)
    assert models.get("1", config, wait=True).version == v2.name


def test_a_serving_process_loads_a_version_deployed_on_another_host_before_any_request_asks(
    tmp_path, rule_model_dir, mlflow_server, fresh_project
):
    """A gunicorn worker that gets no request after a deploy elsewhere must not be the one that serves the old
    version to the next request: the registry's timer hands the new alias to the model cache, which loads it."""
    worker = MlflowStore(mlflow_server.url, tmp_path / "worker")  # the training host: no timer
    v1 = save_version(worker, fresh_project, rule_model_dir, 10)
    v2 = save_version(worker, fresh_project, rule_model_dir, 20)
    worker.deploy(fresh_project, v1.name)
    serving = MlflowStore(mlflow_server.url, tmp_path / "web", poll_interval=0.2)
    models = ModelCache(Settings.from_env({"BASELINE_MODEL_NAME": str(rule_model_dir)}), serving)
    config = parse_ner_config(LABEL_CONFIG)
    assert models.get(fresh_project, config, wait=True).version == v1.name

    worker.deploy(fresh_project, v2.name)
    deadline = time.monotonic() + 60
    while models.status()[fresh_project]["model_version"] != v2.name and time.monotonic() < deadline:
        time.sleep(0.05)  # no request is made meanwhile: only the timer can bring the new version in
    assert models.status()[fresh_project]["model_version"] == v2.name
    assert models.get(fresh_project, config).version == v2.name  # so the first request after it is served v2
