"""FINAL_FIT and EPOCH_SELECTION for classification versions, through the real classification pipeline on a small
real classifier (`tests.support.choice_model`): a deployed candidate is fitted again on every labelled task, the
candidate that never saw the validation tasks is kept in `candidate/` and is what the next job is judged against;
with EPOCH_SELECTION=best the candidate keeps its best epoch on one half of the held-out tasks and is judged on the
other."""

from __future__ import annotations

import pytest
import torch

from modeling.classifier import load_saved_classifier
from settings import Settings
from store.local import LocalStore
from tests.support.choice_model import TOPICS_CONFIG, build_choice_model, choice_tasks
from tests.support.jobs import job_settings
from text.label_config import parse_project_config
from training.classification import classifier_predictor, score_classifier, stratified_split
from training.classification_data import tasks_to_choice_examples
from training.classification_pipeline import run_classification_training
from training.dataset import with_epoch_choice
from training.trainer import CANDIDATE_DIR

CONFIG = parse_project_config(TOPICS_CONFIG).served
SAME = {c: c for c in CONFIG.labels}


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    # Classes that match none of the project's: a fresh head, so every fit has something to learn.
    return build_choice_model(tmp_path_factory.mktemp("base"), classes=["x", "y"], cues={"good": "x", "bad": "y"})


@pytest.fixture
def settings_for(tmp_path, base_dir):
    def make(**env) -> Settings:
        base = {
            "MODEL_DIR": str(tmp_path / "models"),
            "BASELINE_MODEL_NAME": str(base_dir),
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "MIN_TRAIN_STEPS": "12",
            "NUM_TRAIN_EPOCHS": "1",
            "LEARNING_RATE": "0.05",
            "MAX_SEQUENCE_LENGTH": "32",
            "DEPLOY_POLICY": "always",
            "TRAINING_START": "scratch",
        }
        return job_settings(base, **env)

    return make


def examples(n: int, start_id: int = 1):
    return tasks_to_choice_examples(choice_tasks(n, start_id=start_id), CONFIG)[0]


def head(path) -> torch.Tensor:
    return load_saved_classifier(str(path), SAME).model.classifier.weight.detach().clone()


def test_a_deployed_classifier_is_judged_on_held_out_tasks_then_fitted_on_every_task(settings_for):
    settings = settings_for(FINAL_FIT="all")
    store = LocalStore(settings.model_dir)
    data = examples(24)
    split = stratified_split(data, settings.validation_split)
    assert not split.validation_is_train and len(split.validation) >= 2
    seen = []

    outcome = run_classification_training("7", data, CONFIG, settings, store, progress=lambda f, m: seen.append((f, m)))

    assert outcome.deployed and outcome.final_fit == "all"
    version = store.get("7", outcome.version)
    meta = version.meta
    assert meta["final_fit"] == "all" and meta["final_fit_training"]["steps"] >= 12
    assert meta["train_size"] == len(split.train) and meta["validation_size"] == len(split.validation)
    # The decision's macro-F1 is the candidate's on the held-out tasks; the candidate is kept beside the served model.
    candidate = load_saved_classifier(str(version.path / CANDIDATE_DIR), SAME)
    thresholds = {s: meta["thresholds"][c.from_name] for s, (c, _, _) in enumerate(CONFIG.segments()) if c.multiple}
    rescored = score_classifier(classifier_predictor(candidate, CONFIG, settings, thresholds), split.validation, CONFIG)
    assert rescored["macro_f1"] == pytest.approx(outcome.metrics["macro_f1"])
    assert not torch.equal(head(version.path), head(version.path / CANDIDATE_DIR)), "the served one trained again"
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(m.startswith("candidate: ") for _, m in seen)
    assert any(m.startswith("final fit on all 24 tasks: ") for _, m in seen)


@pytest.mark.parametrize("final_fit, policy", [("train", "always"), ("all", "manual")])
def test_a_classifier_that_is_not_refitted_is_the_candidate_itself(settings_for, final_fit, policy):
    settings = settings_for(FINAL_FIT=final_fit, DEPLOY_POLICY=policy)
    store = LocalStore(settings.model_dir)
    seen = []

    outcome = run_classification_training(
        "7", examples(24), CONFIG, settings, store, progress=lambda f, m: seen.append((f, m))
    )

    assert outcome.final_fit == store.get("7", outcome.version).meta["final_fit"] == "train"
    assert outcome.deployed == (policy == "always")
    assert not (store.get("7", outcome.version).path / CANDIDATE_DIR).exists()
    assert not any("final fit" in m for _, m in seen)


