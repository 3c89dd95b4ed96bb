"""A `<Labels>` and a `<Choices>` on one text, served by one model version: /setup and /health list both controls,
/predict answers one prediction per task holding the spans and the choices (validated by label-studio-sdk's own
validator, `tests.support.predictions`), scored by its least sure part, and /select_samples ranks in that order.
The training job trains both parts into one version, which is deployed and rolled back as one; the deploy policy
judges it on the mean over controls of each control's own figure.

The two parts are the tiny real models of tests/support: the rule model reads entities, the choice model reads
cue words (`tests.support.combined`)."""

from __future__ import annotations

import pytest

from services.train_job import read_examples
from settings import Settings
from store.local import LocalStore
from tests.support.bodies import annotation_webhook
from tests.support.choice_model import CLASSES, SENTIMENT_CONFIG, build_choice_model
from tests.support.combined import COMBINED_CONFIG, combined_task, combined_tasks, save_combined_version
from tests.support.jobs import wait_job
from tests.support.redis_server import rq_worker
from tests.support.rule_model import LABELS, NER_TAGS, RULES, build_rule_model
from tests.support.serving import results_once_serving
from text.label_config import parse_project_config
from training.combined_pipeline import run_combined_training
from training.pipeline import NoTrainingDataError

NER_CONFIG = """<View><Text name="text" value="$text"/>
<Labels name="label" toName="text"><Label value="PER"/><Label value="ORG"/><Label value="LOC"/><Label value="MISC"/>
</Labels></View>"""

TASKS = [
    {"id": 1, "data": {"text": "good angela merkel in berlin"}},  # sure of both
    {"id": 2, "data": {"text": "a good day maybe"}},  # sure of the choice, unsure of a word's tag
    {"id": 3, "data": {"text": "tim cook in tokyo"}},  # sure of the entities, no sentiment cue
]


@pytest.fixture(scope="module")
def choice_model_dir(tmp_path_factory):
    return build_choice_model(tmp_path_factory.mktemp("choice-model"))


def predict(client, tasks, config=COMBINED_CONFIG, project="8"):
    response = client.post("/predict", json={"tasks": tasks, "label_config": config, "project": project})
    assert response.status_code == 200, response.json
    return response.json["results"]


@pytest.fixture
def combined_client(make_client, rule_model_dir, choice_model_dir, tmp_path):
    """A client whose project 8 serves a combined version of the rule model and the choice model."""
    version = save_combined_version(LocalStore(tmp_path / "models"), "8", rule_model_dir, choice_model_dir)
    LocalStore(tmp_path / "models").deploy("8", version)
    return make_client(BASELINE_MODEL_NAME=rule_model_dir)


def test_setup_and_health_list_the_labels_and_the_choices_as_served(combined_client):
    answer = combined_client.post("/setup", json={"project": "8", "schema": COMBINED_CONFIG}).json
    assert answer["model_version"] == "p8-v1-n1" and answer["task_type"] == "ner+choices"
    assert answer["served_controls"] == [
        {"name": "label", "tag": "Labels", "to_name": "text"},
        {"name": "sentiment", "tag": "Choices", "to_name": "text", "choice": "single"},
    ]
    assert answer["ignored_controls"] == []
    predict(combined_client, TASKS[:1])
    health = combined_client.get("/health").json
    assert health["controls"]["8"]["task_type"] == "ner+choices"
    assert [c["tag"] for c in health["controls"]["8"]["served_controls"]] == ["Labels", "Choices"]
    (model,) = [m for m in health["models"].values() if m["model_version"] == "p8-v1-n1"]
    assert model["trained"] is True and model["choices_trained"] is True


