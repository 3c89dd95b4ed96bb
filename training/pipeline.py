"""One training job: annotated examples in, a stored (and perhaps deployed) model version out.

split -> starting model (deployed version or base) -> score it -> fine-tune -> score the new model on the same
validation split -> decide with DEPLOY_POLICY -> save atomically -> deploy -> log to MLflow. The job queue and
webhook triggers call `run_training`; everything they need to report comes back in a `TrainingOutcome`.
"""
from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ner.base_model import DEFAULT_BASE_MODEL
from ner.inference import Predictor
from ner.store import ModelStore, project_key
from ner.tags import tag_labels
from training.annotations import Example
from training.dataset import split_examples
from training.evaluation import evaluate_model, summary
from training.tracking import learning_curve_points, log_training_run
from training.trainer import (
    TrainingDivergedError,
    adapt_head,
    base_model_name,
    fine_tune,
    fresh_start,
    load_starting_point,
)

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
POLICIES = ("always", "if_better", "manual")

__all__ = [
    "TrainingError", "NoTrainingDataError", "TrainingDivergedError", "TrainingOutcome", "decide_deployment",
    "run_training",
]


class TrainingError(Exception):
    """A training job that cannot run because of its input or configuration (a 4xx-type problem)."""


class NoTrainingDataError(TrainingError):
    """No task has a usable annotation, or no annotation marks any entity: there is nothing to learn."""


@dataclass
class TrainingOutcome:
    """What a training job produced and why it was (not) deployed."""

    project: str
    version: str
    deployed: bool
    reason: str
    metrics: dict  # the new model on the validation split (scalars + per_type + report_text)
    current_metrics: dict  # the model serving before this job, on the same split
    current_version: str | None  # None when the base model was serving
    annotations: int
    train_size: int
    validation_size: int
    validation_is_train: bool
    history: list[dict] = field(default_factory=list)
    alignment: dict = field(default_factory=dict)
    start: str = ""  # where training started: "deployed:<version>" or "base:<name>"
    run_id: str | None = None  # MLflow run, None when tracking failed
    seconds: float = 0.0


def decide_deployment(policy: str, new_f1: float, current_f1: float, validation_is_train: bool = False) -> tuple[bool, str]:
    """(deploy?, reason) under DEPLOY_POLICY: always; if_better = new F1 >= current F1 on one split; manual."""
    where = "the training set (too few tasks to hold any out)" if validation_is_train else "the validation split"
    if policy == "always":
        return True, f"DEPLOY_POLICY=always (F1 {new_f1:.3f} vs {current_f1:.3f} on {where})"
    if policy == "manual":
        return False, f"DEPLOY_POLICY=manual: saved, not deployed (F1 {new_f1:.3f} vs {current_f1:.3f} on {where})"
    if policy == "if_better":
        if new_f1 >= current_f1:
            return True, f"new F1 {new_f1:.3f} >= current F1 {current_f1:.3f} on {where}"
        return False, f"new F1 {new_f1:.3f} < current F1 {current_f1:.3f} on {where}: kept the current model"
    raise ValueError(f"unknown deploy policy {policy!r} (expected one of {', '.join(POLICIES)})")


