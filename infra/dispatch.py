"""Label Studio's webhooks in, coalesced training jobs out: what /webhook and /train_status call.

`handle_event` only counts and enqueues (Label Studio waits 1 s). Before a trigger and in every status, a queued
or running job is checked against its queue (RQ or the in-process worker): one the queue says ended (failed,
stopped, its work horse died), a queued one it no longer holds (deleted, `rq empty`), or one that waited past
JOB_QUEUED_TIMEOUT without the queue holding it is declared failed, so the next trigger trains. Errors are domain
errors; the web layer maps them to HTTP answers.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Protocol

from redis.exceptions import RedisError

from infra.annotation_mirror import AnnotationMirror, Mirror
from infra.job_state import ACTIVE, JobState, new_job_id, rebuilt_count
from infra.lead_times import AnnotationTimes, observation
from settings import Settings
from store.local import Store, project_key
from text.label_config import parse_ner_config
from text.words import split_words

log = logging.getLogger(__name__)

BULK_EVENTS = {"ANNOTATIONS_CREATED", "TASKS_CREATED"}  # "create annotations from predictions", annotated imports
PROJECT_DELETED = "PROJECT_DELETED"  # Label Studio sends {"action", "project": {"id"}} to organisation webhooks only
COUNTED_EVENTS = {"ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED", *BULK_EVENTS}
ENQUEUE_GRACE_S = (
    5.0  # a state names its job just before the job is enqueued: younger than this, a missing job is not lost
)


class WebhookError(ValueError):
    """A webhook payload the backend cannot use."""


class JobStateUnavailable(RuntimeError):
    """The job state cannot be read or written (Redis is down or hanging)."""


def webhook_project(data: dict) -> str:
    """The project id of a webhook payload ({"project": {"id": 3, ...}} or {"project": 3})."""
    project = data.get("project")
    if isinstance(project, dict):
        project = project.get("id")
    if project is None or isinstance(project, bool) or not isinstance(project, (int, str)):
        raise WebhookError("webhook payload has no project id (field 'project.id')")
    return project_key(project)


def _dicts(value) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _listed(data: dict, *keys: str) -> list[dict]:
    """The first of `keys` that holds a list: Label Studio 1.23 names a bulk payload's lists in the singular
    ("annotation", "task"), other senders in the plural."""
    return next((_dicts(data[k]) for k in keys if isinstance(data.get(k), list)), [])


def bulk_annotations(event: str, data: dict) -> list[tuple[dict | None, dict]]:
    """(task, annotation) pairs a bulk webhook carries; the task is None when the payload lacks it.

    ANNOTATIONS_CREATED lists the annotations and, in the same order, their tasks (each annotation names its task
    id); TASKS_CREATED lists tasks, which carry their annotations when the sender includes them."""
    if event == "ANNOTATIONS_CREATED":
        annotations, tasks = _listed(data, "annotation", "annotations"), _listed(data, "task", "tasks")
        by_id = {t.get("id"): t for t in tasks}
        same_order = len(tasks) == len(annotations)
        return [(by_id.get(a.get("task"), tasks[i] if same_order else None), a) for i, a in enumerate(annotations)]
    if event == "TASKS_CREATED":
        return [(t, a) for t in _listed(data, "tasks", "task") for a in _dicts(t.get("annotations"))]
    return []


def _imported_without_list(data: dict) -> int:
    """Annotations of created tasks that do not list them (Label Studio's task serializer sends counters only)."""
    n = 0
    for task in _listed(data, "tasks", "task"):
        total, cancelled = task.get("total_annotations"), task.get("cancelled_annotations") or 0
        if "annotations" not in task and isinstance(total, int) and isinstance(cancelled, int):
            n += max(0, total - cancelled)
    return n


def counted_events(event: str, data: dict) -> int:
    """How many annotation changes an event stands for: a bulk delete or bulk create stands for one per annotation
    (so a bulk of 12 trains like 12 single annotations); a bulk carrying none stands for none."""
    if event == "ANNOTATIONS_DELETED" and isinstance(data.get("annotations"), list):
        return max(1, len(data["annotations"]))
    if event == "ANNOTATIONS_CREATED":
        return len(_listed(data, "annotation", "annotations"))
    if event == "TASKS_CREATED":
        return len(bulk_annotations(event, data)) + _imported_without_list(data)
    return 1


# The project counters Label Studio's webhooks carry that move with annotations (not predictions, not tasks).
TOTALS = (
    "total_annotations_number",
    "num_tasks_with_annotations",
    "useful_annotation_number",
    "skipped_annotations_number",
    "ground_truth_number",
)
PER_ANNOTATION = (
    "Label Studio's Start Training call for one annotation (its per-annotation toggle): that annotation's own webhook "
    "is counted against START_TRAINING_EACH_N_UPDATES"
)


def annotation_totals(project: object) -> list[int] | None:
    """The project's annotation counters as a webhook reports them (after the event), or None without them."""
    values = [project.get(k) for k in TOTALS] if isinstance(project, dict) else []
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    return values


def per_annotation_training(project: object) -> bool:
    """Whether the project has Label Studio's "Start model training on annotation submission" toggle on."""
    n = project.get("min_annotations_to_start_training") if isinstance(project, dict) else None
    return isinstance(n, int) and not isinstance(n, bool) and n > 0


def start_training_trigger(project: object, previous: list | None) -> str:
    """Whether a START_TRAINING webhook is a press of *Start Training* ("press") or Label Studio's call for one
    annotation ("annotation"), given the counters the project's previous webhook carried (`previous`).

    Label Studio 1.23 sends the same body for both: `MLBackend.train()` posts `{"action": "START_TRAINING",
    "project": <the project and its counters>}` when the button is pressed and, while the project's
    `min_annotations_to_start_training` is N > 0 (the toggle "Start model training on annotation submission" sets
    1), from each saved annotation's post_save signal when the project's annotation count is a multiple of N, just
    before the ANNOTATION_CREATED/UPDATED webhook of that annotation. The rule: with the toggle off, every
    START_TRAINING is a press and starts a job. With it on, a call whose counters differ from those of the project's
    previous webhook is an annotation's (a press changes no counter, a new annotation does): it starts nothing, and
    the annotation's own webhook, which follows, is counted against START_TRAINING_EACH_N_UPDATES as always. A call
    carrying counters already seen is a press and starts one job (coalesced as always). Two consequences: the call
    Label Studio makes for an annotation *update* (counters unchanged) reads as a press; and a press before this
    backend has seen any webhook of the project (or after a restart without Redis) reads as an annotation's call,
    so the second press starts the job.
    """
    if not per_annotation_training(project):
        return "press"
    totals = annotation_totals(project)
    return "annotation" if totals is None or previous != totals else "press"


class JobQueue(Protocol):
    """Where jobs run: `infra.rq_queue.RQQueue` (RQ workers) or `infra.local_queue.LocalQueue` (a thread here)."""

    mode: str

    def enqueue(self, project: str, job_id: str) -> None: ...

    def whereabouts(self, job_id: str) -> tuple[str, str]: ...


class JobDispatcher:
    """Counts annotation events per project, dispatches coalesced jobs to `queue` and reports job status."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        triggers: JobState,
        queue: JobQueue,
        times: AnnotationTimes | None = None,
        mirror: Mirror | None = None,
    ):
        self.settings = settings
        self.store = store
        self.mirror = mirror if mirror is not None else AnnotationMirror(store)
        self.triggers = triggers
        self.queue = queue
        self.times = times

    @property
    def mode(self) -> str:
        return self.queue.mode

    def handle_event(self, event: str, data: dict) -> dict:
        project = webhook_project(data)
        self._mirror(project, event, data)
        if event == "ANNOTATION_CREATED":
            self._time(project, data)
        try:
            previous = self._swap_totals(project, data.get("project"))
            if event in COUNTED_EVENTS:
                every = self.settings.start_training_each_n_updates
                n = counted_events(event, data)
                if n == 0:  # tasks imported without annotations
                    return {"status": "ignored", "project": int(project), "action": event}
                versions = self.store.versions(project)
                trained_on = int(versions[-1].meta.get("annotations", 0)) if versions else 0
                initial = rebuilt_count(data.get("project"), trained_on, n)
                if not self.triggers.count(project, n, every, initial):
                    return {"status": "counted", "project": int(project)}
                reason = f"{every} annotation updates"
            elif event == "START_TRAINING":
                if start_training_trigger(data.get("project"), previous) == "annotation":
                    return {"status": "ignored", "project": int(project), "action": event, "reason": PER_ANNOTATION}
                reason = "Start Training"
                # The job takes every annotation so far, so the count towards the next one starts again (with
                # START_TRAINING_EACH_N_UPDATES=0 nothing else would ever restart it).
                self.triggers.restart_count(project)
            else:
                return {"status": "ignored", "project": int(project), "action": event}
            self._settle(project, self.triggers.status(project)[project])
            job_id = new_job_id(project)
            outcome = self.triggers.request(project, reason, job_id)
            if outcome == "enqueue":
                try:
                    self.queue.enqueue(project, job_id)
                except Exception as exc:
                    self.triggers.abandon(project, job_id, f"could not enqueue: {type(exc).__name__}")
                    raise
        except RedisError as exc:
            raise JobStateUnavailable(f"Redis is unavailable, the event was not recorded: {type(exc).__name__}")
        log.info("project %s: %s -> %s", project, reason, outcome)
        return {
            "status": {"enqueue": "queued", "absorbed": "already queued", "follow-up": "follow-up queued"}[outcome],
            "project": int(project),
            "reason": reason,
        }

    def _swap_totals(self, project: str, payload: object) -> list | None:
        """Keep the annotation counters this webhook carries; returns those the project's previous webhook carried."""
        totals = annotation_totals(payload)
        if totals is None:
            return None
        raw = self.triggers.swap_totals(project, json.dumps(totals))
        try:
            previous = json.loads(raw) if raw else None
        except ValueError:
            return None
        return previous if isinstance(previous, list) else None

    def status(self, project: str | None = None) -> dict:
        try:
            jobs = self.triggers.status(None if project is None else project_key(project))
            for p, state in jobs.items():
                if self._settle(p, state):
                    jobs[p] = self.triggers.status(p)[p]
        except RedisError as exc:
            return {"mode": self.mode, "error": f"Redis is unavailable: {type(exc).__name__}", "jobs": {}}
        return {"mode": self.mode, "jobs": jobs}

    def _settle(self, project: str, state: dict) -> bool:
        """Declare the project's job failed when its queue says it ended without recording an outcome, when it is
        queued but missing from its queue, or when it stayed queued past JOB_QUEUED_TIMEOUT without the queue holding
        it; True when it did. A running job missing from RQ is left to its heartbeat (Redis may have restarted
        empty under a job that is alive)."""
        job_id = state.get("job_id")
        if state.get("state") not in ACTIVE or not isinstance(job_id, str):
            return False
        where, detail = self.queue.whereabouts(job_id)
        queued_for = time.time() - float(state.get("queued_at") or 0)
        timeout = self.settings.job_queued_timeout
        queued = state["state"] == "queued"
        if where == "ended" or (where == "missing" and queued and queued_for > ENQUEUE_GRACE_S):
            error = f"job lost: {detail}"
        elif queued and where != "waiting" and queued_for > timeout:
            error = f"job lost: not started within JOB_QUEUED_TIMEOUT={timeout:g}s ({detail})"
        else:
            return False
        if self.triggers.abandon(project, job_id, error):
            log.warning("project %s: job %s %s", project, job_id, error)
            return True
        return False

    def _mirror(self, project: str, event: str, data: dict) -> None:
        """Keep the annotation the webhook carries (training falls back to it without API access)."""
        mirror = self.mirror
        try:
            if event in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED"):
                mirror.record(project, data.get("task"), data.get("annotation"))
            elif event in BULK_EVENTS:
                for task, annotation in bulk_annotations(event, data):
                    mirror.record(project, task, annotation)
            elif event == "ANNOTATIONS_DELETED" and isinstance(data.get("annotations"), list):
                ids = {a.get("id") for a in data["annotations"] if isinstance(a, dict) and isinstance(a.get("id"), int)}
                mirror.delete(project, ids)
        except (
            OSError,
            RedisError,
        ) as exc:  # Label Studio still holds the annotation; only the fallback copy is missing
            log.warning("project %s: could not keep the webhook's annotation locally: %s", project, exc)

    def _time(self, project: str, data: dict) -> None:
        """Keep how long the annotator took (the cost model of cost-aware selection learns from it)."""
        task = data.get("task")
        if self.times is None or not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            return
        xml = self.store.label_config(project)
        key = None
        if xml:
            try:
                key = parse_ner_config(xml).value_key
            except Exception:
                key = None
        texts = [task["data"].get(key)] if key else list(task["data"].values())
        text = next((t for t in texts if isinstance(t, str)), None)
        seen = observation(len(split_words(text)) if text else 0, data.get("annotation"))
        if seen is not None:
            self.times.record(project, *seen)
