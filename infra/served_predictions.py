"""What the service served for each task and version, kept compactly so acceptance can be measured for annotations
that do not carry the prediction they were made from (Label Studio 1.23 sends `prediction: {}` from the API and
from its labelling view alike).

Per (task, version) the regions, as [from_name, to_name, start, end, label, ...] rows, the choices, as
[from_name, to_name, "choices", choice, ...] rows, and when. With Redis (REDIS_URL) one hash per project shared by
every process (field `<task>|<version>`); without it, one JSON-lines file beside the annotation mirror
(MODEL_DIR/<project>/served.jsonl) appended in single writes. Best effort: a failure is logged once and serving
goes on.

Bounded: every deploy's refresh serves every unlabelled task again, so a 20,000-task project with 50 deploys would
keep a million servings. Acceptance needs, per task, the newest serving before its annotation, and a labelled task
is no longer refreshed, so only a task's newest servings matter: once the kept servings have doubled since the last
compaction (and number at least COMPACT_FROM), each task keeps its KEEP_PER_TASK newest. The file is rewritten
under an exclusive flock that appends take shared, so no append falls between the read and the rename.
"""

from __future__ import annotations

import contextlib
import fcntl
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
KEEP_PER_TASK = 3  # servings kept per task at a compaction, newest first
COMPACT_FROM = 50_000  # servings (file lines or hash fields) below which nothing is compacted


CHOICES = "choices"  # third field of a choices row, where a labels row has its start offset


def compact(result: object) -> list[list]:
    """A prediction's rows: [from_name, to_name, start, end, label...] for each labels region and
    [from_name, to_name, "choices", choice...] for each choices item (other items are not measured)."""
    rows = []
    for item in result if isinstance(result, list) else []:
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(value, dict):
            continue
        names = [str(item.get("from_name", "")), str(item.get("to_name", ""))]
        if "start" in value and "end" in value:
            rows.append([*names, value["start"], value["end"], *(str(v) for v in value.get("labels") or [])])
        elif isinstance(value.get("choices"), list):
            rows.append([*names, CHOICES, *(str(v) for v in value["choices"])])
    return rows


def expand(rows: list[list]) -> list[dict]:
    """Rows back into Label Studio result items (what text.acceptance compares)."""
    items = []
    for r in rows:
        if not isinstance(r, list) or len(r) < 3:
            continue
        if r[2] == CHOICES:
            items.append({"from_name": r[0], "to_name": r[1], "type": "choices", "value": {"choices": r[3:]}})
        elif len(r) >= 4:
            items.append(
                {
                    "from_name": r[0],
                    "to_name": r[1],
                    "type": "labels",
                    "value": {"start": r[2], "end": r[3], "labels": r[4:]},
                }
            )
    return items


def newest_per_task(rows: Iterable[tuple[int, str, float, list]], keep: int = KEEP_PER_TASK) -> list[tuple]:
    """The `keep` newest (task, version, at, regions) servings of each task (one per version: its newest), oldest
    first."""
    by_task: dict[int, dict[str, tuple]] = {}
    for row in rows:
        versions = by_task.setdefault(row[0], {})
        if row[1] not in versions or versions[row[1]][2] <= row[2]:
            versions[row[1]] = row
    kept = [r for versions in by_task.values() for r in sorted(versions.values(), key=lambda r: r[2])[-keep:]]
    return sorted(kept, key=lambda r: (r[2], r[0]))


def _file_rows(path) -> list[tuple[int, str, float, list]]:
    """(task, version, at, regions) of every readable line of the served file, in file order ([] without one)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    rows = []
    for line in lines:
        try:
            task, version, at, regions = json.loads(line)
            rows.append((int(task), str(version), float(at), regions))
        except (ValueError, TypeError):
            continue  # a line cut by a crash
    return rows


def _hash_rows(client: redis.Redis, key: str) -> list[tuple[int, str, float, list]]:
    """(task, version, at, regions) of every readable field of the project's Redis hash."""
    rows = []
    for field, raw in client.hgetall(key).items():
        field = field.decode() if isinstance(field, bytes) else field
        task, _, version = field.partition("|")
        try:
            at, regions = json.loads(raw)
            rows.append((int(task), version, float(at), regions))
        except (ValueError, TypeError):
            continue
    return rows