def run_training(
    project: str,
    examples: Sequence[Example],
    config,
    settings,
    store: ModelStore,
    progress: Progress | None = None,
) -> TrainingOutcome:
    """Train, evaluate, save and maybe deploy a new version for `project` (see the module docstring).

    Raises NoTrainingDataError when `examples` holds nothing to learn from and TrainingDivergedError when the
    loss stops being finite; neither leaves a version behind.
    """
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    project = project_key(project)
    examples = list(examples)
    if not examples:
        raise NoTrainingDataError(f"project {project} has no task with a usable annotation")
    if not any(e.spans for e in examples):
        raise NoTrainingDataError(
            f"none of the {len(examples)} annotations of project {project} marks an entity with one of the "
            f"labels {list(config.labels)}"
        )

    split = split_examples(examples, settings.validation_split)
    if split.note:
        log.warning("project %s: %s", project, split.note)
    report(0.02, f"{len(split.train)} tasks to train on, {len(split.validation)} to validate on")

    report(0.04, "loading the current model")
    start = load_starting_point(project, config, settings, store)
    report(0.07, f"scoring the current model ({start.current_version or 'base model'})")
    current_metrics = _score(start.current, split.validation, settings)

    loaded = start.current if start.warm else fresh_start(settings, config)
    if not start.warm:
        log.info("project %s: deployed model knows none of the labels %s, starting from the base model",
                 project, list(config.labels))
        del start.current
        gc.collect()
    adapt_head(loaded, config.labels)
    source = start.source if start.warm else f"base:{base_model_name(settings) or 'default'}"

    def training_progress(fraction: float, message: str) -> None:
        report(0.1 + 0.75 * fraction, message)

    trained = fine_tune(loaded, split.train, split.validation, settings, progress=training_progress)

    report(0.86, "scoring the new model")
    metrics = _score(loaded, split.validation, settings)
    deploy, reason = decide_deployment(
        settings.deploy_policy, metrics["entity_f1"], current_metrics["entity_f1"], split.validation_is_train
    )

    report(0.9, "saving the new version")
    tags = list(loaded.tags)
    meta = {
        "labels": tag_labels(tags),
        "tags": tags,
        "label_map": dict(loaded.label_map),
        "metrics": _stored(metrics),
        "current_metrics": _stored(current_metrics),
        "current_version": start.current_version,
        "policy": settings.deploy_policy,
        "deployed": deploy,
        "reason": reason,
        "alignment": trained.alignment.as_dict(),
        "train_size": len(split.train),
        "validation_size": len(split.validation),
        "validation_is_train": split.validation_is_train,
        "base_model": base_model_name(settings) or DEFAULT_BASE_MODEL,
        "start": source,
        "history": trained.history,
        "training": {"epochs": trained.epochs, "steps": trained.steps, "seconds": round(trained.seconds, 2),
                     "seconds_per_step": round(trained.seconds_per_step, 4), "device": trained.device},
    }

    def write(directory) -> None:
        loaded.model.save_pretrained(directory)
        loaded.tokenizer.save_pretrained(directory)

    info = store.save(project, len(examples), write, meta)
    if deploy:
        store.deploy(project, info.name)
    else:
        store.prune(project)
    report(0.95, f"saved {info.name}" + (" and deployed it" if deploy else " (not deployed)"))

    params = {
        "learning_rate": settings.learning_rate, "num_train_epochs": settings.num_train_epochs,
        "epochs_run": trained.epochs, "steps": trained.steps, "min_train_steps": settings.min_train_steps,
        "weight_decay": settings.weight_decay, "batch_size": settings.batch_size,
        "max_sequence_length": settings.max_sequence_length, "validation_split": settings.validation_split,
        "deploy_policy": settings.deploy_policy, "base_model": meta["base_model"], "start": source,
        "annotations": len(examples), "train_size": len(split.train), "validation_size": len(split.validation),
        "validation_is_train": split.validation_is_train, "labels": ",".join(config.labels),
        "seqeval_mode": metrics["seqeval_mode"], "device": trained.device,
        **{f"alignment_{k}": v for k, v in trained.alignment.as_dict().items()},
    }
    run_id = log_training_run(
        settings.mlflow_tracking_uri, project, info.name, params, trained.history, metrics, current_metrics,
        metrics["report_text"], learning_curve_points(store.versions(project)),
        tags={"deployed": deploy, "current_version": start.current_version or "base"},
    )
    outcome = TrainingOutcome(
        project=project, version=info.name, deployed=deploy, reason=reason, metrics=metrics,
        current_metrics=current_metrics, current_version=start.current_version, annotations=len(examples),
        train_size=len(split.train), validation_size=len(split.validation),
        validation_is_train=split.validation_is_train, history=trained.history,
        alignment=trained.alignment.as_dict(), start=source, run_id=run_id,
        seconds=time.perf_counter() - started,
    )
    report(1.0, f"{info.name}: F1 {metrics['entity_f1']:.3f} (current {current_metrics['entity_f1']:.3f}); {reason}")
    return outcome


def _score(loaded, validation: Sequence[Example], settings) -> dict:
    predictor = Predictor(loaded.model, loaded.tokenizer, settings.max_sequence_length, settings.inference_batch_size)
    return evaluate_model(predictor, loaded.tags, validation, loaded.label_map)


def _stored(metrics: dict) -> dict:
    """Metrics as kept in meta.json: scalars, per-type scores and the mode (the report text goes to MLflow)."""
    return {**summary(metrics), "per_type": metrics.get("per_type", {}), "seqeval_mode": metrics.get("seqeval_mode")}
