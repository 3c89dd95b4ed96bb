"""What the service served for each task and version, kept compactly so acceptance can be measured for annotations
that do not carry the prediction they were made from (those made through the API: `prediction: {}`).

Per (task, version) only the regions, as [from_name, to_name, start, end, label, ...] rows, and when. With Redis
(REDIS_URL) one hash per project shared by every process (field `<task>|<version>`); without it, one JSON-lines
file beside the annotation mirror (MODEL_DIR/<project>/served.jsonl) appended in single writes. Best effort: a
failure is logged once and serving goes on.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from store.local import Store

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

REDIS_KEY = "nerb:served:{project}"
SEEN_MAX = 50_000  # (project, task, version, regions) already written by this process: not written again


def compact(result: object) -> list[list]:
    """A prediction's region rows: [from_name, to_name, start, end, label...] for each labels region."""
    rows = []
    for item in result if isinstance(result, list) else []:
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(value, dict) or "start" not in value or "end" not in value:
            continue
        labels = [str(v) for v in value.get("labels") or []]
        rows.append(
            [str(item.get("from_name", "")), str(item.get("to_name", "")), value["start"], value["end"], *labels]
        )
    return rows


def expand(rows: list[list]) -> list[dict]:
    """Region rows back into Label Studio result items (what text.acceptance compares)."""
    return [
        {"from_name": r[0], "to_name": r[1], "type": "labels", "value": {"start": r[2], "end": r[3], "labels": r[4:]}}
        for r in rows
        if isinstance(r, list) and len(r) >= 4
    ]


class ServedPredictions:
    """`record(project, tasks, results)` after a /predict; `served(project)` -> {task id: [(at, version, rows)]}."""

    def __init__(self, store: Store, redis_client: redis.Redis | None = None):
        self.store = store
        self.redis = redis_client
        self._seen: OrderedDict[tuple, None] = OrderedDict()
        self._lock = threading.Lock()
        self._failing = False

    def record(self, project: str, tasks: Iterable, results: Iterable[dict]) -> None:
        now = round(time.time(), 3)
        rows = []
        for task, result in zip(tasks, results):
            task_id = task.get("id") if isinstance(task, dict) else None
            version = result.get("model_version") if isinstance(result, dict) else None
            if isinstance(task_id, bool) or not isinstance(task_id, int) or not isinstance(version, str):
                continue
            regions = compact(result.get("result"))
            key = (project, task_id, version, json.dumps(regions))
            with self._lock:
                if key in self._seen:
                    continue
                self._seen[key] = None
                while len(self._seen) > SEEN_MAX:
                    self._seen.popitem(last=False)
            rows.append([task_id, version, now, regions])
        if not rows:
            return
        try:
            if self.redis is not None:
                self.redis.hset(
                    REDIS_KEY.format(project=project),
                    mapping={f"{t}|{v}": json.dumps([at, r]) for t, v, at, r in rows},
                )
            else:
                path = self.store.project_dir(project) / "served.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                data = "".join(json.dumps(row) + "\n" for row in rows).encode()
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, data)  # one write: lines of two processes never interleave
                finally:
                    os.close(fd)
            self._failing = False
        except Exception as exc:  # acceptance of API annotations loses this one task; serving goes on
            if not self._failing:
                log.warning("project %s: could not keep what was served: %s", project, type(exc).__name__)
            self._failing = True

    def forget(self, project: str) -> int:
        """Delete what was kept for the project (a forgotten project); the servings deleted. The file beside the
        mirror goes with the project's folder; Redis's hash is deleted here."""
        with self._lock:
            for key in [k for k in self._seen if k[0] == project]:
                del self._seen[key]
        if self.redis is not None:
            key = REDIS_KEY.format(project=project)
            count = int(self.redis.hlen(key))
            self.redis.delete(key)
            return count
        path = self.store.project_dir(project) / "served.jsonl"
        try:
            count = len(path.read_text().splitlines())
        except FileNotFoundError:
            return 0
        path.unlink(missing_ok=True)
        return count

    def served(self, project: str) -> dict[int, list[tuple[float, str, list]]]:
        """Every kept serving per task, oldest first; raises when the copy cannot be read (the caller says so)."""
        out: dict[int, dict[str, tuple[float, str, list]]] = {}
        if self.redis is not None:
            for field, raw in self.redis.hgetall(REDIS_KEY.format(project=project)).items():
                field = field.decode() if isinstance(field, bytes) else field
                task, _, version = field.partition("|")
                try:
                    at, rows = json.loads(raw)
                    out.setdefault(int(task), {})[version] = (float(at), version, rows)
                except (ValueError, TypeError):
                    continue
        else:
            path = self.store.project_dir(project) / "served.jsonl"
            try:
                lines = path.read_text().splitlines()
            except FileNotFoundError:
                lines = []
            for line in lines:
                try:
                    task, version, at, rows = json.loads(line)
                    out.setdefault(int(task), {})[str(version)] = (float(at), str(version), rows)
                except (ValueError, TypeError):
                    continue  # a line cut by a crash
        return {task: sorted(by_version.values()) for task, by_version in out.items()}