class ServedPredictions:
    """`record(project, tasks, results)` after a /predict; `served(project)` -> {task id: [(at, version, rows)]}."""

    def __init__(self, store: Store, redis_client: redis.Redis | None = None):
        self.store = store
        self.redis = redis_client
        self._seen: OrderedDict[tuple, None] = OrderedDict()
        self._lock = threading.Lock()
        self._failing = False
        self._compacted_at: dict[str, int] = {}  # project -> servings kept after this process's last compaction

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
                key = REDIS_KEY.format(project=project)
                pipe = self.redis.pipeline()  # one round trip on /predict's path: the write and the count
                pipe.hset(key, mapping={f"{t}|{v}": json.dumps([at, r]) for t, v, at, r in rows})
                pipe.hlen(key)
                _, kept = pipe.execute()
                if self._due(project, int(kept)):
                    self._compact_redis(project, key)
            else:
                path = self.store.project_dir(project) / "served.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                data = "".join(json.dumps(row) + "\n" for row in rows).encode()
                with self._file_lock(path, fcntl.LOCK_SH):
                    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                    try:
                        os.write(fd, data)  # one write: lines of two processes never interleave
                    finally:
                        os.close(fd)
                if self._due(project, path.stat().st_size // 64):  # a serving line is at least about 64 bytes
                    self._compact_file(project, path)
            self._failing = False
        except Exception as exc:  # acceptance of API annotations loses this one task; serving goes on
            if not self._failing:
                log.warning("project %s: could not keep what was served: %s", project, type(exc).__name__)
            self._failing = True

    def _due(self, project: str, kept: int) -> bool:
        """Whether `kept` servings (an estimate for the file) have doubled since the last compaction."""
        return kept >= max(COMPACT_FROM, 2 * self._compacted_at.get(project, 0))

    @staticmethod
    @contextlib.contextmanager
    def _file_lock(path, mode: int):
        with open(path.with_suffix(".lock"), "a") as handle:
            fcntl.flock(handle, mode)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _compact_file(self, project: str, path) -> None:
        with self._file_lock(path, fcntl.LOCK_EX):
            rows = _file_rows(path)
            kept = newest_per_task(rows)
            tmp = path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(json.dumps(list(row)) + "\n" for row in kept))
            os.replace(tmp, path)
        self._compacted(project, len(kept), len(rows))

    def _compact_redis(self, project: str, key: str) -> None:
        rows = _hash_rows(self.redis, key)
        kept = {(task, version) for task, version, _, _ in newest_per_task(rows)}
        stale = [f"{task}|{version}" for task, version, _, _ in rows if (task, version) not in kept]
        for start in range(0, len(stale), 1000):
            self.redis.hdel(key, *stale[start : start + 1000])
        self._compacted(project, len(kept), len(rows))

    def _compacted(self, project: str, kept: int, total: int) -> None:
        self._compacted_at[project] = max(kept, 1)
        log.info("project %s: kept %d of %d servings (the newest %d per task)", project, kept, total, KEEP_PER_TASK)

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
        self._compacted_at.pop(project, None)
        path.with_suffix(".lock").unlink(missing_ok=True)
        try:
            count = len(path.read_text().splitlines())
        except FileNotFoundError:
            return 0
        path.unlink(missing_ok=True)
        return count

    def served(self, project: str) -> dict[int, list[tuple[float, str, list]]]:
        """Every kept serving per task, oldest first; raises when the copy cannot be read (the caller says so)."""
        if self.redis is not None:
            rows = _hash_rows(self.redis, REDIS_KEY.format(project=project))
        else:
            rows = _file_rows(self.store.project_dir(project) / "served.jsonl")
        out: dict[int, dict[str, tuple[float, str, list]]] = {}
        for task, version, at, regions in rows:  # a later line of the file replaces an earlier one of its version
            out.setdefault(task, {})[version] = (at, version, regions)
        return {task: sorted(by_version.values()) for task, by_version in out.items()}