def test_one_prediction_per_task_holds_the_spans_and_the_choice_scored_by_the_least_sure_part(
    combined_client, make_client, choice_model_dir
):
    results = predict(combined_client, TASKS)
    assert [r["model_version"] for r in results] == ["p8-v1-n1"] * 3
    spans = [
        [(r["value"]["text"], r["value"]["labels"][0]) for r in p["result"] if r["type"] == "labels"] for p in results
    ]
    choices = [[r["value"]["choices"] for r in p["result"] if r["type"] == "choices"] for p in results]
    assert spans[0] == [("angela merkel", "PER"), ("berlin", "LOC")] and spans[2] == [
        ("tim cook", "PER"),
        ("tokyo", "LOC"),
    ]
    assert choices[0] == [["positive"]] and choices[1] == [["positive"]]
    # Each part alone, as a project of that one kind serves it: the combined task score is the lower of the two.
    span_only = [p["score"] for p in predict(combined_client, TASKS, config=NER_CONFIG, project="9")]
    choice_client = make_client(BASELINE_MODEL_NAME=choice_model_dir)
    choice_only = [p["score"] for p in predict(choice_client, TASKS, config=SENTIMENT_CONFIG, project="10")]
    assert [p["score"] for p in results] == pytest.approx([min(a, b) for a, b in zip(span_only, choice_only)], abs=1e-6)
    # The unsure word and the missing cue each make their task less sure than the task both parts are sure of.
    assert results[0]["score"] > max(results[1]["score"], results[2]["score"])
    assert span_only[1] < span_only[2] and choice_only[2] < choice_only[1]


def test_select_samples_ranks_by_the_combined_task_score(combined_client):
    body = {"tasks": TASKS, "label_config": COMBINED_CONFIG, "project": 8, "limit": 3, "diversity": False}
    response = combined_client.post("/select_samples", json=body)
    assert response.status_code == 200, response.json
    assert response.json["mode"] == "uncertainty" and response.json["model_version"] == "p8-v1-n1"
    scores = {t["id"]: p["score"] for t, p in zip(TASKS, predict(combined_client, TASKS))}
    picked = response.json["task_ids"]
    assert picked == sorted(scores, key=scores.get) and picked[-1] == 1
    for task_id, value in zip(picked, response.json["scores"]):
        assert scores[task_id] == pytest.approx(1 - value, abs=1e-5)


def test_a_version_of_one_kind_serves_its_part_beside_the_base_model(make_client, rule_model_dir, tmp_path):
    """A project whose config gained Choices after an NER version was deployed: the NER version serves the spans,
    the classifier is the base checkpoint's fresh head (untrained: no choice shown) until a combined job runs."""
    store = LocalStore(tmp_path / "models")
    ner_only = store.save("8", 3, lambda d: _copy(rule_model_dir, d), {"labels": list(LABELS), "tags": NER_TAGS})
    store.deploy("8", ner_only.name)
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir)
    (result,) = predict(client, TASKS[:1])
    assert result["model_version"] == ner_only.name
    assert [r["type"] for r in result["result"]] == ["labels", "labels"]


