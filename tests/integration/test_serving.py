"""The real Flask app, Label Studio's recorded requests, and real models (a rule-controlled one and the default)."""

from __future__ import annotations

import base64
from functools import partial

import pytest

from tests.support import bodies
from tests.support.paths import fixture

CONFIG = fixture("setup")["body"]["schema"]
predict_body = partial(bodies.predict_body, config=CONFIG)  # with the schema Label Studio sent at setup


def entities(prediction):
    return [(r["value"]["text"], r["value"]["labels"][0]) for r in prediction["result"]]


def check_offsets(text, prediction):
    for region in prediction["result"]:
        v = region["value"]
        assert v["text"] == text[v["start"] : v["end"]]
        assert v["text"] == v["text"].strip() and v["text"]
        assert region["from_name"] == "label" and region["to_name"] == "text" and region["type"] == "labels"
        assert 0.0 <= region["score"] <= 1.0


def test_setup_answers_model_version_and_predict_uses_it(rule_client):
    setup = rule_client.post("/setup", json=fixture("setup")["body"])
    assert setup.status_code == 200
    version = setup.json["model_version"]
    assert version.startswith("base-")
    body = fixture("predict_retrieve_action")["body"]
    results = rule_client.post("/predict", json=body).json["results"]
    assert len(results) == len(body["tasks"]) == 2
    assert all(r["model_version"] == version for r in results)
    assert entities(results[0]) == [("Apple", "ORG"), ("Tim Cook", "PER"), ("Cupertino", "LOC")]
    assert entities(results[1]) == [("Angela Merkel", "PER"), ("Macron", "PER"), ("Berlin", "LOC")]
    for task, result in zip(body["tasks"], results):
        check_offsets(task["data"]["text"], result)
        assert 0.0 <= result["score"] <= 1.0


@pytest.mark.parametrize("name", ["predict_interactive", "predict_on_task_get", "predict_test_random"])
def test_every_recorded_predict_request_gets_one_prediction_per_task(rule_client, name):
    body = fixture(name)["body"]
    response = rule_client.post("/predict", json=body)
    assert response.status_code == 200
    assert len(response.json["results"]) == len(body["tasks"])


HARD_TEXTS = {
    "chinese": ("我在北京工作。", [("北京", "LOC")]),
    "emoji": (
        "\U0001f600 Angela Merkel \U0001f1e9\U0001f1ea in Berlin \U0001f44d",
        [("Angela Merkel", "PER"), ("Berlin", "LOC")],
    ),
    "accents": ("Le Café de Paris", [("Café", "LOC"), ("Paris", "LOC")]),
    "decomposed accent": ("Cafe\u0301 in Tokyo", [("Cafe\u0301", "LOC"), ("Tokyo", "LOC")]),
    "tabs and newlines": ("\n\tTim\tCook\n\nvisited\tGeneva\r\n", [("Tim\tCook", "PER"), ("Geneva", "LOC")]),
    "adjacent same type": (
        "Alice Bob Paris London",
        [("Alice", "PER"), ("Bob", "PER"), ("Paris", "LOC"), ("London", "LOC")],
    ),
    "zero width": ("Sony\u200b in\u00a0Tokyo", [("Sony", "ORG"), ("Tokyo", "LOC")]),
    "no entities": ("nothing to see here", []),
    "empty": ("", []),
}


@pytest.mark.parametrize("name", list(HARD_TEXTS))
def test_offsets_are_exact_code_points_on_hard_texts(rule_client, name):
    text, expected = HARD_TEXTS[name]
    (prediction,) = rule_client.post("/predict", json=predict_body(text)).json["results"]
    check_offsets(text, prediction)
    assert entities(prediction) == expected


def test_two_thousand_word_text_is_labelled_past_the_window(rule_client):
    filler = "the quick fox jumps over a lazy dog near Acme .".split()
    words, expected = [], []
    for i in range(2000):
        if i % 97 == 0:
            words += ["Angela", "Merkel"]
            expected.append(("Angela Merkel", "PER"))
        elif i % 61 == 0:
            words.append("Berlin")
            expected.append(("Berlin", "LOC"))
        else:
            words.append(filler[i % len(filler)])
    text = " ".join(words)
    (prediction,) = rule_client.post("/predict", json=predict_body(text)).json["results"]
    check_offsets(text, prediction)
    assert entities(prediction) == expected
    assert prediction["result"][-1]["value"]["end"] > len(text) - 800  # far beyond 128 tokens


