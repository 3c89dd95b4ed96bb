"""One training job: annotated examples in, a stored (and perhaps deployed) model version out.

split -> score the current model (weights that never saw the validation tasks) -> train a candidate on the
training side (TRAINING_START: from the base checkpoint, or warm; with EPOCH_SELECTION=best it keeps its best
epoch on one half of the held-out tasks) -> score it on the (other half of the) validation split -> decide with
DEPLOY_POLICY -> if deployed and FINAL_FIT=all, fit again with the same recipe (and epoch) on every example ->
parity gate (SERVING_PRECISION against fp32, `training.parity`) -> save atomically -> deploy -> log to MLflow.
The job queue and webhook triggers call `run_training`; everything they need to report comes back in a
`TrainingOutcome`.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager, Sequence

from modeling.base_model import DEFAULT_BASE_MODEL, LoadedModel
from modeling.inference import Predictor
from modeling.parity import FULL
from modeling.precision import resolve_precision
from store.local import Store, project_key
from text.spans.bio import tag_labels
from training.annotations import Example
from training.dataset import split_examples, with_epoch_choice
from training.deploy_gate import decide_deployment
from training.evaluation import evaluate_model, summary
from training.parity import measure_parity
from training.tracking import learning_curve_points, log_training_run
from training.trainer import (
    CANDIDATE_DIR,
    StartingPoint,
    TrainingDivergedError,
    TrainResult,
    adapt_head,
    base_model_name,
    base_source,
    final_fit_start,
    fine_tune,
    fresh_start,
    load_starting_point,
)

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
DeployGuard = Callable[[], ContextManager[str | None]]

__all__ = [
    "TrainingError",
    "NoTrainingDataError",
    "TrainingDivergedError",
    "TrainingOutcome",
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
    current_metrics: dict  # the model serving before this job (or its candidate, see StartingPoint), same split
    current_version: str | None  # None when the base model was serving
    annotations: int
    train_size: int  # tasks the saved model trained on
    validation_size: int
    validation_is_train: bool
    history: list[dict] = field(default_factory=list)
    alignment: dict = field(default_factory=dict)
    start: str = ""  # where the saved model's training started: "deployed:<version>" or "base:<name>"
    final_fit: str = "train"  # what the saved model trained on: "train" (the training side) or "all" (every task)
    run_id: str | None = None  # MLflow run, None when tracking failed
    seconds: float = 0.0


@dataclass
class Fit:
    """One fine-tuning run of a job: the model it trained in place, where it started and what it trained on."""

    model: LoadedModel
    result: TrainResult
    start: str  # "deployed:<version>[/candidate]" or "base:<name>"
    on: str  # "train": the training side only; "all": every example
    size: int  # examples trained on


@dataclass
class SpanJudgement:
    """The NER part of a job up to the deploy decision: the split, the baseline it was scored against, and the
    candidate trained on the training side and scored on the validation split."""

    split: object
    start: StartingPoint
    current_metrics: dict
    candidate: Fit
    metrics: dict
    refit: bool  # FINAL_FIT=all with tasks held out: a deployed candidate is fitted again on every example
    refit_span: tuple[float, float] | None  # the job's progress range of that fit


def run_training(
    project: str,
    examples: Sequence[Example],
    config,
    settings,
    store: Store,
    progress: Progress | None = None,
    deploy_guard: DeployGuard | None = None,
) -> TrainingOutcome:
    """Train, evaluate, save and maybe deploy a new version for `project` (see the module docstring).

    `deploy_guard()` is held while the deployed pointer moves and says whether this job may move it (None) or why
    not (another job of the project started after it): then the version is saved but not deployed.

    Raises NoTrainingDataError when `examples` holds nothing to learn from and TrainingDivergedError when the
    candidate's loss stops being finite; neither leaves a version behind.
    """
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    project = project_key(project)
    examples = list(examples)
    judged = judge_spans(project, examples, config, settings, store, report)
    metrics, current_metrics = judged.metrics, judged.current_metrics
    deploy, reason = decide_deployment(
        settings.deploy_policy,
        metrics["entity_f1"],
        current_metrics["entity_f1"],
        judged.split.validation_is_train,
        metrics.get("entity_counts"),
        current_metrics.get("entity_counts"),
    )
    served, meta, write, reason = span_version(project, judged, examples, config, settings, deploy, reason, report)
    report(0.9, "saving the new version")
    info, deploy, reason = save_version(project, len(examples), write, meta, deploy, reason, store, deploy_guard)
    report(0.95, f"saved {info.name}" + (" and deployed it" if deploy else " (not deployed)"))

    candidate, split, start = judged.candidate, judged.split, judged.start
    params = _params(meta, served, candidate, split, metrics, config, settings, len(examples))
    run_id = log_training_run(
        settings.mlflow_tracking_uri,
        project,
        info.name,
        params,
        _tracked_history(served, candidate),
        metrics,
        current_metrics,
        metrics["report_text"],
        learning_curve_points(store.versions(project)),
        tags={"deployed": deploy, "current_version": start.current_version or "base"},
        run_id=info.run_id,
    )
    outcome = TrainingOutcome(
        project=project,
        version=info.name,
        deployed=deploy,
        reason=reason,
        metrics=metrics,
        current_metrics=current_metrics,
        current_version=start.current_version,
        annotations=len(examples),
        train_size=served.size,
        validation_size=len(split.validation),
        validation_is_train=split.validation_is_train,
        history=candidate.result.history,
        alignment=served.result.alignment.as_dict(),
        start=served.start,
        final_fit=served.on,
        run_id=run_id,
        seconds=time.perf_counter() - started,
    )
    report(1.0, f"{info.name}: F1 {metrics['entity_f1']:.3f} (current {current_metrics['entity_f1']:.3f}); {reason}")
    return outcome


def judge_spans(
    project: str, examples: list[Example], config, settings, store: Store, report: Progress
) -> SpanJudgement:
    """Split, score the current model, train and score a candidate: everything the deploy decision needs.

    Reports 0.02 to 0.86 of `report` (up to 0.48 with FINAL_FIT=all, which leaves room for the refit)."""
    _check_learnable(project, examples, config)
    split = split_examples(examples, settings.validation_split)
    if settings.epoch_selection == "best":
        split = with_epoch_choice(split, settings.validation_split)
    if split.note:
        log.warning("project %s: %s", project, split.note)
    refit = settings.final_fit == "all" and not split.validation_is_train
    candidate_span, refit_span = ((0.10, 0.48), (0.52, 0.88)) if refit else ((0.10, 0.85), None)
    report(
        0.02,
        f"{len(split.train)} tasks to train on, {len(split.validation)} to validate on"
        + (f", {len(split.epoch_choice)} to choose the epoch" if split.epoch_choice else ""),
    )

    report(0.04, "loading the current model")
    start = load_starting_point(project, config, settings, store)
    report(0.07, f"scoring the current model ({start.source})")
    current_metrics = _score(start.current, split.validation, settings)

    label = "candidate: " if refit else ""
    candidate = _train_candidate(project, start, split, settings, config, _phase(report, *candidate_span, label))
    report(candidate_span[1] + 0.01, "scoring the new model")
    metrics = _score(candidate.model, split.validation, settings)
    return SpanJudgement(split, start, current_metrics, candidate, metrics, refit, refit_span)


def span_version(
    project: str,
    judged: SpanJudgement,
    examples: list[Example],
    config,
    settings,
    deploy: bool,
    reason: str,
    report: Progress,
) -> tuple[Fit, dict, Callable[[Path], None], str]:
    """What the NER part of a decided job saves: (the model served, its meta, the writer of its files, the reason).

    A deployed candidate is fitted again on every example under FINAL_FIT=all; the parity gate runs on the served
    model."""
    candidate = judged.candidate
    served = candidate
    if deploy and judged.refit:
        candidate.model.model.cpu()  # parked while the second model trains (it is saved next to it)
        refit_progress = _phase(report, *judged.refit_span, f"final fit on all {len(examples)} tasks: ")
        served = (
            _fit_on_all(project, judged.start, examples, settings, config, refit_progress, candidate.result.best_epoch)
            or candidate
        )
        if served is candidate:
            reason += "; the fit on all labels diverged, so the candidate is saved"

    validation = judged.split.validation
    parity = parity_gate(
        project,
        lambda precision: measure_parity(served.model, validation, precision, settings),
        len(validation),
        settings,
        report,
    )
    meta = _meta(
        served,
        candidate,
        judged.split,
        judged.metrics,
        judged.current_metrics,
        judged.start,
        deploy,
        reason,
        settings,
    )
    if parity is not None:
        meta["parity"] = parity
    return served, meta, lambda directory: _write(directory, served, candidate), reason


def save_version(
    project: str,
    annotations: int,
    write: Callable[[Path], None],
    meta: dict,
    deploy: bool,
    reason: str,
    store: Store,
    guard: DeployGuard | None,
) -> tuple[object, bool, str]:
    """Save the version (atomically, `Store.save`), deploy it when decided and the guard allows, prune what is left
    over; (version info, deployed?, reason). Every job type saves through it."""
    info = store.save(project, annotations, write, meta)
    if deploy:
        deploy, reason = deploy_unless_refused(project, info.name, store, guard, reason)
    if not deploy:
        store.prune(project)
    return info, deploy, reason


def parity_gate(project: str, measure: Callable[[str], dict], held_out: int, settings, report: Progress) -> dict | None:
    """SERVING_PRECISION against fp32 on the held-out texts of the deploy decision, or None when serving is fp32.
    `measure(precision)` gives the figures (`training.parity`: spans for NER, choices for classification). A gate
    that cannot run records a failure (the version is then served fp32), it never fails the job."""
    precision = resolve_precision(settings.serving_precision, "cpu")  # the gate measures on the CPU
    if precision == FULL:
        return None
    report(0.885, f"comparing {precision} with fp32 on {held_out} held-out tasks")
    try:
        figures = measure(precision)
    except Exception as exc:  # e.g. a model whose layers the quantizer does not support
        log.exception("project %s: the %s parity check failed", project, precision)
        return {"precision": precision, "passed": False, "reason": f"parity check failed: {type(exc).__name__}: {exc}"}
    if figures["passed"]:
        log.info("project %s: parity gate passed, served at %s: %s", project, precision, figures["reason"])
    else:
        log.warning("project %s: parity gate failed, served fp32: %s", project, figures["reason"])
    return figures


def deploy_unless_refused(
    project: str, version: str, store: Store, guard: DeployGuard | None, reason: str
) -> tuple[bool, str]:
    """Move the deployed pointer to `version` unless the guard refuses (a newer job of the project started);
    (deployed?, reason). NER and classification jobs both deploy through it."""
    if guard is None:
        store.deploy(project, version)
        return True, reason
    with guard() as refusal:
        if refusal is None:
            store.deploy(project, version)
            return True, reason
    log.warning("project %s: %s saved, not deployed: %s", project, version, refusal)
    reason = f"{reason}; saved, not deployed: {refusal}"
    store.amend_meta(project, version, deployed=False, reason=reason)
    return False, reason


def _check_learnable(project: str, examples: list[Example], config) -> None:
    if not examples:
        raise NoTrainingDataError(f"project {project} has no task with a usable annotation")
    if not any(e.spans for e in examples):
        raise NoTrainingDataError(
            f"none of the {len(examples)} annotations of project {project} marks an entity with one of the "
            f"labels {list(config.labels)}"
        )


def _phase(report: Progress, low: float, high: float, label: str = "") -> Progress:
    """A phase's own progress (0 to 1) as the job's (`low` to `high`), so both fits report one rising fraction."""
    return lambda fraction, message: report(low + (high - low) * fraction, label + message)


def _train_candidate(project: str, start: StartingPoint, split, settings, config, progress: Progress) -> Fit:
    """The model the deploy decision is made on: trained on the training side only, never on validation tasks."""
    if start.train_from_current:
        loaded, source = start.current, start.source
    else:
        if settings.training_start == "warm":
            log.info(
                "project %s: deployed model knows none of the labels %s, starting from the base model",
                project,
                list(config.labels),
            )
        del start.current  # free the baseline before the base checkpoint loads
        gc.collect()
        loaded, source = fresh_start(settings, config), base_source(settings)
    adapt_head(loaded, config.labels)
    if split.epoch_choice:
        result = fine_tune(loaded, split.train, split.epoch_choice, settings, progress=progress, keep_best=True)
    else:
        result = fine_tune(loaded, split.train, split.validation, settings, progress=progress)
    return Fit(loaded, result, source, "all" if split.validation_is_train else "train", len(split.train))


def _fit_on_all(
    project: str,
    start: StartingPoint,
    examples: list[Example],
    settings,
    config,
    progress: Progress,
    stop_after: int | None = None,
) -> Fit | None:
    """The model to serve: the candidate's recipe again on every example, so the held-out labels are not lost;
    when the candidate kept an earlier epoch (`stop_after`), the same schedule stopped after that epoch.

    It is not scored (every task is now training data); the candidate's scores stand for it. None when this fit
    diverges, so the job still saves the candidate that was judged.
    """
    loaded, source = final_fit_start(start, settings, config)
    adapt_head(loaded, config.labels)
    try:
        result = fine_tune(loaded, examples, [], settings, progress=progress, stop_after=stop_after)
    except TrainingDivergedError as exc:
        log.warning("project %s: the fit on all labels diverged (%s); saving the candidate", project, exc)
        return None
    return Fit(loaded, result, source, "all", len(examples))


def _write(directory, served: Fit, candidate: Fit) -> None:
    """The served model at the version's top; a candidate it differs from in `candidate/`, the next job's baseline."""
    _save_model(served.model, directory)
    if served is not candidate:
        _save_model(candidate.model, Path(directory) / CANDIDATE_DIR)


def _save_model(loaded: LoadedModel, directory) -> None:
    loaded.model.save_pretrained(directory)
    loaded.tokenizer.save_pretrained(directory)


def _training_stats(result: TrainResult) -> dict:
    return {
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "steps": result.steps,
        "seconds": round(result.seconds, 2),
        "seconds_per_step": round(result.seconds_per_step, 4),
        "device": result.device,
    }


def _meta(
    served: Fit,
    candidate: Fit,
    split,
    metrics: dict,
    current_metrics: dict,
    start: StartingPoint,
    deploy: bool,
    reason: str,
    settings,
) -> dict:
    """meta.json of the new version: the saved model's training, and under `decided_on` the candidate that was
    judged (`metrics` are always the candidate's, on validation tasks neither it nor `current_metrics`' model saw)."""
    tags = list(served.model.tags)
    return {
        "labels": tag_labels(tags),
        "tags": tags,
        "label_map": dict(served.model.label_map),
        "metrics": _stored(metrics),
        "current_metrics": _stored(current_metrics),
        "current_version": start.current_version,
        "baseline": start.source,
        "policy": settings.deploy_policy,
        "deployed": deploy,
        "reason": reason,
        "alignment": served.result.alignment.as_dict(),
        "train_size": served.size,
        "validation_size": len(split.validation),
        "validation_is_train": split.validation_is_train,
        "base_model": base_model_name(settings) or DEFAULT_BASE_MODEL,
        "training_start": settings.training_start,
        "epoch_selection": settings.epoch_selection,
        "start": served.start,
        "final_fit": served.on,
        "history": served.result.history,
        "training": _training_stats(served.result),
        "decided_on": {
            "model": "this version" if served is candidate else f"{CANDIDATE_DIR}/",
            "train_size": candidate.size,
            "validation_size": len(split.validation),
            "epoch_choice_size": len(split.epoch_choice),
            "best_epoch": candidate.result.best_epoch,
            "start": candidate.start,
            "metrics": summary(metrics),
            "current_metrics": summary(current_metrics),
            "history": candidate.result.history,
            "training": _training_stats(candidate.result),
        },
    }


def _params(meta: dict, served: Fit, candidate: Fit, split, metrics: dict, config, settings, annotations: int) -> dict:
    return {
        "learning_rate": settings.learning_rate,
        "num_train_epochs": settings.num_train_epochs,
        "epochs_run": served.result.epochs,
        "steps": served.result.steps,
        "min_train_steps": settings.min_train_steps,
        "weight_decay": settings.weight_decay,
        "batch_size": settings.batch_size,
        "max_sequence_length": settings.max_sequence_length,
        "validation_split": settings.validation_split,
        "deploy_policy": settings.deploy_policy,
        "base_model": meta["base_model"],
        "start": served.start,
        "training_start": settings.training_start,
        "final_fit": served.on,
        "baseline": meta["baseline"],
        "candidate_start": candidate.start,
        "candidate_train_size": candidate.size,
        "candidate_steps": candidate.result.steps,
        "epoch_selection": settings.epoch_selection,
        "best_epoch": candidate.result.best_epoch if candidate.result.best_epoch is not None else "last",
        "epoch_choice_size": len(split.epoch_choice),
        "annotations": annotations,
        "train_size": served.size,
        "validation_size": len(split.validation),
        "validation_is_train": split.validation_is_train,
        "labels": ",".join(config.labels),
        "seqeval_mode": metrics["seqeval_mode"],
        "device": served.result.device,
        **{f"alignment_{k}": v for k, v in served.result.alignment.as_dict().items()},
    }


def _tracked_history(served: Fit, candidate: Fit) -> list[dict]:
    """Per-epoch MLflow metrics: the candidate's loss and validation scores, then the final fit's loss."""
    history = list(candidate.result.history)
    if served is not candidate:
        history += [
            {"epoch": e["epoch"], "final_fit_loss": e["loss"], "final_fit_steps": e["steps"]}
            for e in served.result.history
        ]
    return history


def _score(loaded, validation: Sequence[Example], settings) -> dict:
    predictor = Predictor(loaded.model, loaded.tokenizer, settings.max_sequence_length, settings.inference_batch_size)
    return evaluate_model(predictor, loaded.tags, validation, loaded.label_map)


def _stored(metrics: dict) -> dict:
    """Metrics as kept in meta.json: scalars, per-type scores and the mode (the report text goes to MLflow)."""
    return {**summary(metrics), "per_type": metrics.get("per_type", {}), "seqeval_mode": metrics.get("seqeval_mode")}
