"""A local copy of the annotations Label Studio's webhooks carry, so a project can train without API access.

Label Studio's ANNOTATION_CREATED/UPDATED webhooks include the task and the annotation. Keeping them under
MODEL_DIR/<project>/annotations/<task id>.json (atomically replaced) lets a job train when LABEL_STUDIO_API_KEY
is not set; with API access, Label Studio stays the source of truth and this copy is only a fallback.
Every read-modify-write holds the project's lock file, so gunicorn workers writing one task never lose an annotation.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
from pathlib import Path

from ner.store import ModelStore, write_atomically


def _task_id(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class AnnotationMirror:
    """Tasks with their annotations, one JSON file per task, in the shape Label Studio's task API returns."""

    def __init__(self, store: ModelStore):
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
            stored = self._read(path) or {"id": task_id, "annotations": []}
            stored["data"] = task["data"]
            kept = [a for a in stored["annotations"] if a.get("id") != annotation.get("id")]
            stored["annotations"] = kept + [annotation]
            self._write(path, stored)
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
                kept = [a for a in stored["annotations"] if a.get("id") not in annotation_ids]
                if len(kept) != len(stored["annotations"]):
                    removed += len(stored["annotations"]) - len(kept)
                    stored["annotations"] = kept
                    self._write(path, stored)
        return removed

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
