"""Forget a project: delete everything the backend keeps for it, on Label Studio's PROJECT_DELETED webhook or an
operator's `DELETE /projects/<id>`.

What is kept per project, and where (docs/operations.md has the table): model versions, the deployed pointer and
the label config (the store: MODEL_DIR/<id>/, or the registered model `ner-project-<id>` and this host's cache);
the annotation mirror, which holds task texts, and the annotators' lead times (MODEL_DIR/<id>/, or Redis); the
counter, totals and job state (Redis `nerb:<id>:*`, or this process's memory); the served models and cached scores
(this process's memory). MLflow runs stay (see `store.mlflow_registry.MlflowStore.delete_project`).

The job state is replaced by a tombstone first (`infra.job_state`): a queued job of the project then never starts,
and a running one cannot deploy and, when it ends, finds the project forgotten and deletes what it saved itself
(`forget_after_job`), so a job that finishes after the delete does not bring the project's files back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from infra.annotation_mirror import Mirror
from infra.job_state import JobState
from infra.lead_times import AnnotationTimes
from infra.served_predictions import ServedPredictions
from store.local import Store, project_key

log = logging.getLogger(__name__)


class ProjectNotKept(LookupError):
    """Nothing is kept for the project (never seen, or already forgotten)."""


class ForgetIncomplete(RuntimeError):
    """Some of what is kept for the project could not be deleted (Redis or the registry unreachable); the rest was.
    Asking again deletes what remains."""


@dataclass(frozen=True)
class Kept:
    """Where a process keeps project data; a part that is None is not kept by this process."""

    store: Store
    job_state: JobState | None = None
    mirror: Mirror | None = None
    times: AnnotationTimes | None = None
    served: ServedPredictions | None = None  # what /predict served per task (the team view's acceptance)
    in_memory: tuple[Callable[[str], object], ...] = ()  # the served models, cached scores, cost fits: forget(project)


def forget_project(project: object, kept: Kept) -> dict:
    """Delete what `kept` holds for `project`; returns {"project_id", "deleted": {part: what}}.

    ProjectNotKept when nothing was kept; ForgetIncomplete (after deleting the rest) when a part failed."""
    key = project_key(project)
    deleted: dict = {}
    failed: dict = {}

    def part(name: str, delete: Callable[[], object]) -> None:
        try:
            found = delete()
        except Exception as exc:  # the disk, Redis, the registry: reported, and the other parts still go
            failed[name] = f"{type(exc).__name__}: {str(exc)[:200]}"
            log.error("project %s: could not delete its %s: %s", key, name, failed[name])
            return
        if found:
            deleted[name] = found

    if kept.job_state is not None:  # first: from here on, a running job of the project cleans up after itself
        part("job_state", lambda: kept.job_state.forget(key))
    if kept.mirror is not None:
        part("annotation_mirror", lambda: {"tasks": n} if (n := kept.mirror.forget(key)) else None)
    if kept.times is not None:
        part("lead_times", lambda: {"observations": n} if (n := kept.times.forget(key)) else None)
    if kept.served is not None:
        part("served_predictions", lambda: {"servings": n} if (n := kept.served.forget(key)) else None)
    part("model_store", lambda: kept.store.delete_project(key))
    held = [forget(key) for forget in kept.in_memory]
    if any(held):
        deleted["in_memory"] = True
    if failed:
        raise ForgetIncomplete(
            f"project {key}: could not delete {', '.join(f'{k} ({v})' for k, v in failed.items())}; "
            f"deleted {', '.join(deleted) or 'nothing else'}; ask again once it is reachable"
        )
    if not deleted:
        raise ProjectNotKept(f"nothing is kept for project {key} (never seen here, or already forgotten)")
    log.info("project %s forgotten: deleted %s", key, ", ".join(deleted))
    return {"project_id": int(key), "deleted": deleted}


def forget_after_job(project: str, job_state: JobState, store: Store) -> dict | None:
    """Called by a job when it ends: if its project was forgotten while it ran, delete what it saved (a version, a
    registered model re-created by its upload). None when the project was not forgotten."""
    try:
        if not job_state.forgotten(project):
            return None
    except Exception as exc:  # Redis gone: the tombstone cannot be read; say so rather than guess
        log.warning("project %s: could not check whether it was forgotten: %s", project, exc)
        return None
    deleted = store.delete_project(project)
    log.warning("project %s was forgotten while its job ran; deleted what the job saved: %s", project, deleted or {})
    return deleted
