"""A copy of the annotations Label Studio's webhooks carry, so a project can train without API access.

Label Studio's ANNOTATION_CREATED/UPDATED webhooks include the task and the annotation. Keeping them lets a job
train when LABEL_STUDIO_API_KEY is not set; with API access, Label Studio stays the source of truth and this copy is
only a fallback. On one host (MODEL_STORE=local) they are kept under MODEL_DIR/<project>/annotations/<task id>.json
(atomically replaced; every read-modify-write holds the project's lock file, so gunicorn workers writing one task
never lose an annotation). Across hosts (MODEL_STORE=mlflow with REDIS_URL) they are kept in a Redis hash per
project, which the worker on any host reads; its read-modify-writes hold a Redis lock instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from settings import Settings
from store.local import Store, write_atomically

if TYPE_CHECKING:
    import redis

REDIS_KEY = "nerb:annotations:{project}"
LOCK_TIMEOUT_S = 10  # a holder that died releases the lock after this long


def _task_id(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class AnnotationMirror:
    """Tasks with their annotations, one JSON file per task, in the shape Label Studio's task API returns."""

    def __init__(self, store: Store):
        self.store = store

    def _dir(self, project) -> Path:
        return self.store.project_dir(project) / "annotations"

    @contextlib.contextmanager
    def _locked(self, directory: Path):
        """An exclusive lock across processes (flock on a file beside the tasks): two workers that read a task,
        add an annotation each and write it back would otherwise each drop the other's. One lock per project, since
        a delete rewrites any task; the kernel releases it if the holder dies."""
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def record(self, project, task: dict, annotation: dict) -> bool:
        """Add or replace `annotation` (by id) on `task`; False when the payload lacks what is needed."""
        task_id = _task_id(task.get("id")) if isinstance(task, dict) else None
        if task_id is None or not isinstance(annotation, dict) or not isinstance(task.get("data"), dict):
            return False
        directory = self._dir(project)
        path = directory / f"{task_id}.json"
        with self._locked(directory):
            self._write(path, _recorded(self._read(path), task, task_id, annotation))
        return True

    def delete(self, project, annotation_ids: set) -> int:
        """Drop annotations by id (ANNOTATIONS_DELETED); returns how many were removed."""
        removed = 0
        directory = self._dir(project)
        if not directory.is_dir() or not annotation_ids:
            return 0
        with self._locked(directory):
            for path in directory.glob("*.json"):
                stored = self._read(path)
                if not stored:
                    continue
                dropped = _drop_annotations(stored, annotation_ids)
                if dropped:
                    removed += dropped
                    self._write(path, stored)
        return removed

    def forget(self, project) -> int:
        """Delete every task kept for the project (a forgotten project); how many there were."""
        directory = self._dir(project)
        if not directory.is_dir():
            return 0
        doomed = directory.with_name(f".deleting-annotations-{uuid.uuid4().hex}")
        with self._locked(directory):
            held = len(list(directory.glob("*.json")))
            os.rename(directory, doomed)  # atomic: a writer waiting on the lock finds the folder gone, not half
        shutil.rmtree(doomed, ignore_errors=True)
        return held

    def tasks(self, project) -> list[dict]:
        directory = self._dir(project)
        if not directory.is_dir():
            return []
        tasks = [self._read(p) for p in sorted(directory.glob("*.json"))]
        return [t for t in tasks if t and t.get("annotations")]

    @staticmethod
    def _read(path: Path) -> dict | None:
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    @staticmethod
    def _write(path: Path, payload: dict) -> None:
        write_atomically(path, json.dumps(payload))


def _recorded(stored: dict | None, task: dict, task_id: int, annotation: dict) -> dict:
    stored = stored or {"id": task_id, "annotations": []}
    stored["data"] = task["data"]
    kept = [a for a in stored["annotations"] if a.get("id") != annotation.get("id")]
    stored["annotations"] = kept + [annotation]
    return stored


class RedisAnnotationMirror:
    """The same tasks in a Redis hash per project (task id -> task JSON), shared by the web and worker hosts."""

    def __init__(self, connection: redis.Redis):
        self.redis = connection

    def _key(self, project) -> str:
        return REDIS_KEY.format(project=project)

    def _locked(self, project):
        return self.redis.lock(self._key(project) + ":lock", timeout=LOCK_TIMEOUT_S, blocking_timeout=LOCK_TIMEOUT_S)

    def record(self, project, task: dict, annotation: dict) -> bool:
        task_id = _task_id(task.get("id")) if isinstance(task, dict) else None
        if task_id is None or not isinstance(annotation, dict) or not isinstance(task.get("data"), dict):
            return False
        key = self._key(project)
        with self._locked(project):
            stored = _loads(self.redis.hget(key, task_id))
            self.redis.hset(key, task_id, json.dumps(_recorded(stored, task, task_id, annotation)))
        return True

    def delete(self, project, annotation_ids: set) -> int:
        if not annotation_ids:
            return 0
        removed = 0
        key = self._key(project)
        with self._locked(project):
            for field, raw in self.redis.hgetall(key).items():
                stored = _loads(raw)
                if not stored:
                    continue
                dropped = _drop_annotations(stored, annotation_ids)
                if dropped:
                    removed += dropped
                    self.redis.hset(key, field, json.dumps(stored))
        return removed

    def forget(self, project) -> int:
        key = self._key(project)
        with self._locked(project):
            pipe = self.redis.pipeline(transaction=True)
            pipe.hlen(key)
            pipe.delete(key)
            held, _ = pipe.execute()
        return int(held)

    def tasks(self, project) -> list[dict]:
        tasks = [_loads(raw) for raw in self.redis.hvals(self._key(project))]
        return sorted((t for t in tasks if t and t.get("annotations")), key=lambda t: t["id"])


def _loads(raw) -> dict | None:
    try:
        return json.loads(raw) if raw is not None else None
    except ValueError:
        return None


def open_mirror(settings: Settings, store: Store, connection: redis.Redis | None = None) -> Mirror:
    """Redis when versions are shared across hosts (MODEL_STORE=mlflow) and Redis is there; else this host's disk."""
    if settings.model_store == "mlflow" and connection is not None:
        return RedisAnnotationMirror(connection)
    return AnnotationMirror(store)


def _drop_annotations(stored: dict, annotation_ids: set) -> int:
    """Remove the annotations with these ids from one stored task in place; how many were removed."""
    kept = [a for a in stored["annotations"] if a.get("id") not in annotation_ids]
    dropped = len(stored["annotations"]) - len(kept)
    stored["annotations"] = kept
    return dropped


Mirror = AnnotationMirror | RedisAnnotationMirror  # either copy: this host's disk, or Redis shared across hosts
