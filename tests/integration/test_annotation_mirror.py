"""The annotation mirror under concurrent writers: separate processes (as gunicorn workers, or web hosts, are) never
lose an annotation of a task they both write. Both kinds: files on one host (MODEL_STORE=local) and a Redis hash
shared by every host (MODEL_STORE=mlflow)."""

from __future__ import annotations

import multiprocessing

import pytest
import redis

from infra.annotation_mirror import REDIS_KEY, AnnotationMirror, RedisAnnotationMirror
from store.local import LocalStore

WRITES = 150
TASK = {"id": 7, "data": {"text": "Angela Merkel met Macron in Berlin."}}
REDIS_URL = "redis://127.0.0.1:6379/11"


def open_mirror(where: str):
    """A mirror on `where`: a directory, or the Redis URL (each process opens its own connection)."""
    if where.startswith("redis://"):
        return RedisAnnotationMirror(redis.Redis.from_url(where))
    return AnnotationMirror(LocalStore(where))


@pytest.fixture(params=["files", "redis"])
def where(request, tmp_path):
    if request.param == "files":
        yield str(tmp_path)
        return
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(REDIS_KEY.format(project="1"))
    yield REDIS_URL
    client.delete(REDIS_KEY.format(project="1"))


def write_annotations(where: str, first_id: int, start) -> None:
    """One worker: add WRITES annotations (ids first_id, first_id + 1, ...) to the same task, one at a time."""
    mirror = open_mirror(where)
    start.wait()
    for i in range(WRITES):
        mirror.record("1", TASK, {"id": first_id + i, "result": []})


def test_two_processes_writing_one_task_lose_no_annotation(where):
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    workers = [context.Process(target=write_annotations, args=(where, first, start)) for first in (0, 10_000)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    (task,) = open_mirror(where).tasks("1")
    ids = sorted(a["id"] for a in task["annotations"])
    assert ids == list(range(WRITES)) + list(range(10_000, 10_000 + WRITES))
    assert task["data"] == TASK["data"] and task["id"] == TASK["id"]


def test_a_delete_racing_writes_removes_only_what_it_names(where):
    mirror = open_mirror(where)
    for i in range(WRITES):
        mirror.record("1", TASK, {"id": 20_000 + i, "result": []})
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    writer = context.Process(target=write_annotations, args=(where, 0, start))
    writer.start()
    start.wait()
    removed = sum(mirror.delete("1", {20_000 + i}) for i in range(WRITES))
    writer.join(timeout=120)
    assert writer.exitcode == 0 and removed == WRITES
    (task,) = mirror.tasks("1")
    assert sorted(a["id"] for a in task["annotations"]) == list(range(WRITES))
