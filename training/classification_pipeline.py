"""One classification training job: annotated Choices examples in, a stored (and perhaps deployed) version out.

The same steps and guarantees as NER's `training.pipeline`, through the same store, deploy guard, policies and
MLflow records: split (the task-hash split of `training.dataset`, stratified so each class with two examples or
more is held out at least once) -> score the current model -> fine-tune a
candidate (`training.classification`, HF `Trainer`) on the training side -> choose each multiple-choice
control's threshold on the validation split -> score the candidate there -> DEPLOY_POLICY on macro-F1 (the mean
over controls of each control's macro-F1, so a control that gains and one that loses weigh alike) -> with
FINAL_FIT=all, a deployed candidate's recipe again on every labelled task (the served classifier; the candidate,
which never saw the validation tasks, is kept in its `candidate/` as the next job's baseline, as for NER) -> save
with `task_type: "choices"` in the version's meta -> deploy -> MLflow.

EPOCH_SELECTION=best as for NER: the validation side is halved, the candidate keeps its best epoch by macro-F1 on
one half and is judged on the other, and a fit on all labels stops after that epoch.

The precision parity gate as for NER (`training.pipeline.parity_gate`): the classifier to be saved, at
SERVING_PRECISION against fp32 on the validation tasks, with its thresholds (`training.parity`); the figures go in
the version's meta as `parity` and the web process serves fp32 unless they are within the bounds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from modeling.base_model import DEFAULT_BASE_MODEL, LoadedModel, match_labels
from modeling.cache import classifier_part
from modeling.classifier import class_order, load_base_classifier, load_saved_classifier
from store.local import Store, project_key
from training.classification import (
    choose_thresholds,
    classifier_predictor,
    fine_tune_classifier,
    score_classifier,
    stratified_split,
)
from training.classification_data import ChoiceExample
from training.classification_tracking import log_confusion_matrices
from training.dataset import with_epoch_choice
from training.deploy_gate import decide_deployment
from training.parity import measure_classifier_parity
from training.pipeline import DeployGuard, NoTrainingDataError, Progress, TrainingOutcome, parity_gate, save_version
from training.tracking import log_training_run
from training.trainer import CANDIDATE_DIR, TrainingDivergedError, base_model_name, base_source

log = logging.getLogger(__name__)

TASK_TYPE = "choices"


@dataclass
class ChoiceStart:
    """The classifier a candidate must beat and where the fits start (the classification `StartingPoint`).

    `current` never trained on the validation tasks: the deployed version's `candidate/` when that version was
    fitted on all labels (FINAL_FIT=all), else the deployed classifier, else the base model."""

    current: LoadedModel
    version: str | None  # the deployed version, None when the base model serves
    thresholds: dict  # the deployed version's multiple-choice thresholds by control
    source: str  # "deployed:<version>", "deployed:<version>/candidate" or "base:<name>"
    served_path: str | None = None  # the deployed classifier's own weights, where a warm fit on all labels continues
    label_map: dict = field(default_factory=dict)


def _current(project: str, config, settings, store: Store) -> ChoiceStart:
    """The classifier serving now (see `ChoiceStart`)."""
    version = store.deployed(project)
    if version:
        info = store.get(project, version)
        path, meta = classifier_part(info.path, info.meta)  # a combined version's classifier is in its choices/
        if meta.get("task_type") == TASK_TYPE:
            unseen = path / CANDIDATE_DIR
            source = f"deployed:{version}/{CANDIDATE_DIR}" if unseen.is_dir() else f"deployed:{version}"
            try:
                label_map = match_labels(meta.get("labels", []), list(config.labels), config.predicted_values)
                loaded = load_saved_classifier(str(unseen if unseen.is_dir() else path), label_map)
                class_order(loaded.tags, loaded.label_map, list(config.labels))
                thresholds = dict(meta.get("thresholds") or {})
                return ChoiceStart(loaded, version, thresholds, source, str(path), dict(label_map))
            except ValueError as exc:  # the classes changed since: start again from the base model
                log.info("project %s: %s does not serve the current choices (%s)", project, version, exc)
        else:
            log.info("project %s: deployed %s is not a classification version", project, version)
    return ChoiceStart(_base(config, settings), None, {}, base_source(settings))


def _base(config, settings) -> LoadedModel:
    return load_base_classifier(base_model_name(settings), list(config.labels), config.predicted_values)


def _thresholds_by_segment(config, by_name: dict) -> dict[int, float]:
    return {s: float(by_name[c.from_name]) for s, (c, _, _) in enumerate(config.segments()) if c.from_name in by_name}


@dataclass
class ChoiceJudgement:
    """The classification part of a job up to the deploy decision (see `judge_choices`)."""

    split: object
    candidate: LoadedModel
    result: object  # training.classification's fit result: history, epochs, steps, seconds
    start: str
    current_version: str | None
    source: str
    thresholds: dict[str, float]
    metrics: dict
    current_metrics: dict
    served_path: str | None = None  # see ChoiceStart
    label_map: dict = field(default_factory=dict)
    refit_span: tuple[float, float] | None = None  # the progress a fit on all labels reports in (FINAL_FIT=all)


def judge_choices(
    project: str, examples: list[ChoiceExample], config, settings, store: Store, report: Progress
) -> ChoiceJudgement:
    """Split (stratified), score the current classifier, fine-tune a candidate, choose its thresholds and score it
    on the validation split: everything the deploy decision needs. Reports 0.02 to 0.86 of `report` (the fit up
    to 0.48 with FINAL_FIT=all, which leaves room for the fit on all labels)."""
    if not examples:
        raise NoTrainingDataError(f"project {project} has no task with a usable choice")
    split = stratified_split(examples, settings.validation_split)
    if settings.epoch_selection == "best":
        split = with_epoch_choice(split, settings.validation_split)
    if split.note:
        log.warning("project %s: %s", project, split.note)
    report(
        0.02,
        f"{len(split.train)} tasks to train on, {len(split.validation)} to validate on"
        + (f", {len(split.epoch_choice)} to choose the epoch" if split.epoch_choice else ""),
    )
    now = _current(project, config, settings, store)
    report(0.07, f"scoring the current model ({now.source})")
    current_metrics = score_classifier(
        classifier_predictor(now.current, config, settings, _thresholds_by_segment(config, now.thresholds)),
        split.validation,
        config,
    )
    warm = settings.training_start == "warm" and now.version is not None
    if warm:
        candidate, start = now.current, now.source
    else:
        candidate, start = _base(config, settings), base_source(settings)
    refit = settings.final_fit == "all" and not split.validation_is_train
    low, high = (0.10, 0.48) if refit else (0.10, 0.85)
    label = "candidate: " if refit else ""
    candidate.label_map = {c: c for c in candidate.tags if c in config.labels} or candidate.label_map
    result = fine_tune_classifier(
        candidate,
        split.train,
        _segments(config),
        settings,
        lambda f, m: report(low + (high - low) * f, label + m),
        choose_on=split.epoch_choice,
        config=config,
    )
    report(high + 0.01, "scoring the new model")
    predictor = classifier_predictor(candidate, config, settings)
    thresholds: dict[str, float] = {}
    if not split.validation_is_train and any(c.multiple for c in config.controls):
        probs = score_classifier(predictor, split.validation, config)["probs"]
        thresholds = choose_thresholds(probs, split.validation, config)
        predictor.thresholds = _thresholds_by_segment(config, thresholds)
    metrics = score_classifier(predictor, split.validation, config)
    return ChoiceJudgement(
        split,
        candidate,
        result,
        start,
        now.version,
        now.source,
        thresholds,
        metrics,
        current_metrics,
        now.served_path if warm else None,
        now.label_map,
        (0.52, 0.88) if refit else None,
    )


def _segments(config) -> list:
    return [(a, b, c.multiple) for c, a, b in config.segments()]


@dataclass
class ChoiceVersion:
    """What the classification part of a decided job saves: the classifier served and how it was fitted."""

    served: LoadedModel
    candidate: LoadedModel
    final_fit: str  # "all" or "train"
    training: dict | None = None  # the fit on all labels: epochs, steps, seconds

    def write(self, directory) -> None:
        """The served classifier in `directory`; a candidate it differs from in `directory/candidate/`."""
        save_classifier(self.served, directory)
        if self.served is not self.candidate:
            save_classifier(self.candidate, Path(directory) / CANDIDATE_DIR)


def choices_version(
    project: str,
    judged: ChoiceJudgement,
    examples: Sequence[ChoiceExample],
    config,
    settings,
    deploy: bool,
    progress: Progress,
) -> ChoiceVersion:
    """The classifier to save. Under FINAL_FIT=all a deployed candidate's recipe runs again on every example (the
    validation ones too, so no label is lost): from the deployed classifier's own weights when the candidate started
    warm, else from the base model; same epochs rule (stopped after the candidate's best epoch when it kept one), same
    thresholds (chosen on the validation split). It is not
    scored, every task being training data now: the candidate's scores stand for it. When that fit diverges the
    candidate is saved. `progress` reports the fit on all labels, 0 to 1."""
    kept = ChoiceVersion(judged.candidate, judged.candidate, "train")
    if not deploy or judged.refit_span is None:
        return kept
    if judged.served_path:
        loaded = load_saved_classifier(judged.served_path, judged.label_map)
    else:
        loaded = _base(config, settings)
    judged.candidate.model.cpu()  # parked while the second model trains (it is saved next to it)
    try:
        result = fine_tune_classifier(
            loaded,
            list(examples),
            _segments(config),
            settings,
            lambda f, m: progress(f, f"final fit on all {len(examples)} tasks: {m}"),
            stop_after=judged.result.best_epoch,
        )
    except TrainingDivergedError as exc:
        log.warning("project %s: the classifier's fit on all labels diverged (%s); saving the candidate", project, exc)
        return kept
    loaded.label_map = dict(judged.candidate.label_map)
    training = {"epochs": result.epochs, "steps": result.steps, "seconds": round(result.seconds, 2)}
    return ChoiceVersion(loaded, judged.candidate, "all", training)


def choices_parity(
    project: str, judged: ChoiceJudgement, saved: ChoiceVersion, config, settings, report: Progress
) -> dict | None:
    """The parity gate's figures for the classifier `saved` serves, with the thresholds chosen for it, measured on
    the validation tasks of the deploy decision; None when serving is fp32."""
    validation = judged.split.validation
    thresholds = _thresholds_by_segment(config, judged.thresholds)

    def measure(precision: str) -> dict:
        predictor = classifier_predictor(saved.served, config, settings, thresholds)
        return measure_classifier_parity(predictor, validation, precision, config, settings)

    return parity_gate(project, measure, len(validation), settings, report)


def choices_meta(
    judged: ChoiceJudgement,
    config,
    settings,
    deploy: bool,
    reason: str,
    saved: ChoiceVersion | None = None,
    parity: dict | None = None,
) -> dict:
    """meta.json of a classification version (or of a combined version's classifier); `training`, `history` and
    `train_size` are the candidate's, `final_fit_training` the fit on all labels when there was one, and `parity`
    the precision gate's figures when it ran."""
    split, candidate, result = judged.split, judged.candidate, judged.result
    return {
        "task_type": TASK_TYPE,
        "labels": list(candidate.tags),
        "tags": list(candidate.tags),
        "label_map": dict(candidate.label_map),
        "controls": [
            {"name": c.from_name, "choices": list(c.choices), "multiple": c.multiple} for c in config.controls
        ],
        "thresholds": {c.from_name: judged.thresholds.get(c.from_name, 0.5) for c in config.controls if c.multiple},
        "metrics": _stored(judged.metrics),
        "current_metrics": _stored(judged.current_metrics),
        "deploy_metric": "macro_f1",
        "current_version": judged.current_version,
        "baseline": judged.source,
        "policy": settings.deploy_policy,
        "deployed": deploy,
        "reason": reason,
        "train_size": len(split.train),
        "validation_size": len(split.validation),
        "validation_is_train": split.validation_is_train,
        "base_model": base_model_name(settings) or DEFAULT_BASE_MODEL,
        "training_start": settings.training_start,
        "start": judged.start,
        "epoch_selection": settings.epoch_selection,
        "best_epoch": result.best_epoch,
        "epoch_choice_size": len(split.epoch_choice),
        "final_fit": saved.final_fit if saved else "train",
        **({"final_fit_training": saved.training} if saved and saved.training else {}),
        "history": result.history,
        "training": {"epochs": result.epochs, "steps": result.steps, "seconds": round(result.seconds, 2)},
        "trainer": "transformers.Trainer",
        **({"parity": parity} if parity is not None else {}),
    }


def run_classification_training(
    project: str,
    examples: Sequence[ChoiceExample],
    config,
    settings,
    store: Store,
    progress: Progress | None = None,
    deploy_guard: DeployGuard | None = None,
) -> TrainingOutcome:
    """Train, evaluate, save and maybe deploy a classification version (see the module docstring)."""
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    project = project_key(project)
    examples = list(examples)
    judged = judge_choices(project, examples, config, settings, store, report)
    split, result, start = judged.split, judged.result, judged.start
    metrics, current_metrics, current_version = judged.metrics, judged.current_metrics, judged.current_version
    deploy, reason = decide_deployment(
        settings.deploy_policy, metrics["macro_f1"], current_metrics["macro_f1"], split.validation_is_train
    )
    reason = reason.replace("F1", "macro-F1")
    low, high = judged.refit_span or (0.0, 0.0)
    refit_progress = lambda f, m: report(low + (high - low) * f, m)  # noqa: E731
    saved = choices_version(project, judged, examples, config, settings, deploy, refit_progress)
    parity = choices_parity(project, judged, saved, config, settings, report)
    meta = choices_meta(judged, config, settings, deploy, reason, saved, parity)
    report(0.9, "saving the new version")
    info, deploy, reason = save_version(project, len(examples), saved.write, meta, deploy, reason, store, deploy_guard)
    report(0.95, f"saved {info.name}" + (" and deployed it" if deploy else " (not deployed)"))
    curve = [
        (int(v.meta.get("annotations", 0)), float(v.meta["metrics"]["macro_f1"]))
        for v in store.versions(project)
        if isinstance((v.meta.get("metrics") or {}).get("macro_f1"), (int, float))
    ]
    params = {
        "task_type": TASK_TYPE,
        "learning_rate": settings.learning_rate,
        "epochs_run": result.epochs,
        "steps": result.steps,
        "batch_size": settings.batch_size,
        "deploy_policy": settings.deploy_policy,
        "deploy_metric": "macro_f1",
        "base_model": meta["base_model"],
        "start": start,
        "final_fit": saved.final_fit,
        "epoch_selection": settings.epoch_selection,
        "best_epoch": result.best_epoch,
        "annotations": len(examples),
        "train_size": len(split.train),
        "validation_size": len(split.validation),
        "labels": ",".join(config.labels),
    }
    run_id = log_training_run(
        settings.mlflow_tracking_uri,
        project,
        info.name,
        params,
        [{"epoch": i + 1, "loss": h["loss"]} for i, h in enumerate(result.history)],
        tracked_choice_metrics(metrics),
        tracked_choice_metrics(current_metrics),
        metrics["report_text"],
        curve,
        tags={"deployed": deploy, "current_version": current_version or "base", "task_type": TASK_TYPE},
        run_id=info.run_id,
    )
    log_confusion_matrices(settings.mlflow_tracking_uri, run_id, metrics, config)
    report(
        1.0, f"{info.name}: macro-F1 {metrics['macro_f1']:.3f} (current {current_metrics['macro_f1']:.3f}); {reason}"
    )
    return TrainingOutcome(
        project=project,
        version=info.name,
        deployed=deploy,
        reason=reason,
        metrics=_stored(metrics),
        current_metrics=_stored(current_metrics),
        current_version=current_version,
        annotations=len(examples),
        train_size=len(split.train),
        validation_size=len(split.validation),
        validation_is_train=split.validation_is_train,
        history=result.history,
        start=start,
        final_fit=saved.final_fit,
        run_id=run_id,
        seconds=time.perf_counter() - started,
    )


def save_classifier(loaded: LoadedModel, directory) -> None:
    loaded.model.save_pretrained(directory)
    loaded.tokenizer.save_pretrained(directory)


def _stored(metrics: dict) -> dict:
    """What meta.json keeps: everything but the raw probabilities and the report text (which goes to MLflow)."""
    return {k: v for k, v in metrics.items() if k not in ("probs", "report_text")}


def tracked_choice_metrics(metrics: dict) -> dict:
    """MLflow's view: scalars at the top, per-class F1 (`per_type`), per-control figures flattened."""
    tracked = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    tracked["per_type"] = metrics.get("per_type") or {}
    for name, figures in (metrics.get("controls") or {}).items():
        for k, v in figures.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                tracked[f"{name}.{k}"] = v
    tracked["confusion"] = {n: f.get("confusion_matrix") for n, f in (metrics.get("controls") or {}).items()}
    return tracked
