"""One training job for a project whose version serves spans and choices (`text.label_config.CombinedConfig`).

NER examples come from the annotations' Labels results, choice examples from the Choices results of the same
annotations. Each part goes through its own job's steps up to the deploy decision
(`training.classification_pipeline.judge_choices`, then `training.pipeline.judge_spans`); then one decision for
the version as one, on the mean over controls of each control's own figure (`training.deploy_gate.
mean_control_score`: entity F1 for the Labels, macro-F1 for each Choices); one version saved (the NER model at its
top, as an NER version has it, the classifier in `choices/`, `modeling.cache.CHOICES_DIR`), deployed, rolled back
and refreshed as one; one MLflow run. A part with nothing to learn in the job is carried over from the deployed
version (`Carried`).
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from modeling.cache import CHOICES_DIR, classifier_part, version_kind
from store.local import Store, project_key
from text.label_config import COMBINED
from training.annotations import Example
from training.classification_data import ChoiceExample
from training.classification_pipeline import (
    ChoiceJudgement,
    choices_meta,
    choices_parity,
    choices_version,
    judge_choices,
    tracked_choice_metrics,
)
from training.classification_tracking import log_confusion_matrices
from training.deploy_gate import control_scores, decide_deployment, mean_control_score
from training.evaluation import summary
from training.pipeline import (
    DeployGuard,
    NoTrainingDataError,
    Progress,
    SpanJudgement,
    TrainingOutcome,
    judge_spans,
    save_version,
    span_version,
)
from training.tracking import learning_curve_points, log_training_run

log = logging.getLogger(__name__)

DEPLOY_METRIC = "mean_control_score"
# The job's progress: the classifier, then NER (whose fit on all labels comes after the decision), then the
# classifier's fit on all labels.
CHOICES_SPAN = (0.0, 0.3)
SPANS_SPAN = (0.3, 0.8)
CHOICES_REFIT_SPAN = (0.8, 0.89)


@dataclass
class CombinedExamples:
    """One combined job's examples: the NER examples and the choice examples read from the same annotations."""

    spans: list[Example] = field(default_factory=list)
    choices: list[ChoiceExample] = field(default_factory=list)

    def tasks(self) -> int:
        """Tasks with an example of either kind (the version's annotation count)."""
        return len({e.task_id for e in self.spans} | {e.task_id for e in self.choices})


def _phase(report: Progress, low: float, high: float) -> Progress:
    return lambda fraction, message: report(low + (high - low) * fraction, message)


