"""What was served is bounded: once the kept servings double, each task keeps only its newest few (a refresh after
every deploy serves every unlabelled task again), on disk and in Redis, and nothing an annotation needs is lost."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC

import pytest
import redis

from infra import served_predictions
from infra.served_predictions import KEEP_PER_TASK, ServedPredictions, newest_per_task
from services.team_view import seen_prediction
from store.local import LocalStore


@pytest.fixture
def clock(monkeypatch):
    """Every serving one second after the one before (real time can give two servings the same millisecond)."""
    ticks = itertools.count(1_000_000)
    monkeypatch.setattr(served_predictions.time, "time", lambda: float(next(ticks)))
    monkeypatch.setattr(served_predictions, "COMPACT_FROM", 40)


def _serve(kept: ServedPredictions, version: int, tasks: range) -> None:
    results = [{"model_version": f"p1-v{version}-n{version}", "result": [_region(t, version)]} for t in tasks]
    kept.record("1", [{"id": t} for t in tasks], results)


def _region(task: int, version: int) -> dict:
    return {"from_name": "label", "to_name": "text", "value": {"start": 0, "end": version, "labels": ["PER"]}}


def _check_newest_kept(kept: ServedPredictions, versions: int, tasks: range) -> dict:
    served = kept.served("1")
    assert set(served) == set(tasks)
    for task in tasks:
        names = [version for _, version, _ in served[task]]
        assert names == [f"p1-v{v}-n{v}" for v in range(versions - len(names) + 1, versions + 1)]
        assert KEEP_PER_TASK <= len(names) < 2 * KEEP_PER_TASK + 2  # compacted, then grown again by the last deploys
    return served


def test_the_file_keeps_each_tasks_newest_servings_once_it_has_doubled(tmp_path, clock):
    kept = ServedPredictions(LocalStore(tmp_path))
    for version in range(1, 13):  # 12 deploys, each refreshing the same 10 tasks
        _serve(kept, version, range(10))
    served = _check_newest_kept(kept, 12, range(10))
    lines = (tmp_path / "1" / "served.jsonl").read_text().splitlines()
    assert len(lines) <= 2 * KEEP_PER_TASK * 10 + 10  # at most twice what a compaction keeps (120 without)
    # an annotation made after version 11 was served and before version 12 reads version 11's prediction
    made = served[3][-1][0] - 0.5
    annotation = {"created_at": _iso(made), "prediction": {}, "result": []}
    prediction, version, source = seen_prediction(annotation, served[3])
    assert (version, source) == ("p1-v11-n11", "served") and prediction["result"][0]["value"]["end"] == 11


def test_redis_keeps_each_tasks_newest_servings_once_the_hash_has_doubled(private_redis, clock):
    client = redis.Redis.from_url(private_redis.url)
    kept = ServedPredictions(LocalStore(private_redis.directory), client)
    for version in range(1, 13):
        _serve(kept, version, range(10))
    _check_newest_kept(kept, 12, range(10))
    assert client.hlen(served_predictions.REDIS_KEY.format(project="1")) <= 2 * KEEP_PER_TASK * 10 + 10


def test_appends_from_several_threads_during_compactions_lose_no_serving(tmp_path, clock):
    kept = [ServedPredictions(LocalStore(tmp_path)) for _ in range(3)]  # three processes' writers on one file
    errors = []

    def work(writer: ServedPredictions, tasks: range) -> None:
        try:
            for version in range(1, 15):
                _serve(writer, version, tasks)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w, range(10 * i, 10 * i + 10))) for i, w in enumerate(kept)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    served = ServedPredictions(LocalStore(tmp_path)).served("1")
    assert set(served) == set(range(30))
    assert all(served[t][-1][1] == "p1-v14-n14" for t in range(30))  # every task's newest serving is there


def test_newest_per_task_keeps_one_serving_per_version_and_the_newest_versions():
    rows = [(1, "v1", 1.0, []), (1, "v2", 2.0, []), (1, "v1", 3.0, ["again"]), (1, "v3", 4.0, []), (2, "v1", 0.5, [])]
    assert newest_per_task(rows, keep=2) == [(2, "v1", 0.5, []), (1, "v1", 3.0, ["again"]), (1, "v3", 4.0, [])]


def _iso(at: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(at, tz=UTC).isoformat()