def _copy(source, directory):
    import shutil

    shutil.copytree(source, directory, dirs_exist_ok=True)


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["in-process", "rq"])
def test_webhook_annotations_train_one_version_of_both_parts_deployed_and_rolled_back_as_one(
    runner, make_client, rule_model_dir, choice_model_dir, tmp_path, request
):
    store = LocalStore(tmp_path / "models")
    first = save_combined_version(store, "11", rule_model_dir, choice_model_dir)
    store.deploy("11", first)
    env = dict(
        BASELINE_MODEL_NAME=rule_model_dir,
        START_TRAINING_EACH_N_UPDATES=12,
        MIN_TRAIN_STEPS=4,
        DEPLOY_POLICY="always",
        TRAINING_START="warm",
        FINAL_FIT="all" if runner == "rq" else "train",  # each part fitted again on all labels, in one of the two
        MODEL_DIR=tmp_path / "models",
    )
    if runner == "rq":  # a real `rq worker` process runs the job, on a Redis of this test's own
        redis_url = request.getfixturevalue("private_redis").url
        env["REDIS_URL"] = redis_url
        worker = rq_worker(redis_url, tmp_path / "rq-worker.log", **{k: str(v) for k, v in env.items()})
        request.addfinalizer(worker.stop)
    client = make_client(**env)
    assert client.post("/setup", json={"project": "11", "schema": COMBINED_CONFIG}).json["model_version"] == first
    tasks = combined_tasks(10)
    tasks.append(combined_task(11, "positive", choice=False))  # spans, no choice: trains NER only
    tasks.append(combined_task(12, "negative", spans=False))  # a choice, no spans: the classifier trains on it
    for i, task in enumerate(tasks):
        client.post(
            "/webhook", json=annotation_webhook(task, annotated=i + 1, project=11, label_config=COMBINED_CONFIG)
        )
    state = wait_job(client, lambda s: s.get("state") in ("finished", "failed"), timeout=300, poll=0.5, project="11")
    assert state["state"] == "finished", state
    assert state["version"] == "p11-v2-n12" and state["deployed"] is True
    assert state["extraction"]["ner"]["examples"] == 12 and state["extraction"]["choices"]["examples"] == 11
    assert set(state["controls"]) == {"label", "sentiment"}

    info = store.get("11", "p11-v2-n12")
    assert info.meta["task_type"] == "ner+choices" and info.meta["deploy_metric"] == "mean_control_score"
    assert info.meta["choices"]["task_type"] == "choices" and info.meta["choices"]["train_size"] >= 1
    assert (info.path / "config.json").is_file() and (info.path / "choices" / "config.json").is_file()
    refit = env["FINAL_FIT"] == "all"  # then each part keeps the candidate that never saw the validation tasks
    assert (info.meta["final_fit"], info.meta["choices"]["final_fit"]) == (env["FINAL_FIT"], env["FINAL_FIT"])
    assert (info.path / "candidate").is_dir() == (info.path / "choices" / "candidate").is_dir() == refit
    if runner == "in-process":  # one MLflow run holds both parts' figures and the deploy metric
        from mlflow.tracking import MlflowClient

        tracking = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'models' / 'mlflow.db'}")
        (experiment,) = [e for e in tracking.search_experiments() if e.name.endswith("project-11")]
        (run,) = tracking.search_runs([experiment.experiment_id])
        logged = run.data.metrics
        assert logged["final_mean_control_score"] == pytest.approx(info.meta["metrics"]["mean_control_score"])
        assert {"final_entity_f1", "final_choices.macro_f1", "final_f1_PER"} <= set(logged)
        assert any(name.startswith("final_f1_choices") for name in logged)
        assert "confusion_sentiment.json" in {a.path for a in tracking.list_artifacts(run.info.run_id)}
    results = results_once_serving(lambda: {"results": predict(client, TASKS[:1], project="11")}, "p11-v2-n12")
    assert {r["type"] for r in results[0]["result"]} == {"labels", "choices"}

    rollback = client.post("/deploy", json={"project_id": 11, "version": first})
    assert rollback.status_code == 200
    results = results_once_serving(lambda: {"results": predict(client, TASKS[:1], project="11")}, first)
    assert results[0]["model_version"] == first and {r["type"] for r in results[0]["result"]} == {"labels", "choices"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "current, deployed",
    [
        # The current version finds one of two entities per text (F1 2/3) and always picks the wrong sentiment:
        # NER 2/3 -> about 0, sentiment 0 -> 1, the mean gains.
        ("half-ner, wrong-choices", True),
        # The current version finds every entity and calls every text positive (macro-F1 1/6): NER 1 -> about 0,
        # sentiment 1/6 -> 1, the mean loses.
        ("all-ner, half-choices", False),
    ],
)
def test_if_better_judges_a_version_whose_ner_loses_and_choices_gain_on_the_mean_over_controls(
    current, deployed, rule_model_dir, tmp_path
):
    """The candidate starts from a base checkpoint whose classification head already knows the project's classes
    (macro-F1 1) and whose token head is fresh (entity F1 about 0), and barely moves from it (a learning rate of
    1e-8): against the current version it loses on the Labels and gains on the Choices. The mean over the controls
    decides: deployed when the gain is the larger, kept out when the loss is."""
    base = build_choice_model(tmp_path / "base")  # positive / negative / neutral, cued by good / bad / okay
    ner_rules = RULES if current.startswith("all") else {k: v for k, v in RULES.items() if v.endswith("PER")}
    ner_dir = build_rule_model(tmp_path / "ner", NER_TAGS, ner_rules)
    cues = {"good": "negative", "bad": "positive"} if "wrong" in current else {"good": "positive"}
    choice_dir = build_choice_model(tmp_path / "choices", classes=CLASSES, cues=cues)
    settings = Settings.from_env(
        {
            "MODEL_DIR": str(tmp_path / "models"),
            "BASELINE_MODEL_NAME": str(base),
            "DEPLOY_POLICY": "if_better",
            "TRAINING_START": "scratch",
            "FINAL_FIT": "train",
            "MIN_TRAIN_STEPS": "2",
            "NUM_TRAIN_EPOCHS": "1",
            "LEARNING_RATE": "1e-8",
        }
    )
    store = LocalStore(settings.model_dir)
    store.deploy("12", save_combined_version(store, "12", ner_dir, choice_dir))
    config = parse_project_config(COMBINED_CONFIG).served
    examples, _ = read_examples(combined_tasks(24), config)

    outcome = run_combined_training("12", examples, config, settings, store)

    new, old = outcome.metrics["controls"], outcome.current_metrics["controls"]
    assert new["label"] < old["label"] and new["sentiment"] > old["sentiment"]  # one loses, one gains
    assert outcome.metrics["mean_control_score"] == pytest.approx((new["label"] + new["sentiment"]) / 2)
    assert outcome.current_metrics["mean_control_score"] == pytest.approx((old["label"] + old["sentiment"]) / 2)
    gained = outcome.metrics["mean_control_score"] >= outcome.current_metrics["mean_control_score"]
    assert gained is deployed and outcome.deployed is deployed
    assert (store.deployed("12") == outcome.version) is deployed
    assert "mean control score" in outcome.reason and "label" in outcome.reason


