"""Without Label Studio API access, the in-process worker trains on annotations the webhooks delivered."""

from __future__ import annotations

import copy

from bench.corpus import LABEL_CONFIG, make_tasks
from tests.support.bodies import annotation_webhook
from tests.support.jobs import wait_job
from tests.support.serving import results_once_serving


def test_webhook_annotations_train_a_new_version_that_is_served(make_client, rule_model_dir):
    client = make_client(
        BASELINE_MODEL_NAME=rule_model_dir,
        START_TRAINING_EACH_N_UPDATES=12,
        MIN_TRAIN_STEPS=20,
        NUM_TRAIN_EPOCHS=2,
        DEPLOY_POLICY="always",
    )
    setup = {"project": "1.1795511008", "schema": LABEL_CONFIG}
    before = client.post("/setup", json=setup).json["model_version"]
    tasks = make_tasks(12, seed=4)
    answers = [
        client.post("/webhook", json=annotation_webhook(t, annotated=i + 1)).json["status"] for i, t in enumerate(tasks)
    ]
    assert answers == ["counted"] * 11 + ["queued"]
    state = wait_job(client, lambda s: s.get("state") in ("finished", "failed"), timeout=300, poll=0.5)
    assert state["state"] == "finished", state
    assert state["version"] == "p1-v1-n12" and state["deployed"] is True
    assert state["extraction"]["examples"] == 12
    after = client.post("/setup", json=setup).json["model_version"]
    assert before.startswith("base-") and after == "p1-v1-n12"
    body = {
        "tasks": [{"id": 1, "data": {"text": "Angela Merkel met Sony in Tokyo."}}],
        "label_config": LABEL_CONFIG,
        "project": "1.1795511008",
    }
    served = results_once_serving(lambda: client.post("/predict", json=body).json, "p1-v1-n12")
    assert served[0]["model_version"] == "p1-v1-n12"


def test_deleted_and_updated_annotations_are_reflected(make_client, rule_model_dir, tmp_path):
    from infra.annotation_mirror import AnnotationMirror
    from store.local import LocalStore

    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, START_TRAINING_EACH_N_UPDATES=0)
    task = next(t for t in make_tasks(20, seed=5) if len(t["annotations"][0]["result"]) >= 2)
    client.post("/webhook", json=annotation_webhook(task, annotated=1))
    updated = copy.deepcopy(task)
    updated["annotations"][0]["result"] = updated["annotations"][0]["result"][:1]
    client.post("/webhook", json=annotation_webhook(updated, "ANNOTATION_UPDATED", annotated=1))
    mirror = AnnotationMirror(LocalStore(tmp_path / "models"))
    (stored,) = mirror.tasks(1)
    assert len(stored["annotations"]) == 1 and len(stored["annotations"][0]["result"]) == 1
    deleted = {
        "action": "ANNOTATIONS_DELETED",
        "project": {"id": 1},
        "annotations": [{"id": task["annotations"][0]["id"]}],
    }
    assert client.post("/webhook", json=deleted).status_code == 201
    assert mirror.tasks(1) == []