def test_evaluation_scores_exactly_the_spans_predict_serves(rule_client, rule_model_dir):
    from modeling.base_model import load_base_model
    from modeling.inference import Predictor
    from text.spans.span import Span
    from training.annotations import Example
    from training.evaluation import evaluate_model, score_tags

    text = "Merkel Cook visited Berlin"  # the rule model reads "Merkel Cook" as I-PER I-PER: argmax opens with I-
    (prediction,) = rule_client.post("/predict", json=predict_body(text)).json["results"]
    assert entities(prediction) == [("Merkel Cook", "PER"), ("Berlin", "LOC")]
    served = tuple(Span(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in prediction["result"])

    loaded = load_base_model(str(rule_model_dir), ["PER", "ORG", "LOC", "MISC"])
    predictor = Predictor(loaded.model, loaded.tokenizer, 128)
    argmax = [loaded.tags[i] for i in predictor.predict([text])[0].probs.argmax(axis=1)]
    assert argmax == ["I-PER", "I-PER", "O", "B-LOC"]
    assert score_tags([["B-PER", "I-PER", "O", "B-LOC"]], [argmax])["entity_recall"] == 0.5  # the old scoring
    metrics = evaluate_model(predictor, loaded.tags, [Example(1, text, served)], loaded.label_map)
    assert metrics["entity_precision"] == metrics["entity_recall"] == 1.0


def test_project_label_names_are_used_via_predicted_values_and_case(rule_client):
    config = CONFIG.replace('<Label value="PER"/>', '<Label value="Person" predicted_values="PER"/>')
    config = config.replace('<Label value="LOC"/>', '<Label value="loc"/>')
    (prediction,) = rule_client.post("/predict", json=predict_body("Angela Merkel in Berlin", config=config)).json[
        "results"
    ]
    assert entities(prediction) == [("Angela Merkel", "Person"), ("Berlin", "loc")]


def test_labels_the_project_does_not_have_are_not_returned(rule_client):
    config = CONFIG.replace('<Label value="ORG"/>', "")
    (prediction,) = rule_client.post("/predict", json=predict_body("Sony in Tokyo", config=config)).json["results"]
    assert entities(prediction) == [("Tokyo", "LOC")]


def test_interactive_regions_are_kept_and_not_overlapped(rule_client):
    drawn = {
        "from_name": "label",
        "to_name": "text",
        "type": "labels",
        "value": {"start": 0, "end": 6, "text": "Angela", "labels": ["MISC"]},
    }
    body = predict_body("Angela Merkel in Berlin", context={"result": [drawn]})
    (prediction,) = rule_client.post("/predict", json=body).json["results"]
    assert prediction["result"][0] == drawn
    assert entities(prediction) == [("Angela", "MISC"), ("Berlin", "LOC")]


def test_drawn_regions_outside_the_text_are_not_echoed(rule_client):
    bogus = {
        "from_name": "label",
        "to_name": "text",
        "type": "labels",
        "value": {"start": 10**30, "end": -5, "labels": ["PER"]},
    }
    body = predict_body("Sony in Tokyo", context={"result": [bogus, {"value": "junk"}, 7]})
    (prediction,) = rule_client.post("/predict", json=body).json["results"]
    assert entities(prediction) == [("Sony", "ORG"), ("Tokyo", "LOC")]


def test_default_base_model_is_untrained_and_predicts_nothing_but_answers(make_client):
    client = make_client()
    setup = client.post("/setup", json=fixture("setup")["body"]).json
    assert setup["model_version"] == "untrained" and setup["task_type"] == "ner"
    assert [c["name"] for c in setup["served_controls"]] == ["label"] and setup["ignored_controls"] == []
    body = fixture("predict_retrieve_action")["body"]
    results = client.post("/predict", json=body).json["results"]
    assert [r["result"] for r in results] == [[], []]
    assert all(r["model_version"] == "untrained" and 0.0 <= r["score"] <= 1.0 for r in results)
    health = client.get("/health").json
    assert health["status"] == "UP" and health["model_class"] == "NERBackend"
    assert health["models"]["1"]["trained"] is False


def test_health_and_root_answer_the_recorded_request(rule_client):
    for path in ("/", "/health"):
        response = rule_client.get(path, headers=fixture("health")["headers"])
        assert response.status_code == 200 and response.json["status"] == "UP"
    assert rule_client.get("/metrics").status_code == 200
    assert rule_client.get("/versions").status_code == 200


# ---- bad input: clear 4xx naming the problem, server keeps serving ----


def test_bad_requests_get_clear_4xx(rule_client):
    cases = [
        ("/predict", dict(data="{not json", content_type="application/json"), 400, "not valid JSON"),
        ("/predict", dict(json=[1, 2]), 400, "JSON object"),
        ("/predict", dict(json={"label_config": CONFIG}), 400, "'tasks'"),
        ("/predict", dict(json={"tasks": "abc", "label_config": CONFIG}), 400, "'tasks'"),
        ("/predict", dict(json={"tasks": [{"data": {"body": "x"}}], "label_config": CONFIG}), 422, "data['text']"),
        ("/predict", dict(json={"tasks": [{"data": {"text": 42}}], "label_config": CONFIG}), 422, "data['text']"),
        (
            "/predict",
            dict(json={"tasks": [{"data": {"text": "x"}}], "label_config": "<View><Text name='t' value='$t'/></View>"}),
            422,
            "Labels",
        ),
        ("/predict", dict(json={"tasks": [{"data": {"text": "x"}}], "label_config": 5}), 400, "label_config"),
        ("/predict", dict(json={"tasks": [{"data": {"text": "x"}}]}), 400, "label_config"),
        ("/predict", dict(json={"tasks": [], "project": "../../etc", "label_config": CONFIG}), 400, "project id"),
        ("/setup", dict(json={"project": "1"}), 400, "'schema'"),
        ("/setup", dict(json={"schema": CONFIG}), 400, "'project'"),
        ("/setup", dict(json={"project": "1", "schema": "<View>"}), 422, "label config"),
        ("/webhook", dict(json={"project": {}}), 400, "'action'"),
    ]
    for path, kwargs, status, message in cases:
        response = rule_client.post(path, **kwargs)
        assert response.status_code == status, (path, kwargs, response.json)
        assert message in response.json["error"], (message, response.json)
        assert "Traceback" not in response.get_data(as_text=True)
    assert rule_client.get("/health").status_code == 200


def test_random_strategy_scores_single_task_predicts_by_their_text(make_client, rule_model_dir):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, UNCERTAINTY_STRATEGY="random")

    def score(text):
        response = client.post("/predict", json=predict_body(text))
        assert response.status_code == 200, response.json
        return response.json["results"][0]["score"]

    first, second = score("Angela Merkel visited Paris."), score("Tim Cook met Alice in Tokyo.")
    assert first != second
    assert score("Angela Merkel visited Paris.") == first