def test_the_next_classification_job_is_judged_against_the_candidate_that_never_saw_its_validation_tasks(
    settings_for,
):
    store = LocalStore(settings_for().model_dir)
    first = run_classification_training("7", examples(24), CONFIG, settings_for(FINAL_FIT="all"), store)
    settings = settings_for(FINAL_FIT="all", TRAINING_START="warm")

    second = run_classification_training("7", examples(24) + examples(8, start_id=25), CONFIG, settings, store)

    meta = store.get("7", second.version).meta
    assert second.current_version == first.version
    assert meta["baseline"] == f"deployed:{first.version}/{CANDIDATE_DIR}" == meta["start"]
    assert second.final_fit == "all" and (store.get("7", second.version).path / CANDIDATE_DIR).is_dir()


def noisy_examples(n: int):
    """Every fifth task has the other sentiment: at a high learning rate the macro-F1 on held-out tasks rises and
    falls from epoch to epoch (seeded, so on every run), and the best epoch is not the last."""
    tasks = choice_tasks(n)
    for i, task in enumerate(tasks):
        if i % 5 == 4:
            value = task["annotations"][0]["result"][0]["value"]
            value["choices"] = ["negative" if value["choices"] == ["positive"] else "positive"]
    return tasks_to_choice_examples(tasks, CONFIG)[0]


OSCILLATING = {"EPOCH_SELECTION": "best", "VALIDATION_SPLIT": "0.4", "LEARNING_RATE": "0.3", "NUM_TRAIN_EPOCHS": "8"}


def test_best_epoch_serves_the_classifier_that_scored_best_on_one_half_and_is_judged_on_the_other(settings_for):
    settings = settings_for(FINAL_FIT="train", MIN_TRAIN_STEPS=8, **OSCILLATING)
    store = LocalStore(settings.model_dir)
    data = noisy_examples(60)
    split = with_epoch_choice(stratified_split(data, settings.validation_split), settings.validation_split)
    assert split.epoch_choice and split.validation

    outcome = run_classification_training("7", data, CONFIG, settings, store)

    meta = store.get("7", outcome.version).meta
    chosen = [h["val_macro_f1"] for h in outcome.history]
    best = meta["best_epoch"]
    assert best < len(chosen), "precondition: the best epoch is not the last"
    assert chosen[best - 1] == max(chosen) and best == max(e for e, f in enumerate(chosen, 1) if f == max(chosen))
    served = load_saved_classifier(str(store.get("7", outcome.version).path), SAME)
    on_choice = score_classifier(classifier_predictor(served, CONFIG, settings), split.epoch_choice, CONFIG)
    assert on_choice["macro_f1"] == pytest.approx(max(chosen))
    thresholds = {s: meta["thresholds"][c.from_name] for s, (c, _, _) in enumerate(CONFIG.segments()) if c.multiple}
    judged = score_classifier(classifier_predictor(served, CONFIG, settings, thresholds), split.validation, CONFIG)
    assert outcome.metrics["macro_f1"] == pytest.approx(judged["macro_f1"])
    assert (meta["validation_size"], meta["epoch_choice_size"]) == (len(split.validation), len(split.epoch_choice))
    assert meta["epoch_selection"] == "best"


def test_the_classifiers_fit_on_every_task_stops_after_the_candidates_best_epoch(settings_for):
    settings = settings_for(FINAL_FIT="all", MIN_TRAIN_STEPS=8, **OSCILLATING)
    store = LocalStore(settings.model_dir)

    outcome = run_classification_training("7", noisy_examples(60), CONFIG, settings, store)

    meta = store.get("7", outcome.version).meta
    assert outcome.final_fit == "all" and meta["best_epoch"] < meta["training"]["epochs"]
    assert meta["final_fit_training"]["epochs"] == meta["best_epoch"]
