"""Text classification (Choices) through the real app: /setup, /predict (validated by label-studio-sdk's own
validator, `tests.support.predictions`), /select_samples and /health, on a real sequence classifier whose answers
the test controls (`tests.support.choice_model`), and a training job fed by webhooks that makes a version which
predicts choices."""

from __future__ import annotations

import pytest

from store.local import LocalStore
from tests.support.bodies import annotation_webhook
from tests.support.choice_model import SENTIMENT_CONFIG, TOPICS_CONFIG, build_choice_model, choice_tasks
from tests.support.jobs import wait_job
from tests.support.redis_server import rq_worker
from tests.support.serving import results_once_serving

TASKS = [
    {"id": 1, "data": {"text": "a good and great day"}},
    {"id": 2, "data": {"text": "nothing to report here"}},  # no cue: the model is unsure
    {"id": 3, "data": {"text": "an awful, bad result"}},
]


@pytest.fixture(scope="module")
def choice_model_dir(tmp_path_factory):
    return build_choice_model(tmp_path_factory.mktemp("choice-model"))


@pytest.fixture
def choice_client(make_client, choice_model_dir):
    return make_client(BASELINE_MODEL_NAME=choice_model_dir)


def predict(client, tasks, config=SENTIMENT_CONFIG, project="4"):
    return client.post("/predict", json={"tasks": tasks, "label_config": config, "project": project})


def test_setup_serves_a_base_model_whose_head_matches_and_names_the_controls(choice_client):
    answer = choice_client.post("/setup", json={"project": "4", "schema": SENTIMENT_CONFIG}).json
    assert answer["model_version"].startswith("base-choice-model") and answer["task_type"] == "choices"
    assert answer["served_controls"] == [{"name": "sentiment", "tag": "Choices", "to_name": "text", "choice": "single"}]
    assert answer["ignored_controls"] == []


def test_predict_chooses_the_class_and_scores_the_unsure_task_lowest(choice_client):
    choice_client.post("/setup", json={"project": "4", "schema": SENTIMENT_CONFIG})  # keeps the project's config
    response = predict(choice_client, TASKS)
    assert response.status_code == 200, response.json
    results = response.json["results"]
    assert [r["result"][0]["value"]["choices"] for r in results] == [["positive"], ["positive"], ["negative"]]
    assert {r["result"][0]["type"] for r in results} == {"choices"}
    assert all(r["model_version"].startswith("base-choice-model") for r in results)
    scores = [r["score"] for r in results]
    assert min(scores) == scores[1] < 0.1 and scores[0] > 0.9 and scores[2] > 0.9
    assert results[0]["result"][0]["score"] > 0.99
    controls = choice_client.get("/health").json["controls"]["4"]  # the config /setup kept
    assert controls["task_type"] == "choices" and controls["served_controls"][0]["name"] == "sentiment"


def test_tasks_without_the_text_field_are_a_422_or_an_empty_prediction_that_goes_last(choice_client):
    missing = [{"id": 9, "data": {"body": "no text field"}}]
    response = predict(choice_client, missing)
    assert response.status_code == 422 and "text" in response.json["error"]
    results = predict(choice_client, [*missing, TASKS[0]]).json["results"]
    assert results[0] == {"result": [], "score": 1.0, "model_version": results[1]["model_version"]}
    assert results[1]["result"][0]["value"]["choices"] == ["positive"]


def test_a_text_longer_than_the_model_limit_is_classified_from_all_its_windows(make_client, choice_model_dir):
    client = make_client(BASELINE_MODEL_NAME=choice_model_dir, MAX_SEQUENCE_LENGTH=16)
    long_text = "plain words " * 40 + "and finally an awful ending"
    (result,) = predict(client, [{"id": 1, "data": {"text": long_text}}]).json["results"]
    # Only the last window holds a cue: a classifier that truncated to the first window would be uniform.
    assert result["result"][0]["value"]["choices"] == ["negative"]
    assert result["score"] < 0.9  # the windows without a cue pull the pooled answer towards unsure


@pytest.mark.parametrize(
    "config, named",
    [
        (
            '<View><Image name="i" value="$img"/><Choices name="c" toName="i"><Choice value="a"/></Choices></View>',
            "Image",
        ),
        (SENTIMENT_CONFIG.replace('toName="text"', 'toName="text" perRegion="true"'), "perRegion"),
    ],
)
def test_choices_not_on_a_whole_text_are_refused_with_422_naming_why(choice_client, config, named):
    setup = choice_client.post("/setup", json={"project": "4", "schema": config})
    assert setup.status_code == 422 and named in setup.json["error"]
    response = predict(choice_client, TASKS, config=config)
    assert response.status_code == 422 and named in response.json["error"]
    assert choice_client.get("/health").status_code == 200


