"""Labels with characters MLflow refuses in names still give a run all its metrics, under unique safe names."""

from __future__ import annotations

from training.tracking import label_metric_names, log_training_run

LABELS = ["Date&Time", "Person (name)", "C++", "C**", "ORG"]


def per_type(labels):
    return {
        label: {"precision": 0.5, "recall": 0.5, "f1": 0.1 * (i + 1), "support": 3} for i, label in enumerate(labels)
    }


def test_labels_that_sanitise_alike_get_distinct_names_and_plain_labels_keep_theirs():
    names = label_metric_names(LABELS)
    assert len(set(names.values())) == len(LABELS)
    assert names["ORG"] == "ORG" and names["Date&Time"] == "Date_Time"
    assert names["C++"].startswith("C___") and names["C**"].startswith("C___")
    assert label_metric_names(reversed(LABELS)) == names  # the same names whatever the order


def test_a_run_with_unusual_labels_has_all_its_metrics_and_the_raw_labels_as_tags(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    metrics = {"entity_f1": 0.5, "per_type": per_type(LABELS)}
    run_id = log_training_run(
        uri, "7", "p7-v1-n12", {"labels": ",".join(LABELS)}, [{"epoch": 1, "loss": 0.3}], metrics, metrics, "report", []
    )
    assert run_id is not None
    run = MlflowClient(tracking_uri=uri).get_run(run_id)
    names = label_metric_names(LABELS)
    for i, label in enumerate(LABELS):
        for prefix in ("final_", "current_"):
            assert run.data.metrics[f"{prefix}f1_{names[label]}"] == 0.1 * (i + 1)
    raw_by_tag = {k[len("label.f1_") :]: v for k, v in run.data.tags.items() if k.startswith("label.f1_")}
    assert raw_by_tag == {names[label]: label for label in LABELS if label != "ORG"}
    assert run.info.status == "FINISHED"