def run_combined_training(
    project: str,
    examples: CombinedExamples,
    config,
    settings,
    store: Store,
    progress: Progress | None = None,
    deploy_guard: DeployGuard | None = None,
) -> TrainingOutcome:
    """Train, evaluate, save and maybe deploy one version serving the Labels and the Choices (module docstring).

    A part with nothing to learn from (no task with a usable choice, or no annotation marking an entity) is carried
    over from the deployed version when that has one (`Carried`), and the decision weighs the controls that trained.
    NoTrainingDataError (nothing saved) when neither part can train, or one cannot and there is nothing to carry."""
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    project = project_key(project)
    spans_examples = list(examples.spans)
    deployed = store.deployed(project)
    deployed_info = store.get(project, deployed) if deployed else None
    choices = _judged(
        lambda: judge_choices(
            project, list(examples.choices), config.classification, settings, store, _phase(report, *CHOICES_SPAN)
        ),
        deployed_info,
        ("choices", COMBINED),
    )
    spans_report = _phase(report, *SPANS_SPAN)
    spans = _judged(
        lambda: judge_spans(project, spans_examples, config.ner, settings, store, spans_report),
        deployed_info,
        ("ner", COMBINED),
    )
    if isinstance(choices, Carried) and isinstance(spans, Carried):
        raise NoTrainingDataError(f"{choices.why}; {spans.why}")
    trained_spans = spans if isinstance(spans, SpanJudgement) else None
    trained_choices = choices if isinstance(choices, ChoiceJudgement) else None

    scores = control_scores(
        trained_spans and trained_spans.metrics["entity_f1"],
        config.ner.from_name,
        trained_choices and trained_choices.metrics,
    )
    current_scores = control_scores(
        trained_spans and trained_spans.current_metrics["entity_f1"],
        config.ner.from_name,
        trained_choices and trained_choices.current_metrics,
    )
    new, current = mean_control_score(scores), mean_control_score(current_scores)
    judged_on_train = any(p.split.validation_is_train for p in (trained_spans, trained_choices) if p is not None)
    deploy, reason = decide_deployment(settings.deploy_policy, new, current, judged_on_train)
    reason = reason.replace("F1", "mean control score") + f" ({_shown(scores)} against {_shown(current_scores)})"
    carried = {c.part: c.version for c in (spans, choices) if isinstance(c, Carried)}
    if carried:
        reason += "; carried over from " + ", ".join(f"{v} ({part}: nothing to learn)" for part, v in carried.items())

    if trained_spans is not None:
        served, meta, write_spans, reason = span_version(
            project, trained_spans, spans_examples, config.ner, settings, deploy, reason, spans_report
        )
    else:
        served, meta, write_spans = None, _ner_meta(spans.meta), spans.copy
    if trained_choices is not None:
        saved_choices = choices_version(
            project,
            trained_choices,
            examples.choices,
            config.classification,
            settings,
            deploy,
            _phase(report, *CHOICES_REFIT_SPAN),
        )
        parity = choices_parity(
            project,
            trained_choices,
            saved_choices,
            config.classification,
            settings,
            _phase(report, *CHOICES_REFIT_SPAN),
        )
        choice_meta = choices_meta(
            trained_choices, config.classification, settings, deploy, reason, saved_choices, parity
        )
    else:
        choice_meta = {**choices.meta, "deployed": deploy, "reason": reason}
    meta.update(
        task_type=COMBINED,
        choices=choice_meta,
        deploy_metric=DEPLOY_METRIC,
        control_scores=scores,
        current_control_scores=current_scores,
        carried=carried,
        deployed=deploy,
        reason=reason,
    )
    meta["metrics"] = {**meta.get("metrics", {}), DEPLOY_METRIC: new}
    meta["current_metrics"] = {**meta.get("current_metrics", {}), DEPLOY_METRIC: current}
    meta["current_version"] = deployed if carried else spans.start.current_version or choices.current_version

    def write(directory) -> None:
        write_spans(directory)
        if trained_choices is not None:
            saved_choices.write(Path(directory) / CHOICES_DIR)
        else:
            choices.copy(Path(directory) / CHOICES_DIR)

    report(0.9, "saving the new version")
    info, deploy, reason = save_version(project, examples.tasks(), write, meta, deploy, reason, store, deploy_guard)
    if not deploy:  # a refusal after the save is amended on the top-level meta; the classifier's says the same
        store.amend_meta(project, info.name, choices={**choice_meta, "deployed": False, "reason": reason})
    report(0.95, f"saved {info.name}" + (" and deployed it" if deploy else " (not deployed)"))

    span_metrics = trained_spans.metrics if trained_spans else {}
    choice_metrics = trained_choices.metrics if trained_choices else {}
    metrics = _tracked(span_metrics, choice_metrics, new)
    current_metrics = _tracked(
        trained_spans.current_metrics if trained_spans else {},
        trained_choices.current_metrics if trained_choices else {},
        current,
    )
    params = {
        "task_type": COMBINED,
        "deploy_metric": DEPLOY_METRIC,
        "deploy_policy": settings.deploy_policy,
        "learning_rate": settings.learning_rate,
        "batch_size": settings.batch_size,
        "base_model": meta.get("base_model"),
        "annotations": examples.tasks(),
        "ner_examples": len(spans_examples),
        "choice_examples": len(examples.choices),
        "ner_start": served.start if served else f"carried:{deployed}",
        "choices_start": trained_choices.start if trained_choices else f"carried:{deployed}",
        "labels": ",".join(config.ner.labels),
        "choices": ",".join(config.classification.labels),
    }
    run_id = log_training_run(
        settings.mlflow_tracking_uri,
        project,
        info.name,
        params,
        trained_spans.candidate.result.history if trained_spans else [],
        metrics,
        current_metrics,
        "\n\n".join(m["report_text"] for m in (span_metrics, choice_metrics) if m.get("report_text")),
        learning_curve_points(store.versions(project)),
        tags={"deployed": deploy, "current_version": meta["current_version"] or "base", "task_type": COMBINED},
        run_id=info.run_id,
    )
    if trained_choices is not None:
        log_confusion_matrices(settings.mlflow_tracking_uri, run_id, choice_metrics, config.classification)
    report(1.0, f"{info.name}: mean control score {new:.3f} (current {current:.3f}); {reason}")
    first = trained_spans or trained_choices
    return TrainingOutcome(
        project=project,
        version=info.name,
        deployed=deploy,
        reason=reason,
        metrics={**meta["metrics"], "controls": scores, "choices": choice_meta.get("metrics") or {}},
        current_metrics={**meta["current_metrics"], "controls": current_scores},
        current_version=meta["current_version"],
        annotations=examples.tasks(),
        train_size=served.size if served else len(trained_choices.split.train),
        validation_size=len(first.split.validation),
        validation_is_train=judged_on_train,
        history=trained_spans.candidate.result.history if trained_spans else [],
        alignment=served.result.alignment.as_dict() if served else {},
        start=served.start if served else trained_choices.start,
        final_fit=served.on if served else "train",
        run_id=run_id,
        seconds=time.perf_counter() - started,
    )


