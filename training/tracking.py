"""MLflow records of training jobs: one experiment per project, one run per job, plus a learning-curve plot.

MLflow is an edge: it is imported lazily (the import is slow) and any failure is logged as a warning, never
raised, so a broken tracking server cannot fail a training job.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import time
from pathlib import Path

from store.mlflow_registry import ensure_experiment, experiment_name

log = logging.getLogger(__name__)

__all__ = ["experiment_name", "label_metric_names", "learning_curve_points", "log_training_run", "metric_safe"]


# Characters MLflow accepts in metric and tag names on every platform (":" is refused on Windows and "/" reads as a
# path), so a name built from a label is portable between tracking stores.
_NOT_PORTABLE = re.compile(r"[^\w.\- ]")
_MAX_LABEL_PART = 200  # MLflow keys are at most 250 characters; the prefix and a hash suffix need the rest


def metric_safe(label: str) -> str:
    """A label as MLflow accepts it in a name: one bad character makes MLflow refuse the whole metric batch."""
    return _NOT_PORTABLE.sub("_", label)[:_MAX_LABEL_PART]


def label_metric_names(labels) -> dict[str, str]:
    """Raw label -> metric-safe name, unique even when two labels sanitise alike.

    A label changed by sanitising gets a short hash of its raw text appended only when it collides, so the names
    stay readable and, for a given label set, the same from one run to the next (learning curves line up).
    """
    groups: dict[str, list[str]] = {}
    for label in labels:
        groups.setdefault(metric_safe(label), []).append(label)
    names = {}
    for safe, raws in groups.items():
        for raw in raws:
            collides = len(raws) > 1 and raw != safe
            names[raw] = f"{safe}_{hashlib.sha1(raw.encode()).hexdigest()[:6]}" if collides else safe
    return names


def per_type_metrics(prefix: str, per_type: dict, now: int) -> tuple[list, dict[str, str]]:
    """Per-label F1 metrics under safe names, and tags that map each changed name back to its raw label."""
    from mlflow.entities import Metric

    names = label_metric_names(per_type)
    metrics = [Metric(f"{prefix}f1_{names[label]}", float(values["f1"]), now, 0) for label, values in per_type.items()]
    tags = {f"label.f1_{name}": label for label, name in names.items() if name != label}
    return metrics, tags


def learning_curve_points(versions) -> list[tuple[int, float]]:
    """(annotations, validation entity F1) of each stored version that recorded metrics, oldest first."""
    points = []
    for v in versions:
        f1 = (v.meta.get("metrics") or {}).get("entity_f1")
        if isinstance(f1, (int, float)):
            points.append((int(v.meta.get("annotations", 0)), float(f1)))
    return points


def plot_learning_curve(points: list[tuple[int, float]], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.2), dpi=100)
    ax = fig.subplots()
    if points:
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o")
    ax.set_xlabel("annotations used")
    ax.set_ylabel("validation entity F1 (strict IOB2)")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def log_training_run(
    tracking_uri: str,
    project: str,
    version: str,
    params: dict,
    history: list[dict],
    metrics: dict,
    current_metrics: dict | None,
    report_text: str,
    learning_curve: list[tuple[int, float]],
    tags: dict | None = None,
    run_id: str | None = None,
) -> str | None:
    """Log one training job; returns the MLflow run id, or None when MLflow failed (a warning says why).

    `run_id`: the run that already holds the version's files (MODEL_STORE=mlflow), so one job is one run."""
    try:
        return _log(
            tracking_uri,
            project,
            version,
            params,
            history,
            metrics,
            current_metrics,
            report_text,
            learning_curve,
            tags or {},
            run_id,
        )
    except Exception as exc:  # tracking is best-effort
        log.warning("MLflow logging failed for project %s (%s): %s", project, tracking_uri, exc)
        return None


def _log(
    tracking_uri,
    project,
    version,
    params,
    history,
    metrics,
    current_metrics,
    report_text,
    learning_curve,
    tags,
    run_id=None,
):
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    run_tags = {"project": str(project), "model_version": version, **{k: str(v) for k, v in tags.items()}}
    if run_id is None:
        experiment_id = ensure_experiment(client, tracking_uri, str(project))
        run_id = client.create_run(experiment_id, run_name=version, tags=run_tags).info.run_id
    else:
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in run_tags.items()])
    try:
        now = int(time.time() * 1000)
        batch: list = []
        label_tags: dict[str, str] = {}
        for entry in history:
            step = int(entry["epoch"])
            batch += [
                Metric(k, float(v), now, step) for k, v in entry.items() if k != "epoch" and isinstance(v, (int, float))
            ]
        for prefix, scores in (("final_", metrics), ("current_", current_metrics or {})):
            batch += [
                Metric(prefix + k, float(v), now, 0)
                for k, v in scores.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            ]
            type_metrics, type_tags = per_type_metrics(prefix, scores.get("per_type") or {}, now)
            batch += type_metrics
            label_tags.update(type_tags)
        param_list = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(param_list), 100):  # MLflow's per-call limits: 100 params, 100 tags, 1000 metrics
            client.log_batch(run_id, params=param_list[i : i + 100])
        tag_list = [RunTag(k, v[:8000]) for k, v in label_tags.items()]
        for i in range(0, len(tag_list), 100):
            client.log_batch(run_id, tags=tag_list[i : i + 100])
        for i in range(0, len(batch), 1000):
            client.log_batch(run_id, metrics=batch[i : i + 1000])
        client.log_text(run_id, report_text or "", "classification_report.txt")
        client.log_dict(run_id, {"metrics": metrics, "current_metrics": current_metrics}, "metrics.json")
        with tempfile.TemporaryDirectory() as tmp:
            png = plot_learning_curve(learning_curve, Path(tmp) / "learning_curve.png", f"project {project}")
            client.log_artifact(run_id, str(png))
        client.set_terminated(run_id, "FINISHED")
    except Exception:
        client.set_terminated(run_id, "FAILED")
        raise
    return run_id