@pytest.mark.slow
@pytest.mark.parametrize("missing", ["ner", "choices"])
def test_a_part_with_nothing_to_learn_is_carried_over_from_the_deployed_version(
    missing, rule_model_dir, choice_model_dir, tmp_path
):
    """Annotations with a choice and no spans at all (or spans and no choice): the job trains the part it has and
    the new version keeps the deployed version's other part, judged on the controls that trained."""
    settings = Settings.from_env(
        {
            "MODEL_DIR": str(tmp_path / "models"),
            "BASELINE_MODEL_NAME": str(rule_model_dir),
            "DEPLOY_POLICY": "always",
            "FINAL_FIT": "train",
            "MIN_TRAIN_STEPS": "2",
            "NUM_TRAIN_EPOCHS": "1",
        }
    )
    store = LocalStore(settings.model_dir)
    first = save_combined_version(store, "13", rule_model_dir, choice_model_dir)
    store.deploy("13", first)
    config = parse_project_config(COMBINED_CONFIG).served
    tasks = [combined_task(i, "positive" if i % 2 else "negative", spans=missing != "ner") for i in range(1, 9)]
    if missing == "choices":
        tasks = [combined_task(i, "positive", choice=False) for i in range(1, 9)]
    examples, _ = read_examples(tasks, config)

    outcome = run_combined_training("13", examples, config, settings, store)

    meta = store.get("13", outcome.version).meta
    assert outcome.deployed and meta["carried"] == {missing: first} and first in outcome.reason
    trained = "sentiment" if missing == "ner" else "label"
    assert set(meta["control_scores"]) == {trained}
    assert outcome.metrics["mean_control_score"] == pytest.approx(meta["control_scores"][trained])
    kept, new = store.get("13", first).path, store.get("13", outcome.version).path
    if missing == "ner":  # the deployed NER weights, byte for byte; a newly trained classifier
        assert (new / "model.safetensors").read_bytes() == (kept / "model.safetensors").read_bytes()
        assert meta["labels"] == list(LABELS) and meta["choices"]["train_size"] >= 1
    else:
        old_weights = (kept / "choices" / "model.safetensors").read_bytes()
        assert (new / "choices" / "model.safetensors").read_bytes() == old_weights
        assert meta["choices"]["labels"] == list(CLASSES) and meta["train_size"] >= 1
    assert not (new / "choices" / "choices").exists() and not (new / "choices" / "meta.json").exists()


def test_a_part_with_nothing_to_learn_and_nothing_deployed_fails_the_job_naming_it(rule_model_dir, tmp_path):
    settings = Settings.from_env({"MODEL_DIR": str(tmp_path / "models"), "BASELINE_MODEL_NAME": str(rule_model_dir)})
    config = parse_project_config(COMBINED_CONFIG).served
    examples, _ = read_examples([combined_task(i, spans=False) for i in range(1, 5)], config)
    with pytest.raises(NoTrainingDataError, match="marks an entity"):
        run_combined_training("14", examples, config, settings, LocalStore(settings.model_dir))
    assert LocalStore(settings.model_dir).versions("14") == []
