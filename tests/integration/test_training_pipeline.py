"""Fine-tunes the real default base model (all-MiniLM-L6-v2) on generated tasks, end to end through the store."""

from __future__ import annotations

import pytest

from bench.corpus import LABEL_CONFIG, make_tasks
from modeling.base_model import load_base_model, load_saved_model
from modeling.inference import Predictor
from settings import Settings
from store.local import LocalStore
from text.label_config import parse_ner_config
from training.annotations import tasks_to_examples
from training.dataset import is_validation
from training.evaluation import evaluate_model
from training.pipeline import run_training

pytestmark = pytest.mark.slow


def held_out_f1(loaded, examples, settings) -> float:
    predictor = Predictor(loaded.model, loaded.tokenizer, settings.max_sequence_length)
    return evaluate_model(predictor, loaded.tags, examples, loaded.label_map)["entity_f1"]


def test_fine_tune_deploy_track_and_refuse_a_worse_model(tmp_path):
    from mlflow.tracking import MlflowClient

    # FINAL_FIT=train keeps this long test to one fit per job; test_training_regime.py covers the fit on all labels.
    settings = Settings.from_env(
        {
            "MODEL_DIR": str(tmp_path / "models"),
            "DEPLOY_POLICY": "if_better",
            "FINAL_FIT": "train",
            "TRAINING_START": "scratch",
        }
    )
    assert settings.mlflow_tracking_uri.startswith("sqlite:///") and str(tmp_path) in settings.mlflow_tracking_uri
    store = LocalStore(settings.model_dir, keep=settings.keep_versions)
    config = parse_ner_config(LABEL_CONFIG)
    examples, _ = tasks_to_examples(make_tasks(50, seed=0), config)
    held_out, _ = tasks_to_examples(make_tasks(150, seed=1000, start_id=100_000), config)
    untrained = held_out_f1(load_base_model(None, list(config.labels)), held_out, settings)

    seen = []
    first = run_training("7", examples, config, settings, store, progress=lambda f, m: seen.append((f, m)))

    # Trained, better than what served before on the same split, saved and deployed.
    assert first.deployed and store.deployed("7") == first.version == "p7-v1-n50"
    held = sum(is_validation(e, settings.validation_split) for e in examples)
    assert 5 <= held <= 15 and (first.train_size, first.validation_size) == (50 - held, held)
    assert not first.validation_is_train and first.final_fit == "train" and first.start == "base:default"
    assert first.metrics["entity_f1"] > first.current_metrics["entity_f1"]
    assert len(first.history) >= 10 and first.history[-1]["loss"] < first.history[0]["loss"]
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    meta = store.get("7", first.version).meta
    assert meta["labels"] == ["PER", "ORG", "LOC", "MISC"] and meta["tags"][0] == "O"
    assert meta["deployed"] and meta["policy"] == "if_better" and meta["annotations"] == 50
    assert meta["metrics"]["entity_f1"] == pytest.approx(first.metrics["entity_f1"])
    assert meta["alignment"]["aligned"] > 0 and meta["train_size"] == 50 - held

    # On sentences it never saw, the served model beats the untrained one and reaches F1 >= 0.45.
    v1 = load_saved_model(str(store.get("7", first.version).path), {l: l for l in config.labels})
    trained = held_out_f1(v1, held_out, settings)
    assert trained > untrained and trained >= 0.45, (trained, untrained)

    # MLflow holds the run: parameters, per-epoch metrics, per-type F1, report and learning curve.
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name("ner-project-7")
    run = client.get_run(first.run_id)
    assert run.info.experiment_id == experiment.experiment_id and run.info.status == "FINISHED"
    assert run.data.params["annotations"] == "50" and run.data.params["learning_rate"] == str(settings.learning_rate)
    assert run.data.metrics["final_entity_f1"] == pytest.approx(first.metrics["entity_f1"])
    assert "final_f1_PER" in run.data.metrics
    assert len(client.get_metric_history(first.run_id, "val_entity_f1")) == len(first.history)
    artifacts = {a.path for a in client.list_artifacts(first.run_id)}
    assert {"classification_report.txt", "learning_curve.png", "metrics.json"} <= artifacts

    # A run that makes things worse (a far too high learning rate) is saved but not deployed under if_better.
    harsh = settings.replace(learning_rate=0.02, num_train_epochs=1, min_train_steps=0)
    second = run_training("7", examples, config, harsh, store)
    assert second.start == "base:default" and second.current_version == first.version  # TRAINING_START=scratch
    assert second.current_metrics["entity_f1"] == pytest.approx(first.metrics["entity_f1"])
    assert second.metrics["entity_f1"] < second.current_metrics["entity_f1"]
    assert not second.deployed and store.deployed("7") == first.version
    assert [v.name for v in store.versions("7")] == [first.version, second.version]
    assert store.get("7", second.version).meta["deployed"] is False
    # The deployed version is still loadable and still predicts what it did.
    again = load_saved_model(str(store.get("7", first.version).path), {l: l for l in config.labels})
    assert held_out_f1(again, held_out[:30], settings) == pytest.approx(held_out_f1(v1, held_out[:30], settings))
    assert len(client.search_runs([experiment.experiment_id])) == 2
