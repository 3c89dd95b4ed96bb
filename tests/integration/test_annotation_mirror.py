"""The annotation mirror under concurrent writers: separate processes (as gunicorn workers are) never lose an
annotation of a task they both write."""
from __future__ import annotations

import multiprocessing

from ner.store import ModelStore
from training.annotation_mirror import AnnotationMirror

WRITES = 150
TASK = {"id": 7, "data": {"text": "Angela Merkel met Macron in Berlin."}}


def write_annotations(model_dir: str, first_id: int, start) -> None:
    """One worker: add WRITES annotations (ids first_id, first_id + 1, ...) to the same task, one at a time."""
    mirror = AnnotationMirror(ModelStore(model_dir))
    start.wait()
    for i in range(WRITES):
        mirror.record("1", TASK, {"id": first_id + i, "result": []})


def test_two_processes_writing_one_task_lose_no_annotation(tmp_path):
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    workers = [context.Process(target=write_annotations, args=(str(tmp_path), first, start)) for first in (0, 10_000)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    (task,) = AnnotationMirror(ModelStore(tmp_path)).tasks("1")
    ids = sorted(a["id"] for a in task["annotations"])
    assert ids == list(range(WRITES)) + list(range(10_000, 10_000 + WRITES))


def test_a_delete_racing_writes_removes_only_what_it_names(tmp_path):
    mirror = AnnotationMirror(ModelStore(tmp_path))
    for i in range(WRITES):
        mirror.record("1", TASK, {"id": 20_000 + i, "result": []})
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    writer = context.Process(target=write_annotations, args=(str(tmp_path), 0, start))
    writer.start()
    start.wait()
    removed = sum(mirror.delete("1", {20_000 + i}) for i in range(WRITES))
    writer.join(timeout=120)
    assert writer.exitcode == 0 and removed == WRITES
    (task,) = mirror.tasks("1")
    assert sorted(a["id"] for a in task["annotations"]) == list(range(WRITES))
