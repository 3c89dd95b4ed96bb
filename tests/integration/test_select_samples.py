"""POST /select_samples with inline tasks on the real app: ordering, threshold, cache, cold start, errors."""

from __future__ import annotations

import pytest

from bench.servers import free_port
from tests.support.paths import fixture

CONFIG = fixture("setup")["body"]["schema"]

# How many words the rule model is unsure about decides how uncertain a text is.
POOL = [
    {"id": 10, "data": {"text": "Angela Merkel visited Berlin today"}},  # sure
    {"id": 11, "data": {"text": "maybe perhaps maybe perhaps"}},  # all unsure
    {"id": 12, "data": {"text": "Sony maybe in Tokyo"}},  # one of four unsure
    {"id": 13, "data": {"text": "maybe perhaps in Paris"}},  # two of four unsure
    {"id": 14, "data": {"text": "maybe perhaps maybe Paris"}, "annotations": [{"result": []}]},  # labelled
    {"id": 15, "data": {"body": "no text field"}},  # unreadable: skipped
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
    body = select(rule_client, limit=10, diversity=False, threshold=0.6, reduction="mean").json
    assert body["task_ids"] == [11, 13]


CONFIDENT_POOL = [
    {"id": i, "data": {"text": f"Angela Merkel visited Berlin today {'and Paris ' * (i % 3)}"}} for i in range(30)
]


@pytest.mark.parametrize("reduction", ["sum", "mean", "max", "top_k"])
def test_a_confident_model_still_fills_the_batch(rule_client, reduction):
    """No threshold by default: a model that knows the pool well must not starve selection."""
    body = select(rule_client, tasks=CONFIDENT_POOL, limit=25, reduction=reduction).json
    assert len(body["task_ids"]) == 25 and len(set(body["task_ids"])) == 25
    assert max(body["scores"]) < 0.2  # the model is indeed confident


def test_predict_scores_order_tasks_as_selection_ranks_them(rule_client):
    """Label Studio's Uncertainty sampling serves the lowest task score first: the same order as /select_samples."""
    for reduction in ("sum", "mean", "top_k"):
        picked = select(rule_client, limit=10, diversity=False, reduction=reduction).json["task_ids"]
        readable = [t for t in POOL if "text" in t["data"] and not t.get("annotations")]
        predicted = rule_client.post("/predict", json={"tasks": readable, "label_config": CONFIG}).json["results"]
        by_score = [
            t["id"] for _, t in sorted(zip([r["score"] for r in predicted], readable), key=lambda pair: pair[0])
        ]
        assert by_score == picked, reduction


def test_sum_ranks_per_task_and_mean_per_word(rule_client):
    """A long text with two unsure words outranks a short one with one under "sum", not under "mean"."""
    pool = [
        {"id": 1, "data": {"text": "maybe Angela Merkel visited Berlin perhaps today in Paris"}},
        {"id": 2, "data": {"text": "maybe Sony"}},
    ]
    assert select(rule_client, tasks=pool, limit=2, diversity=False, reduction="sum").json["task_ids"] == [1, 2]
    assert select(rule_client, tasks=pool, limit=2, diversity=False, reduction="mean").json["task_ids"] == [2, 1]


def test_cost_aware_ranking_says_which_cost_it_used(rule_client):
    body = select(rule_client, limit=10, diversity=False, cost_aware=True).json
    assert body["cost"]["source"].startswith("token count") and len(body["task_ids"]) == 4


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


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"limit": 0}, 400, "limit"),
        ({"limit": 10**9}, 400, "limit"),
        ({"limit": "ten"}, 400, "limit"),
        ({"strategy": "vibes"}, 400, "vibes"),
        ({"threshold": 2}, 400, "threshold"),
        ({"diversity": "yes"}, 400, "diversity"),
        ({"reduction": "median"}, 400, "reduction"),
        ({"top_k": 0}, 400, "top_k"),
        ({"cost_aware": "yes"}, 400, "cost_aware"),
        ({"tasks": "abc"}, 400, "tasks"),
        ({"tasks": None, "project_id": None}, 400, "project_id"),
        ({"tasks": None, "project_id": "../x"}, 400, "project id"),
    ],
)
def test_bad_requests_are_named(rule_client, body, status, message):
    response = select(rule_client, **body)
    assert response.status_code == status and message in response.json["error"], response.json


def test_label_studio_not_configured_is_a_400(rule_client):
    response = rule_client.post("/select_samples", json={"project_id": 1})
    assert response.status_code == 400 and "LABEL_STUDIO_HOST" in response.json["error"]


def test_label_studio_unreachable_is_a_502_naming_it(make_client, rule_model_dir):
    client = make_client(
        BASELINE_MODEL_NAME=rule_model_dir,
        LABEL_STUDIO_HOST=f"http://127.0.0.1:{free_port()}",
        LABEL_STUDIO_API_KEY="secret-key-123",
    )
    response = client.post("/select_samples", json={"project_id": 1})
    assert response.status_code == 502 and "unreachable" in response.json["error"]
    assert "secret-key-123" not in response.get_data(as_text=True)


def test_bayesian_strategy_selects_from_mc_dropout_samples_while_predict_stays_deterministic(rule_client):
    body = select(rule_client, limit=3, strategy="bald", diversity=False)
    assert body.status_code == 200, body.json
    assert body.json["strategy"] == "bald" and len(body.json["task_ids"]) == 3
    readable = [t for t in POOL if "text" in t["data"]]
    first = rule_client.post("/predict", json={"tasks": readable, "label_config": CONFIG}).json["results"]
    second = rule_client.post("/predict", json={"tasks": readable, "label_config": CONFIG}).json["results"]
    assert first == second
