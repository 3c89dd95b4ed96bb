"""One training job for a project whose version serves spans and choices (`text.label_config.CombinedConfig`).

NER examples come from the annotations' Labels results, choice examples from the Choices results of the same
annotations. Each part goes through its own job's steps up to the deploy decision
(`training.classification_pipeline.judge_choices`, then `training.pipeline.judge_spans`); then one decision for
the version as one, on the mean over controls of each control's own figure (`training.deploy_gate.
mean_control_score`: entity F1 for the Labels, macro-F1 for each Choices); one version saved (the NER model at its
top, as an NER version has it, the classifier in `choices/`, `modeling.cache.CHOICES_DIR`), deployed, rolled back
and refreshed as one; one MLflow run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from modeling.cache import CHOICES_DIR
from store.local import Store, project_key
from text.label_config import COMBINED
from training.annotations import Example
from training.classification_data import ChoiceExample
from training.classification_pipeline import (
    choices_meta,
    judge_choices,
    save_classifier,
    tracked_choice_metrics,
)
from training.classification_tracking import log_confusion_matrices
from training.deploy_gate import control_scores, decide_deployment, mean_control_score
from training.evaluation import summary
from training.pipeline import (
    DeployGuard,
    Progress,
    TrainingOutcome,
    judge_spans,
    save_version,
    span_version,
)
from training.tracking import learning_curve_points, log_training_run

DEPLOY_METRIC = "mean_control_score"
CHOICES_SPAN = (0.0, 0.35)  # the job's progress: the classifier first, then NER (whose refit comes after the decision)
SPANS_SPAN = (0.35, 0.88)


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

    NoTrainingDataError (nothing saved) when either part has nothing to learn from: no task with a usable choice,
    or no annotation marking an entity."""
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    project = project_key(project)
    spans_examples = list(examples.spans)
    choices = judge_choices(
        project, list(examples.choices), config.classification, settings, store, _phase(report, *CHOICES_SPAN)
    )
    spans_report = _phase(report, *SPANS_SPAN)
    spans = judge_spans(project, spans_examples, config.ner, settings, store, spans_report)

    scores = control_scores(spans.metrics["entity_f1"], config.ner.from_name, choices.metrics)
    current_scores = control_scores(spans.current_metrics["entity_f1"], config.ner.from_name, choices.current_metrics)
    new, current = mean_control_score(scores), mean_control_score(current_scores)
    deploy, reason = decide_deployment(
        settings.deploy_policy,
        new,
        current,
        spans.split.validation_is_train or choices.split.validation_is_train,
    )
    reason = reason.replace("F1", "mean control score") + f" ({_shown(scores)} against {_shown(current_scores)})"
    served, meta, write_spans, reason = span_version(
        project, spans, spans_examples, config.ner, settings, deploy, reason, spans_report
    )
    choice_meta = choices_meta(choices, config.classification, settings, deploy, reason)
    meta.update(
        task_type=COMBINED,
        choices=choice_meta,
        deploy_metric=DEPLOY_METRIC,
        control_scores=scores,
        current_control_scores=current_scores,
        reason=reason,
    )
    meta["metrics"][DEPLOY_METRIC] = new
    meta["current_metrics"][DEPLOY_METRIC] = current
    meta["current_version"] = spans.start.current_version or choices.current_version

    def write(directory) -> None:
        write_spans(directory)
        save_classifier(choices.candidate, Path(directory) / CHOICES_DIR)

    report(0.9, "saving the new version")
    info, deploy, reason = save_version(project, examples.tasks(), write, meta, deploy, reason, store, deploy_guard)
    if not deploy:  # a refusal after the save is amended on the top-level meta; the classifier's says the same
        store.amend_meta(project, info.name, choices={**choice_meta, "deployed": False, "reason": reason})
    report(0.95, f"saved {info.name}" + (" and deployed it" if deploy else " (not deployed)"))

    metrics = _tracked(spans.metrics, choices.metrics, new)
    current_metrics = _tracked(spans.current_metrics, choices.current_metrics, current)
    params = {
        "task_type": COMBINED,
        "deploy_metric": DEPLOY_METRIC,
        "deploy_policy": settings.deploy_policy,
        "learning_rate": settings.learning_rate,
        "batch_size": settings.batch_size,
        "base_model": meta["base_model"],
        "annotations": examples.tasks(),
        "ner_examples": len(spans_examples),
        "choice_examples": len(examples.choices),
        "ner_train_size": served.size,
        "ner_validation_size": len(spans.split.validation),
        "choices_train_size": len(choices.split.train),
        "choices_validation_size": len(choices.split.validation),
        "ner_start": served.start,
        "choices_start": choices.start,
        "labels": ",".join(config.ner.labels),
        "choices": ",".join(config.classification.labels),
    }
    run_id = log_training_run(
        settings.mlflow_tracking_uri,
        project,
        info.name,
        params,
        spans.candidate.result.history,
        metrics,
        current_metrics,
        spans.metrics["report_text"] + "\n\n" + choices.metrics["report_text"],
        learning_curve_points(store.versions(project)),
        tags={"deployed": deploy, "current_version": meta["current_version"] or "base", "task_type": COMBINED},
        run_id=info.run_id,
    )
    log_confusion_matrices(settings.mlflow_tracking_uri, run_id, choices.metrics, config.classification)
    report(1.0, f"{info.name}: mean control score {new:.3f} (current {current:.3f}); {reason}")
    return TrainingOutcome(
        project=project,
        version=info.name,
        deployed=deploy,
        reason=reason,
        metrics={**meta["metrics"], "controls": scores, "choices": choice_meta["metrics"]},
        current_metrics={**meta["current_metrics"], "controls": current_scores},
        current_version=meta["current_version"],
        annotations=examples.tasks(),
        train_size=served.size,
        validation_size=len(spans.split.validation),
        validation_is_train=spans.split.validation_is_train,
        history=spans.candidate.result.history,
        alignment=served.result.alignment.as_dict(),
        start=served.start,
        final_fit=served.on,
        run_id=run_id,
        seconds=time.perf_counter() - started,
    )


def _shown(scores: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.3f}" for name, value in scores.items())


def _tracked(span_metrics: dict, choice_metrics: dict, combined: float) -> dict:
    """One MLflow view of both parts: NER's figures as an NER run logs them, the classifier's under `choices.`, and
    the deploy metric."""
    tracked = {**summary(span_metrics), "per_type": span_metrics.get("per_type") or {}, DEPLOY_METRIC: combined}
    for k, v in tracked_choice_metrics(choice_metrics).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            tracked[f"choices.{k}"] = v
    return tracked
