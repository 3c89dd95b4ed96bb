"""A newly deployed version is served on the next request, without a restart; the old one stays loadable."""
from __future__ import annotations

import shutil

from ner.store import ModelStore
from tests.conftest import NER_TAGS, RULES, fixture
from tests.support.rule_model import build_rule_model


def save_version(store, project, source_dir, annotations):
    def write(directory):
        for f in source_dir.iterdir():
            shutil.copy(f, directory / f.name)

    return store.save(project, annotations, write, {"labels": ["PER", "ORG", "LOC", "MISC"], "tags": NER_TAGS})


def test_deployed_version_is_picked_up_by_the_next_request_and_rollback_works(make_client, tmp_path):
    client = make_client()
    setup = fixture("setup")["body"]
    body = fixture("predict_retrieve_action")["body"]
    assert client.post("/setup", json=setup).json["model_version"] == "untrained"
    assert client.post("/predict", json=body).json["results"][0]["result"] == []

    store = ModelStore(tmp_path / "models")
    v1 = save_version(store, 1, build_rule_model(tmp_path / "m1", NER_TAGS, RULES), 20)
    quiet = {k: ("O" if v.startswith(("B-ORG", "I-ORG")) else v) for k, v in RULES.items()}
    v2 = save_version(store, 1, build_rule_model(tmp_path / "m2", NER_TAGS, quiet), 30)
    store.deploy(1, v1.name)

    assert client.post("/setup", json=setup).json["model_version"] == "p1-v1-n20"
    results = client.post("/predict", json=body).json["results"]
    assert {r["model_version"] for r in results} == {"p1-v1-n20"}
    assert [r["value"]["text"] for r in results[0]["result"]] == ["Apple", "Tim Cook", "Cupertino"]

    store.deploy(1, v2.name)
    results = client.post("/predict", json=body).json["results"]
    assert {r["model_version"] for r in results} == {"p1-v2-n30"}
    assert [r["value"]["text"] for r in results[0]["result"]] == ["Tim Cook", "Cupertino"]

    rollback = client.post("/deploy", json={"project_id": 1, "version": v1.name})  # a rollback through the API
    assert rollback.status_code == 200 and rollback.json == {"project_id": 1, "model_version": "p1-v1-n20"}
    assert client.post("/predict", json=body).json["results"][0]["model_version"] == "p1-v1-n20"
    assert client.post("/deploy", json={"project_id": 1, "version": "p1-v9-n1"}).status_code == 404
    assert client.post("/deploy", json={"project_id": 1, "version": "../../etc"}).status_code == 404
    assert client.post("/deploy", json={"version": v1.name}).status_code == 400
    bad_project = client.post("/deploy", json={"project_id": "../1", "version": v1.name})
    assert bad_project.status_code == 400 and "project id" in bad_project.json["error"]
    assert client.get("/versions").json["versions"]["1"] == ["p1-v1-n20", "p1-v2-n30"]