def test_select_samples_asks_for_the_unsure_task_first_in_the_task_score_order(choice_client):
    body = {"tasks": TASKS, "label_config": SENTIMENT_CONFIG, "limit": 3, "diversity": False}
    response = choice_client.post("/select_samples", json=body)
    assert response.status_code == 200, response.json
    picked = response.json["task_ids"]
    assert picked[0] == 2
    # The task score Label Studio sorts by (lowest first) is 1 - the uncertainty /select_samples ranks by.
    scores = {t["id"]: r["score"] for t, r in zip(TASKS, predict(choice_client, TASKS).json["results"])}
    for task_id, value in zip(picked, response.json["scores"]):
        assert scores[task_id] == pytest.approx(1 - value, abs=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["in-process", "rq"])
def test_webhook_annotations_train_a_version_that_predicts_every_control(runner, make_client, tmp_path, request):
    # A base model whose classes match none of the project's: a fresh head, untrained until the job runs.
    base = build_choice_model(tmp_path / "base", classes=["x", "y"], cues={"good": "x", "bad": "y"})
    env = dict(
        BASELINE_MODEL_NAME=base,
        START_TRAINING_EACH_N_UPDATES=16,
        MIN_TRAIN_STEPS=60,
        LEARNING_RATE=0.05,
        DEPLOY_POLICY="always",
        MODEL_DIR=tmp_path / "models",
    )
    if runner == "rq":  # a real `rq worker` process runs the job, on a Redis of this test's own
        redis_url = request.getfixturevalue("private_redis").url
        env["REDIS_URL"] = redis_url
        worker = rq_worker(redis_url, tmp_path / "rq-worker.log", **{k: str(v) for k, v in env.items()})
        request.addfinalizer(worker.stop)
    client = make_client(**env)
    setup = client.post("/setup", json={"project": "5", "schema": TOPICS_CONFIG}).json
    assert setup["model_version"] == "untrained"
    assert [c["name"] for c in setup["served_controls"]] == ["sentiment", "tone"]
    untrained = predict(client, TASKS[:1], config=TOPICS_CONFIG, project="5").json["results"]
    assert untrained[0]["result"] == []
    tasks = choice_tasks(16)
    for i, task in enumerate(tasks):
        client.post("/webhook", json=annotation_webhook(task, annotated=i + 1, project=5, label_config=TOPICS_CONFIG))
    state = wait_job(client, lambda s: s.get("state") in ("finished", "failed"), timeout=300, poll=0.5, project="5")
    assert state["state"] == "finished", state
    assert state["version"] == "p5-v1-n16" and state["deployed"] is True and state["extraction"]["examples"] == 16
    meta = LocalStore(tmp_path / "models").get("5", "p5-v1-n16").meta
    assert meta["task_type"] == "choices" and meta["deploy_metric"] == "macro_f1"
    assert set(meta["thresholds"]) == {"tone"} and 0 < meta["thresholds"]["tone"] < 1
    assert meta["metrics"]["controls"]["sentiment"]["accuracy"] == 1.0
    if runner == "in-process":  # MLflow holds the run: macro-F1, accuracy, per-class F1 and the confusion matrix
        from mlflow.tracking import MlflowClient

        tracking = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'models' / 'mlflow.db'}")
        (experiment,) = [e for e in tracking.search_experiments() if e.name.endswith("project-5")]
        (run,) = tracking.search_runs([experiment.experiment_id])
        assert run.data.metrics["final_macro_f1"] == pytest.approx(meta["metrics"]["macro_f1"])
        assert {"final_accuracy", "final_f1_sentiment_positive", "final_tone.micro_f1"} <= set(run.data.metrics)
        artifacts = {a.path for a in tracking.list_artifacts(run.info.run_id)}
        assert {"confusion_sentiment.png", "confusion_sentiment.json", "classification_report.txt"} <= artifacts

    texts = [{"id": 1, "data": {"text": "good item 100"}}, {"id": 2, "data": {"text": "bad item 101"}}]
    results = results_once_serving(lambda: predict(client, texts, config=TOPICS_CONFIG, project="5").json, "p5-v1-n16")
    served = [{r["from_name"]: r["value"]["choices"] for r in p["result"]} for p in results]
    assert served == [
        {"sentiment": ["positive"], "tone": ["warm"]},
        {"sentiment": ["negative"], "tone": ["warm", "cold"]},
    ]
    controls = client.get("/health").json["controls"]["5"]
    assert controls["task_type"] == "choices" and len(controls["served_controls"]) == 2


def test_a_base_head_matches_through_predicted_values_and_serves_the_project_names(choice_client):
    config = """<View><Text name="text" value="$text"/><Choices name="mood" toName="text">
    <Choice value="Happy" predicted_values="positive"/><Choice value="Sad" predicted_values="negative"/>
    <Choice value="Meh" predicted_values="neutral"/></Choices></View>"""
    answer = choice_client.post("/setup", json={"project": "6", "schema": config}).json
    assert answer["model_version"].startswith("base-choice-model")
    results = predict(choice_client, TASKS, config=config, project="6").json["results"]
    assert [r["result"][0]["value"]["choices"] for r in results] == [["Happy"], ["Happy"], ["Sad"]]
    assert [r["result"][0]["from_name"] for r in results] == ["mood"] * 3
