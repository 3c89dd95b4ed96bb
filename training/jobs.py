"""Training jobs: webhook events in, one coalesced job per project out, run by RQ or an in-process worker.

`TrainingJobs.handle_event` is what /webhook calls: it only counts and enqueues (Label Studio waits 1 s).
`execute` runs one job: read annotations from Label Studio, fine-tune (training.pipeline), and after a deploy
re-predict the unlabelled tasks with the new version so Label Studio's uncertainty sampling uses it at once.
`run_job` is the RQ entry point (`rq worker ner-training`).
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Callable

from label_studio_api import LabelStudioAPI, LabelStudioAuthError, LabelStudioError, LabelStudioNotConfigured
from ner.store import ModelStore, project_key
from protocol.errors import BadRequest, ServiceUnavailable
from protocol.label_config import parse_ner_config
from ner.words import split_words
from training.annotation_mirror import AnnotationMirror
from training.annotation_times import AnnotationTimes, observation
from training.triggers import LocalTriggers, RedisTriggers, rebuilt_count

log = logging.getLogger(__name__)

QUEUE_NAME = "ner-training"
COUNTED_EVENTS = {"ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"}
HEARTBEAT_EVERY_S = 2.0
JOB_TIMEOUT_S = 6 * 3600


def webhook_project(data: dict) -> str:
    """The project id of a webhook payload ({"project": {"id": 3, ...}} or {"project": 3})."""
    project = data.get("project")
    if isinstance(project, dict):
        project = project.get("id")
    if project is None or isinstance(project, bool) or not isinstance(project, (int, str)):
        raise BadRequest("webhook payload has no project id (field 'project.id')", field="project")
    return project_key(project)


def counted_events(event: str, data: dict) -> int:
    """How many annotation changes an event stands for (a bulk delete lists several)."""
    if event == "ANNOTATIONS_DELETED" and isinstance(data.get("annotations"), list):
        return max(1, len(data["annotations"]))
    return 1


class TrainingJobs:
    """Counts annotation events per project and dispatches coalesced jobs; also reports job status."""

    def __init__(self, settings, store: ModelStore, times: AnnotationTimes | None = None):
        self.settings = settings
        self.store = store
        self.times = times
        if settings.redis_url:
            import redis
            from rq import Queue

            connection = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
            self.triggers = RedisTriggers(connection, stale_after=settings.job_heartbeat_timeout)
            self.queue = Queue(QUEUE_NAME, connection=connection)
            self.mode = "rq"
        else:
            self.triggers = LocalTriggers(stale_after=settings.job_heartbeat_timeout)
            self.local_queue: queue.Queue[str] = queue.Queue()
            self.mode = "in-process"
            self._worker_pid: int | None = None
            self._worker_lock = threading.Lock()

    def enqueue(self, project: str) -> None:
        if self.mode == "rq":
            enqueue_rq(self.queue, project)
        else:
            self._ensure_local_worker()
            self.local_queue.put(project)

    def _ensure_local_worker(self) -> None:
        """Start the worker thread in this process (threads do not survive gunicorn's fork after --preload)."""
        with self._worker_lock:
            if self._worker_pid != os.getpid():
                threading.Thread(target=self._local_worker, name="training-worker", daemon=True).start()
                self._worker_pid = os.getpid()

    def _local_worker(self) -> None:
        while True:
            project = self.local_queue.get()
            execute(project, self.settings, self.triggers, self.enqueue, self.store)

    def handle_event(self, event: str, data: dict) -> dict:
        from redis.exceptions import RedisError

        project = webhook_project(data)
        self._mirror(project, event, data)
        if event == "ANNOTATION_CREATED":
            self._time(project, data)
        try:
            if event in COUNTED_EVENTS:
                every = self.settings.start_training_each_n_updates
                n = counted_events(event, data)
                versions = self.store.versions(project)
                trained_on = int(versions[-1].meta.get("annotations", 0)) if versions else 0
                initial = rebuilt_count(data.get("project"), trained_on, n)
                if not self.triggers.count(project, n, every, initial):
                    return {"status": "counted", "project": int(project)}
                reason = f"{every} annotation updates"
            elif event == "START_TRAINING":
                reason = "Start Training"
            else:
                return {"status": "ignored", "project": int(project), "action": event}
            outcome = self.triggers.request(project, reason)
            if outcome == "enqueue":
                try:
                    self.enqueue(project)
                except Exception as exc:
                    self.triggers.finish(project, False, error=f"could not enqueue: {type(exc).__name__}")
                    raise
        except RedisError as exc:
            raise ServiceUnavailable(f"Redis is unavailable, the event was not recorded: {type(exc).__name__}")
        log.info("project %s: %s -> %s", project, reason, outcome)
        return {"status": {"enqueue": "queued", "absorbed": "already queued", "follow-up": "follow-up queued"}[outcome],
                "project": int(project), "reason": reason}

    def _mirror(self, project: str, event: str, data: dict) -> None:
        """Keep the annotation the webhook carries (training falls back to it without API access)."""
        mirror = AnnotationMirror(self.store)
        try:
            if event in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED"):
                mirror.record(project, data.get("task"), data.get("annotation"))
            elif event == "ANNOTATIONS_DELETED" and isinstance(data.get("annotations"), list):
                ids = {a.get("id") for a in data["annotations"] if isinstance(a, dict) and isinstance(a.get("id"), int)}
                mirror.delete(project, ids)
        except OSError as exc:  # Label Studio still holds the annotation; only the local fallback copy is missing
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

    def status(self, project: str | None = None) -> dict:
        from redis.exceptions import RedisError

        try:
            jobs = self.triggers.status(None if project is None else project_key(project))
        except RedisError as exc:
            return {"mode": self.mode, "error": f"Redis is unavailable: {type(exc).__name__}", "jobs": {}}
        return {"mode": self.mode, "jobs": jobs}


class _Heartbeat:
    """Refreshes the job's heartbeat while it runs, so a killed worker is noticed by the next trigger."""

    def __init__(self, triggers, project: str):
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, args=(triggers, project), daemon=True)

    def _beat(self, triggers, project) -> None:
        while not self.stop.wait(HEARTBEAT_EVERY_S):
            try:
                triggers.update(project)
            except Exception:  # a missed beat is not worth failing the job for
                log.debug("heartbeat failed", exc_info=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()


def with_retries(what: Callable, settings, progress: Callable[[float, str], None]):
    """Call `what()`, retrying Label Studio failures with exponential backoff (not a missing or refused key)."""
    attempts = settings.label_studio_retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return what()
        except (LabelStudioNotConfigured, LabelStudioAuthError):  # retrying cannot fix a missing or refused key
            raise
        except LabelStudioError as exc:
            if attempt == attempts:
                raise
            delay = settings.label_studio_retry_delay * 2 ** (attempt - 1)
            progress(0.0, f"{exc}; retry {attempt}/{attempts - 1} in {delay:.1f}s")
            log.warning("%s; retrying in %.1fs", exc, delay)
            time.sleep(delay)


def execute(project: str, settings, triggers, enqueue: Callable[[str], None], store: ModelStore | None = None) -> dict:
    """Run one training job for `project` and record its outcome; enqueue the follow-up if one was requested."""
    store = store or ModelStore(settings.model_dir, keep=settings.keep_versions)
    started = time.time()
    triggers.start(project, started_at=started, progress=0.0, message="starting", error=None)

    def progress(fraction: float, message: str) -> None:
        triggers.update(project, progress=round(float(fraction), 4), message=message)

    summary: dict = {}
    ok = False
    try:
        with _Heartbeat(triggers, project):
            summary = train_from_label_studio(project, settings, store, progress)
        ok = True
    except Exception as exc:
        summary = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        log.exception("training job for project %s failed", project)
    summary["duration_s"] = round(time.time() - started, 1)
    summary["progress"] = 1.0 if ok else None
    summary["message"] = "finished" if ok else "failed"
    followup = triggers.finish(project, ok, **summary)
    if followup:
        enqueue(project)
    return summary


def train_from_label_studio(project: str, settings, store: ModelStore, progress) -> dict:
    """Fetch annotations, train and (if deployed) refresh Label Studio's predictions; returns a summary."""
    from protocol.label_config import parse_ner_config
    from training.annotations import tasks_to_examples
    from training.pipeline import run_training

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
        tasks = AnnotationMirror(store).tasks(project)
    config = parse_ner_config(label_config)
    examples, stats = tasks_to_examples(tasks, config)
    progress(0.05, f"training on {len(examples)} annotated tasks")
    outcome = run_training(project, examples, config, settings, store,
                           progress=lambda f, m: progress(0.05 + 0.85 * f, m))
    summary = outcome_summary(outcome)
    summary["extraction"] = stats.as_dict()
    if summary.get("deployed") and api is not None:
        progress(0.9, "re-predicting unlabelled tasks with the new version")
        summary["predictions_imported"] = with_retries(
            lambda: refresh_predictions(api, project, label_config, settings), settings, progress)
    return summary


def _stored_label_config(store: ModelStore, project: str) -> str:
    xml = store.label_config(project)
    if xml is None:
        raise LabelStudioNotConfigured(
            f"project {project}: no label config known yet (connect the backend in Label Studio, or set "
            "LABEL_STUDIO_HOST and LABEL_STUDIO_API_KEY)")
    return xml


def outcome_summary(outcome) -> dict:
    """The JSON-safe part of a TrainingOutcome for job status."""
    fields = ("version", "deployed", "reason", "train_size", "validation_size", "final_fit")
    summary = {f: getattr(outcome, f) for f in fields if hasattr(outcome, f)}
    metrics = getattr(outcome, "metrics", None) or {}
    current = getattr(outcome, "current_metrics", None) or {}
    summary["f1"] = metrics.get("entity_f1")
    summary["current_f1"] = current.get("entity_f1")
    return summary


def refresh_predictions(api: LabelStudioAPI, project: str, label_config: str, settings) -> int:
    """Predict the unlabelled tasks with the deployed version through the serving code, import them in bulk, and
    point the project at the version (so Uncertainty sampling serves the lowest-confidence task next)."""
    from model import NERBackend
    from runtime import Runtime

    runtime = Runtime(settings, with_jobs=False)
    backend = NERBackend(runtime, project, label_config)
    tasks = list(api.tasks(int(project), annotated=False))
    predictions = []
    for start in range(0, len(tasks), 256):
        chunk = tasks[start : start + 256]
        for task, prediction in zip(chunk, backend.predict(chunk)):
            predictions.append({"task": task["id"], **prediction})
    api.import_predictions(int(project), predictions)
    version = runtime.pool.version_for(project, backend.ner_config)
    api.set_model_version(int(project), version)
    return len(predictions)


def yield_cpu_to_serving(settings) -> None:
    """Keep a training job from starving /predict when the worker shares the machine: fewer torch threads
    (TRAINING_THREADS, default half the cores) and a lower CPU priority. bench/SPEED.md measured /predict p99 while
    training at 2.7x idle with torch's default threads and 1.65x with one thread."""
    import torch

    threads = settings.training_threads or max(1, (os.cpu_count() or 2) // 2)
    torch.set_num_threads(threads)
    try:
        os.nice(10)
    except OSError:  # not permitted here: priority stays as it is
        pass


def enqueue_rq(rq_queue, project: str) -> None:
    """Put a training job for `project` on the RQ queue (`run_job` in a worker)."""
    rq_queue.enqueue("training.jobs.run_job", project, job_timeout=JOB_TIMEOUT_S,
                     description=f"train NER project {project}")


def run_job(project: str) -> dict:
    """RQ entry point: settings from the environment, state in Redis."""
    import redis
    from rq import Queue

    from settings import Settings

    settings = Settings.from_env()
    yield_cpu_to_serving(settings)
    connection = redis.Redis.from_url(settings.redis_url)
    queue_ = Queue(QUEUE_NAME, connection=connection)
    triggers = RedisTriggers(connection, stale_after=settings.job_heartbeat_timeout)

    return execute(project, settings, triggers, lambda p: enqueue_rq(queue_, p))