@dataclass
class Carried:
    """A part with nothing to learn in this job, taken as it is from the deployed version: its files and meta."""

    part: str  # "ner" or "choices"
    version: str
    path: Path
    meta: dict
    why: str

    def copy(self, directory) -> None:
        """The part's files into `directory` (the NER part without the classifier's folder; never a meta.json,
        which the store writes)."""
        skip = ("meta.json", CHOICES_DIR) if self.part == "ner" else ("meta.json",)
        shutil.copytree(self.path, directory, ignore=shutil.ignore_patterns(*skip), dirs_exist_ok=True)


def _judged(judge, deployed, kinds: tuple[str, ...]):
    """The part's judgement, or, when it has nothing to learn, the deployed version's part (`Carried`); the
    NoTrainingDataError stands when there is none to carry."""
    try:
        return judge()
    except NoTrainingDataError as exc:
        if deployed is None or version_kind(deployed.meta) not in kinds:
            raise
        part = "ner" if "ner" in kinds else "choices"
        path, meta = (deployed.path, deployed.meta) if part == "ner" else classifier_part(deployed.path, deployed.meta)
        log.warning("project: %s; carrying the %s part of %s over", exc, part, deployed.name)
        return Carried(part, deployed.name, Path(path), dict(meta), str(exc))


_COMBINED_KEYS = ("task_type", "choices", "deploy_metric", "control_scores", "current_control_scores", "carried")


def _ner_meta(meta: dict) -> dict:
    """A carried NER part's meta: the deployed version's, less what described it as a combined version."""
    return {k: v for k, v in meta.items() if k not in _COMBINED_KEYS}


def _shown(scores: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.3f}" for name, value in scores.items())


def _tracked(span_metrics: dict, choice_metrics: dict, combined: float) -> dict:
    """One MLflow view of both parts: NER's figures as an NER run logs them, the classifier's under `choices.` (its
    per-class F1 as `f1_choices_<class>`), and the deploy metric."""
    choice_tracked = tracked_choice_metrics(choice_metrics)
    per_type = {**(span_metrics.get("per_type") or {})}
    per_type.update({f"choices:{k}": v for k, v in (choice_tracked.get("per_type") or {}).items()})
    tracked = {**summary(span_metrics), "per_type": per_type, DEPLOY_METRIC: combined}
    for k, v in choice_tracked.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            tracked[f"choices.{k}"] = v
    return tracked