HYPERTEXT = """<View><Labels name="label" toName="html"><Label value="PER"/></Labels>
<HyperText name="html" value="$html"/></View>"""


def test_hypertext_configs_are_refused_with_422_naming_the_tag(rule_client):
    setup = rule_client.post("/setup", json={"project": "1", "schema": HYPERTEXT})
    predict = rule_client.post(
        "/predict",
        json={
            "tasks": [{"id": 1, "data": {"html": "<p>Angela Merkel</p>"}}],
            "project": "1",
            "label_config": HYPERTEXT,
        },
    )
    for response in (setup, predict):
        assert response.status_code == 422, response.json
        assert "HyperText" in response.json["error"] and "not supported" in response.json["error"]


def test_one_unreadable_task_in_a_batch_gets_an_empty_prediction(rule_client, caplog):
    body = predict_body("Sony in Tokyo", "Alice")
    body["tasks"].insert(1, {"id": 99, "data": {"text": None}})
    body["tasks"].append("not a task")
    results = rule_client.post("/predict", json=body).json["results"]
    assert len(results) == 4
    assert entities(results[0]) == [("Sony", "ORG"), ("Tokyo", "LOC")]
    assert results[1]["result"] == [] and results[3]["result"] == []
    assert entities(results[2]) == [("Alice", "PER")]
    assert "id 99" in caplog.text


def test_oversized_body_gets_413(make_client, rule_model_dir):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, MAX_REQUEST_BYTES=2048)
    response = client.post("/predict", json=predict_body("x " * 5000))
    assert response.status_code == 413 and "error" in response.json


def test_unknown_route_is_json_404(rule_client):
    response = rule_client.get("/nope")
    assert response.status_code == 404 and "error" in response.json


# ---- auth ----


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_auth_covers_every_route(make_client, rule_model_dir):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, BASIC_AUTH_USER="ann", BASIC_AUTH_PASS="s3cret")
    for method, path in [
        ("get", "/health"),
        ("get", "/"),
        ("post", "/setup"),
        ("post", "/predict"),
        ("post", "/webhook"),
        ("get", "/metrics"),
        ("post", "/select_samples"),
        ("get", "/train_status"),
        ("post", "/deploy"),
        ("get", "/versions"),
    ]:
        for headers in ({}, basic("ann", "wrong"), basic("bob", "s3cret"), {"Authorization": "Bearer x"}):
            response = getattr(client, method)(path, headers=headers, json={})
            assert response.status_code == 401, (path, headers)
            assert response.headers["WWW-Authenticate"].startswith("Basic")
    ok = client.post("/setup", json=fixture("setup")["body"], headers=basic("ann", "s3cret"))
    assert ok.status_code == 200


def test_webhook_secret_admits_label_studios_unauthenticated_webhook(make_client, rule_model_dir):
    client = make_client(
        BASELINE_MODEL_NAME=rule_model_dir, BASIC_AUTH_USER="ann", BASIC_AUTH_PASS="pw", WEBHOOK_SECRET="hook-key"
    )
    body = fixture("webhook_ANNOTATION_CREATED")["body"]
    assert client.post("/webhook", json=body).status_code == 401
    assert client.post("/webhook?secret=wrong", json=body).status_code == 401
    assert client.post("/webhook?secret=hook-key", json=body).status_code == 201
    assert client.post("/webhook", json=body, headers={"X-Webhook-Secret": "hook-key"}).status_code == 201
    assert client.post("/predict?secret=hook-key", json=predict_body("x")).status_code == 401
