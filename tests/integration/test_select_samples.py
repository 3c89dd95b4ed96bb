"""POST /select_samples with inline tasks on the real app: ordering, threshold, cache, cold start, errors."""
from __future__ import annotations

import pytest

from tests.conftest import fixture
from tests.support.servers import free_port

CONFIG = fixture("setup")["body"]["schema"]

# How many words the rule model is unsure about decides how uncertain a text is.
POOL = [
    {"id": 10, "data": {"text": "Angela Merkel visited Berlin today"}},           # sure
    {"id": 11, "data": {"text": "maybe perhaps maybe perhaps"}},                    # all unsure
    {"id": 12, "data": {"text": "Sony maybe in Tokyo"}},                            # one of four unsure
    {"id": 13, "data": {"text": "maybe perhaps in Paris"}},                         # two of four unsure
    {"id": 14, "data": {"text": "maybe perhaps maybe Paris"}, "annotations": [{"result": []}]},  # labelled
    {"id": 15, "data": {"body": "no text field"}},                                  # unreadable: skipped
]


def select(client, **body):
    body.setdefault("tasks", POOL)
    body.setdefault("label_config", CONFIG)
    return client.post("/select_samples", json=body)


def test_most_uncertain_first_and_labelled_tasks_never_returned(rule_client):
    response = select(rule_client, limit=10, diversity=False, threshold=None)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["task_ids"] == [11, 13, 12, 10]
    assert body["scores"] == sorted(body["scores"], reverse=True) and body["scores"][0] > 0.9
    assert body["total_unlabeled"] == 4 and body["mode"] == "uncertainty"
    assert body["strategy"] == "boundary_entropy" and body["model_version"].startswith("base-")


def test_threshold_keeps_only_tasks_whose_confidence_is_below_it(rule_client):
    body = select(rule_client, limit=10, diversity=False, threshold=0.6).json
    assert body["task_ids"] == [11, 13]


def test_limit_and_strategy_are_honoured(rule_client):
    body = select(rule_client, limit=2, strategy="least_confidence", diversity=True, threshold=None).json
    assert len(body["task_ids"]) == 2 and 11 in body["task_ids"] and body["strategy"] == "least_confidence"


def test_repeated_call_answers_from_cache_and_changed_text_is_rescored(rule_client):
    first = select(rule_client, project_id=1, limit=10, diversity=False, threshold=None).json
    changed = [dict(t) for t in POOL]
    changed[0] = {"id": 10, "data": {"text": "maybe maybe maybe perhaps maybe"}}
    second = select(rule_client, project_id=1, tasks=changed, limit=10, diversity=False, threshold=None).json
    assert first["task_ids"][-1] == 10 and second["task_ids"][0] in (10, 11)
    assert second["scores"][second["task_ids"].index(10)] > 0.9


def test_untrained_model_selects_by_embedding_diversity(make_client):
    client = make_client()
    body = select(client, limit=3).json
    assert body["mode"] == "cold_start" and body["model_version"] == "untrained"
    assert len(body["task_ids"]) == 3 and set(body["task_ids"]) <= {10, 11, 12, 13}


@pytest.mark.parametrize("body, status, message", [
    ({"limit": 0}, 400, "limit"),
    ({"limit": 10**9}, 400, "limit"),
    ({"limit": "ten"}, 400, "limit"),
    ({"strategy": "vibes"}, 400, "vibes"),
    ({"threshold": 2}, 400, "threshold"),
    ({"diversity": "yes"}, 400, "diversity"),
    ({"tasks": "abc"}, 400, "tasks"),
    ({"tasks": None, "project_id": None}, 400, "project_id"),
    ({"tasks": None, "project_id": "../x"}, 400, "project id"),
])
def test_bad_requests_are_named(rule_client, body, status, message):
    response = select(rule_client, **body)
    assert response.status_code == status and message in response.json["error"], response.json


def test_label_studio_not_configured_is_a_400(rule_client):
    response = rule_client.post("/select_samples", json={"project_id": 1})
    assert response.status_code == 400 and "LABEL_STUDIO_HOST" in response.json["error"]


def test_label_studio_unreachable_is_a_502_naming_it(make_client, rule_model_dir):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, LABEL_STUDIO_HOST=f"http://127.0.0.1:{free_port()}",
                         LABEL_STUDIO_API_KEY="secret-key-123")
    response = client.post("/select_samples", json={"project_id": 1})
    assert response.status_code == 502 and "unreachable" in response.json["error"]
    assert "secret-key-123" not in response.get_data(as_text=True)
