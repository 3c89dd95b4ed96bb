import pytest

from settings import Settings
from store.local import LocalStore
from text.label_config import NerConfig
from training.annotations import Example
from training.pipeline import NoTrainingDataError, TrainingError, run_training
from training.tracking import learning_curve_points, log_training_run

CONFIG = NerConfig("label", "text", "text", ("PER",))


def test_no_usable_annotation_is_a_named_error_and_saves_nothing(tmp_path):
    settings = Settings.from_env({"MODEL_DIR": str(tmp_path)})
    store = LocalStore(tmp_path)
    with pytest.raises(NoTrainingDataError):
        run_training("3", [], CONFIG, settings, store)
    with pytest.raises(TrainingError, match="marks an entity"):
        run_training("3", [Example(1, "nothing"), Example(2, "here")], CONFIG, settings, store)
    assert store.versions("3") == []


def test_tracking_failure_is_a_warning_not_an_error(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    run = log_training_run(
        f"sqlite:///{blocker}/sub/mlflow.db", "3", "p3-v1-n5", {}, [], {"entity_f1": 1.0}, None, "", []
    )
    assert run is None and "MLflow logging failed" in caplog.text


def test_learning_curve_reads_the_versions_metrics():
    class V:
        def __init__(self, meta):
            self.meta = meta

    versions = [
        V({"annotations": 10, "metrics": {"entity_f1": 0.2}}),
        V({"annotations": 20}),
        V({"annotations": 30, "metrics": {"entity_f1": 0.5}}),
    ]
    assert learning_curve_points(versions) == [(10, 0.2), (30, 0.5)]
