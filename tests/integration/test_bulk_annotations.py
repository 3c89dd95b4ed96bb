"""Bulk-created annotations (Label Studio's "create annotations from predictions", pre-annotated imports) count
towards training like single ones and reach the local annotation mirror.

Jobs talk to a Label Studio stand-in that answers 500 after 2 s: enough to see a job queued, without training.
"""

from __future__ import annotations

import copy
import time

import pytest

from infra.annotation_mirror import AnnotationMirror
from store.local import LocalStore
from tests.support.paths import fixture
from tests.support.slow_http import FailingServer

TEXTS = ["Angela Merkel met Macron in Berlin.", "Sony is based in Tokyo.", "Tim Cook visited Paris."]


@pytest.fixture
def client(make_client, rule_model_dir, tmp_path):
    server = FailingServer(delay=2.0, status=500)
    app = make_client(
        BASELINE_MODEL_NAME=rule_model_dir,
        START_TRAINING_EACH_N_UPDATES=10,
        LABEL_STUDIO_HOST=server.url,
        LABEL_STUDIO_API_KEY="k" * 40,
        LABEL_STUDIO_RETRIES=0,
        MODEL_DIR=tmp_path / "models",
    )
    yield app
    deadline = time.time() + 20  # let a queued job meet the stand-in's 500 before the stand-in goes
    while time.time() < deadline and app.get("/train_status?project=1").json["jobs"].get("1", {}).get("state") in (
        "queued",
        "running",
    ):
        time.sleep(0.2)
    server.close()


def tasks_and_annotations(n: int) -> tuple[list[dict], list[dict]]:
    """n tasks, each with one annotation, shaped like the ones Label Studio 1.23.2 sent with ANNOTATION_CREATED."""
    recorded = fixture("webhook_ANNOTATION_CREATED")["body"]
    tasks, annotations = [], []
    for i in range(n):
        task = {**copy.deepcopy(recorded["task"]), "id": 100 + i, "data": {"text": TEXTS[i % len(TEXTS)]}}
        annotation = {**copy.deepcopy(recorded["annotation"]), "id": 500 + i, "task": 100 + i, "result": []}
        tasks.append(task)
        annotations.append(annotation)
    return tasks, annotations


def project_with_nothing_waiting() -> dict:
    project = copy.deepcopy(fixture("webhook_ANNOTATION_CREATED")["body"]["project"])
    project["num_tasks_with_annotations"] = 0
    return project


def annotations_created(n: int) -> dict:
    """The payload Label Studio 1.23's webhook code builds: lists under "annotation" and (nested) "task"."""
    tasks, annotations = tasks_and_annotations(n)
    return {
        "action": "ANNOTATIONS_CREATED",
        "annotation": annotations,
        "task": tasks,
        "project": project_with_nothing_waiting(),
    }


def tasks_created(n: int) -> dict:
    """Pre-annotated tasks, each carrying its annotations."""
    tasks, annotations = tasks_and_annotations(n)
    for task, annotation in zip(tasks, annotations):
        task["annotations"] = [annotation]
    return {"action": "TASKS_CREATED", "tasks": tasks, "project": project_with_nothing_waiting()}


@pytest.mark.parametrize("payload", [annotations_created, tasks_created], ids=["ANNOTATIONS_CREATED", "TASKS_CREATED"])
def test_a_bulk_of_twelve_annotations_queues_a_job_and_is_mirrored(client, tmp_path, payload):
    response = client.post("/webhook", json=payload(12))
    assert response.status_code == 201, response.json
    assert response.json["status"] == "queued"
    mirrored = AnnotationMirror(LocalStore(tmp_path / "models")).tasks("1")
    assert sorted(t["id"] for t in mirrored) == list(range(100, 112))
    assert all(len(t["annotations"]) == 1 and t["data"]["text"] in TEXTS for t in mirrored)


def test_a_bulk_counts_as_many_updates_as_annotations_it_carries(client):
    assert client.post("/webhook", json=annotations_created(9)).json["status"] == "counted"
    assert client.post("/webhook", json=annotations_created(1)).json["status"] == "queued"  # 9 + 1 reach 10


def test_tasks_imported_without_annotations_are_ignored(client):
    response = client.post("/webhook", json=fixture("webhook_TASKS_CREATED")["body"])
    assert response.status_code == 201 and response.json["status"] == "ignored"
