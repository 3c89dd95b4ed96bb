"""One training job from start to outcome: claim the project's job state, read annotations from Label Studio,
train (training.pipeline) with a heartbeat, deploy only while it is the project's newest job, refresh Label
Studio's predictions after a deploy, record the outcome and enqueue the follow-up that was requested meanwhile.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from redis.exceptions import RedisError

from infra.annotation_mirror import AnnotationMirror, Mirror
from infra.heartbeat import Heartbeat
from infra.job_state import JobState, new_job_id
from infra.label_studio import LabelStudioAPI, LabelStudioNotConfigured
from infra.lead_times import AnnotationTimes
from infra.retries import with_retries
from infra.served_predictions import ServedPredictions
from modeling.cache import ModelCache
from services.forget import forget_after_job
from services.predict import ProjectRankings
from services.refresh import PredictionRefresh
from settings import Settings
from store.local import Store
from text.label_config import CHOICES, COMBINED, NER, parse_project_config
from training.annotations import tasks_to_examples
from training.classification_data import tasks_to_choice_examples
from training.classification_pipeline import run_classification_training
from training.combined_pipeline import CombinedExamples, run_combined_training
from training.pipeline import DeployGuard, run_training

log = logging.getLogger(__name__)

Refresh = Callable[[LabelStudioAPI, str, str], int]  # (api, project, label config) -> predictions imported
Enqueue = Callable[[str, str], None]  # (project, job id): puts a job on a queue
Progress = Callable[[float, str], None]  # (fraction done, message)


@dataclass
class JobContext:
    """What a job needs from the process that runs it (the RQ worker, or the web process's own worker)."""

    settings: Settings
    store: Store
    triggers: JobState
    enqueue: Enqueue  # puts a job on the queue this job came from
    refresh: Refresh | None = None  # re-predicts the unlabelled tasks after a deploy
    mirror: Mirror | None = None  # the annotations webhooks delivered, read without an API key
    beats: JobState | None = None  # the job state the heartbeat writes to, failing fast (default: `triggers`)


def job_context(
    settings: Settings,
    store: Store,
    job_state: JobState,
    enqueue: Enqueue,
    mirror: Mirror,
    times: AnnotationTimes,
    *,
    beats: JobState | None = None,
    models: ModelCache | None = None,
    rankings: ProjectRankings | None = None,
    served: ServedPredictions | None = None,
) -> JobContext:
    """A job's context: its store and job state, the refresh after a deploy (the served model cache scoring the
    project's tasks with the settings' single-pass ranking, cost-aware on the project's lead times `times`).

    Both job runners build it here: the RQ worker (`worker.run_job`, per job, with its own model cache) and the web
    process's in-process worker (`services.runtime`, which shares its serving `models` and `rankings` so a refresh
    loads no second copy of the model). `served` keeps what the refresh imported (the team view's acceptance).
    """
    models = models if models is not None else ModelCache(settings, store)
    rankings = rankings if rankings is not None else ProjectRankings(settings, times)
    refresh = PredictionRefresh(
        models, lambda project: rankings(project).single_pass(), settings.refresh_max_tasks, served
    )
    return JobContext(settings, store, job_state, enqueue, refresh, mirror, beats=beats)


def execute(project: str, job_id: str, context: JobContext) -> dict:
    """Run job `job_id` for `project` and record its outcome; enqueue the follow-up if one was requested."""
    triggers = context.triggers
    started = time.time()
    generation = triggers.start(project, job_id, started_at=started, progress=0.0, message="starting", error=None)
    if generation is None:
        why = "its project was forgotten" if triggers.forgotten(project) else "replaced by a newer job"
        log.warning("project %s: job %s skipped: %s before it started", project, job_id, why)
        return {"skipped": f"{why} before it started"}
    summary: dict = {}
    ok = False
    try:
        with Heartbeat(context.beats or triggers, project, job_id, generation) as heartbeat:
            summary = train_from_label_studio(
                project, context, heartbeat.progress, lambda: triggers.deploying(project, generation)
            )
        ok = True
    except Exception as exc:
        summary = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        log.exception("training job for project %s failed", project)
    summary.update(
        duration_s=round(time.time() - started, 1),
        progress=1.0 if ok else None,
        message="finished" if ok else "failed",
        generation=generation,
    )
    next_job_id = new_job_id(project)
    try:
        followup = triggers.finish(project, job_id, ok, next_job_id, **summary)  # the client waits out a restart
    except RedisError as exc:
        log.error("project %s: could not record job %s's outcome (%s): %s", project, job_id, exc, summary)
        return summary
    if forget_after_job(project, triggers, context.store) is not None:  # after the job's last write
        return {**summary, "forgotten": True}
    if followup:
        context.enqueue(project, next_job_id)
    return summary


def train_from_label_studio(project: str, context: JobContext, progress: Progress, deploy_guard: DeployGuard) -> dict:
    """Fetch annotations, train and (if deployed) refresh Label Studio's predictions; returns a summary."""
    settings, store = context.settings, context.store
    pid = int(project)
    api = None
    if settings.label_studio_host and settings.label_studio_api_key:
        api = LabelStudioAPI(settings.label_studio_host, settings.label_studio_api_key)
        progress(0.01, "reading annotations from Label Studio")
        info = with_retries(lambda: api.project(pid), settings, progress)
        tasks = with_retries(lambda: list(api.tasks(pid, annotated=True)), settings, progress)
        label_config = info["label_config"]
    else:
        label_config = _stored_label_config(store, project)
        progress(0.01, "reading annotations received by webhook (LABEL_STUDIO_API_KEY is not set)")
        tasks = (context.mirror or AnnotationMirror(store)).tasks(project)
    config = parse_project_config(label_config).served
    examples, extraction = read_examples(tasks, config)
    progress(0.05, f"training on {examples_count(examples)} annotated tasks")
    train = {COMBINED: run_combined_training, CHOICES: run_classification_training}.get(
        _task_type(config), run_training
    )
    outcome = train(
        project,
        examples,
        config,
        settings,
        store,
        progress=lambda f, m: progress(0.05 + 0.85 * f, m),
        deploy_guard=deploy_guard,
    )
    summary = outcome_summary(outcome)
    summary["extraction"] = extraction
    if summary.get("deployed") and api is not None and context.refresh is not None:
        progress(0.9, "re-predicting unlabelled tasks with the new version")
        summary["predictions_imported"] = with_retries(
            lambda: context.refresh(api, project, label_config), settings, progress
        )
    return summary


def read_examples(tasks: list, config) -> tuple[object, dict]:
    """(examples, what was read and skipped) for the served config: NER examples from the Labels results, choice
    examples from the Choices results, both from the same annotations for a combined project (an annotation with
    spans and no choice trains NER only; one with a choice and no spans trains the classifier, and NER learns
    "no entity here" from it, as from any annotation without regions)."""
    if _task_type(config) == COMBINED:
        spans, span_stats = tasks_to_examples(tasks, config.ner)
        choices, choice_stats = tasks_to_choice_examples(tasks, config.classification)
        return CombinedExamples(spans, choices), {"ner": span_stats.as_dict(), "choices": choice_stats.as_dict()}
    read = tasks_to_choice_examples if _task_type(config) == CHOICES else tasks_to_examples
    examples, stats = read(tasks, config)
    return examples, stats.as_dict()


def examples_count(examples) -> int:
    return examples.tasks() if isinstance(examples, CombinedExamples) else len(examples)


def _stored_label_config(store: Store, project: str) -> str:
    xml = store.label_config(project)
    if xml is None:
        raise LabelStudioNotConfigured(
            f"project {project}: no label config known yet (connect the backend in Label Studio, or set "
            "LABEL_STUDIO_HOST and LABEL_STUDIO_API_KEY)"
        )
    return xml


def outcome_summary(outcome) -> dict:
    """The JSON-safe part of a TrainingOutcome for job status."""
    fields = ("version", "deployed", "reason", "train_size", "validation_size", "final_fit")
    summary = {f: getattr(outcome, f) for f in fields if hasattr(outcome, f)}
    metrics = getattr(outcome, "metrics", None) or {}
    current = getattr(outcome, "current_metrics", None) or {}
    if "mean_control_score" in metrics:  # a combined version: its deploy metric and each part's own
        summary["mean_control_score"] = metrics.get("mean_control_score")
        summary["current_mean_control_score"] = current.get("mean_control_score")
        summary["controls"] = metrics.get("controls")
        summary["f1"] = metrics.get("entity_f1")
        summary["macro_f1"] = (metrics.get("choices") or {}).get("macro_f1")
    elif "macro_f1" in metrics:  # a classification version (its deploy metric)
        summary["macro_f1"] = metrics.get("macro_f1")
        summary["current_macro_f1"] = current.get("macro_f1")
        summary["accuracy"] = metrics.get("accuracy")
    else:
        summary["f1"] = metrics.get("entity_f1")
        summary["current_f1"] = current.get("entity_f1")
    return summary


def _task_type(config) -> str:
    return getattr(config, "task_type", NER)  # NerConfig has none: every config before classification was NER
