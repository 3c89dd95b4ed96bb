"""Request bodies as Label Studio 1.23 sends them (built from the recorded requests in tests/fixtures):
annotation and Start Training webhooks, and /predict."""

from __future__ import annotations

import copy

from bench.corpus import LABEL_CONFIG
from tests.support.paths import fixture

PROJECT = "1.1795511008"  # the project key Label Studio sends: "<id>.<created_at timestamp>"
TEXT = "Angela Merkel met Sony in Tokyo."
# The project's counters that move with each annotation (every annotation here on its own task, none skipped).
ANNOTATION_COUNTERS = (
    "total_annotations_number",
    "num_tasks_with_annotations",
    "useful_annotation_number",
    "finished_task_number",
)


def annotation_webhook(
    task: dict,
    action: str = "ANNOTATION_CREATED",
    *,
    annotated: int = 0,
    project: int = 1,
    label_config: str = LABEL_CONFIG,
) -> dict:
    """A webhook for `task`'s (first) annotation; `annotated`: the project's num_tasks_with_annotations, as Label
    Studio reports it after this event; `label_config`: the project's config the webhook carries."""
    body = copy.deepcopy(fixture("webhook_ANNOTATION_CREATED")["body"])
    body["action"] = action
    body["project"]["id"] = project
    body["project"]["num_tasks_with_annotations"] = annotated
    body["project"]["label_config"] = label_config
    body["task"] = {"id": task["id"], "data": task["data"]}
    body["annotation"] = {
        **task["annotations"][0],
        "task": task["id"],
        "was_cancelled": False,
        "ground_truth": False,
        "updated_at": "2026-11-24T09:03:30Z",
    }
    return body


def start_training_webhook(project: int = 1) -> dict:
    """What the Start Training button sends."""
    body = copy.deepcopy(fixture("webhook_START_TRAINING")["body"])
    body["project"]["id"] = project
    body["project"]["label_config"] = LABEL_CONFIG
    return body


def annotation_with_training_toggle(task: dict, annotations: int, project: int = 1) -> list[dict]:
    """What Label Studio 1.23 sends for a project's `annotations`-th annotation (on `task`) while "Start model
    training on annotation submission" is on: START_TRAINING from the annotation's post_save signal, then
    ANNOTATION_CREATED, both carrying the project's counters after it."""
    start = copy.deepcopy(fixture("webhook_START_TRAINING_on_annotation")["body"])
    created = annotation_webhook(task, annotated=annotations, project=project)
    for body in (start, created):
        body["project"].update(
            id=project,
            label_config=LABEL_CONFIG,
            min_annotations_to_start_training=1,
            **{k: annotations for k in ANNOTATION_COUNTERS},
        )
    return [start, created]


def start_training_press(annotations: int, project: int = 1, toggle: bool = True) -> dict:
    """A press of Start Training in a project with `annotations` annotations (the toggle on or off)."""
    body = start_training_webhook(project)
    body["project"].update(
        min_annotations_to_start_training=int(toggle), **{k: annotations for k in ANNOTATION_COUNTERS}
    )
    return body


def predict_body(*texts: str, project: str = PROJECT, config: str = LABEL_CONFIG, context=None) -> dict:
    """A /predict request with one task per text (ids 1, 2, ...; no text: one task holding TEXT)."""
    return {
        "tasks": [{"id": i + 1, "data": {"text": t}} for i, t in enumerate(texts or (TEXT,))],
        "project": project,
        "label_config": config,
        "params": {"login": None, "password": None, "context": context},
    }
