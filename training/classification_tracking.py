"""MLflow extras of a classification job: each single-choice control's confusion matrix as JSON and as a plot.

Added to the run `training.tracking.log_training_run` made (best effort like it: a failure is a warning).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def plot_confusion(matrix: list[list[int]], classes: list[str], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    size = max(3.5, 0.6 * len(classes) + 2)
    fig = Figure(figsize=(size, size), dpi=100)
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("annotated")
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    return path


def log_confusion_matrices(tracking_uri: str, run_id: str | None, metrics: dict, config) -> None:
    """`confusion_<control>.json` and `.png` for each single-choice control scored in `metrics`."""
    if run_id is None:
        return
    try:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=tracking_uri)
        controls = metrics.get("controls") or {}
        for control in config.controls:
            matrix = (controls.get(control.from_name) or {}).get("confusion_matrix")
            if matrix is None:
                continue
            classes = list(control.choices)
            name = f"confusion_{control.from_name}"
            client.log_dict(run_id, {"classes": classes, "matrix": matrix}, f"{name}.json")
            with tempfile.TemporaryDirectory() as tmp:
                png = plot_confusion(matrix, classes, Path(tmp) / f"{name}.png", control.from_name)
                client.log_artifact(run_id, str(png))
    except Exception as exc:  # tracking is best-effort
        log.warning("MLflow: could not log the confusion matrices of run %s: %s", run_id, exc)
