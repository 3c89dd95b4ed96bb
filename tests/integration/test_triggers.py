"""Trigger counting and job coalescing, with the same contract for the in-process and the Redis backend."""
from __future__ import annotations

import time
import uuid

import pytest
import redis

from training.triggers import LocalTriggers, RedisTriggers


@pytest.fixture(params=["local", "redis"])
def triggers(request):
    if request.param == "local":
        yield LocalTriggers(stale_after=2.0)
        return
    connection = redis.Redis(host="127.0.0.1", port=6379)
    t = RedisTriggers(connection, stale_after=2.0)
    t.prefix = f"nerb-test-{uuid.uuid4().hex[:8]}"
    yield t
    for key in connection.scan_iter(f"{t.prefix}:*"):
        connection.delete(key)


def test_every_nth_event_fires_once(triggers):
    fired = [triggers.count("1", 1, 10) for _ in range(35)]
    assert [i + 1 for i, f in enumerate(fired) if f] == [10, 20, 30]
    assert triggers.status("1")["1"]["annotations_since_last_job"] == 5


def test_bulk_events_carry_over_the_remainder(triggers):
    assert triggers.count("1", 7, 5) is True
    assert triggers.status("1")["1"]["annotations_since_last_job"] == 2


def test_zero_means_never_by_count(triggers):
    assert not any(triggers.count("1", 1, 0) for _ in range(50))


def test_projects_count_separately(triggers):
    assert not triggers.count("1", 4, 5) and not triggers.count("2", 4, 5)
    assert triggers.count("1", 1, 5) and not triggers.count("3", 1, 5)


def test_triggers_while_queued_are_absorbed_and_while_running_coalesce_into_one_follow_up(triggers):
    assert triggers.request("1", "a") == "enqueue"
    assert [triggers.request("1", "b") for _ in range(5)] == ["absorbed"] * 5
    triggers.start("1")
    assert {triggers.request("1", "c") for _ in range(30)} == {"follow-up"}
    assert triggers.finish("1", True, version="p1-v1-n10") is True  # exactly one follow-up, now queued
    state = triggers.status("1")["1"]
    assert state["state"] == "queued" and state["reason"] == "follow-up" and state["runs"] == 1
    triggers.start("1")
    assert triggers.finish("1", True) is False
    assert triggers.status("1")["1"]["state"] == "finished"
    assert triggers.request("1", "d") == "enqueue"


def test_failed_job_records_reason_and_next_trigger_enqueues(triggers):
    triggers.request("1", "a")
    triggers.start("1")
    assert triggers.finish("1", False, error="LabelStudioError: unreachable") is False
    state = triggers.status("1")["1"]
    assert state["state"] == "failed" and "unreachable" in state["error"]
    assert triggers.request("1", "b") == "enqueue"


def test_running_job_without_heartbeat_is_declared_lost(triggers):
    triggers.request("1", "a")
    triggers.start("1")
    assert triggers.request("1", "b") == "follow-up"
    time.sleep(2.5)
    assert triggers.status("1")["1"]["state"] == "failed"
    assert triggers.request("1", "c") == "enqueue"
    assert "worker lost" in triggers.status("1")["1"]["error"]


def test_progress_updates_keep_the_job_alive(triggers):
    triggers.request("1", "a")
    triggers.start("1")
    for _ in range(3):
        time.sleep(1.0)
        triggers.update("1", progress=0.5, message="epoch 2/10")
    state = triggers.status("1")["1"]
    assert state["state"] == "running" and state["progress"] == 0.5 and state["message"] == "epoch 2/10"


def test_a_lost_counter_is_rebuilt_from_the_webhook_totals(triggers):
    from training.triggers import rebuilt_count

    # 27 annotated tasks now, the newest version trained on 20, this event is 1: 6 were waiting before it
    initial = rebuilt_count({"num_tasks_with_annotations": 27}, trained_on=20, n=1)
    assert initial == 6
    assert triggers.count("1", 1, 10, initial) is False
    assert triggers.status("1")["1"]["annotations_since_last_job"] == 7
    assert triggers.count("1", 3, 10, initial) is True  # the seed applies only to a counter that was lost
    assert rebuilt_count({"num_tasks_with_annotations": 3}, trained_on=20, n=1) == 0
    assert rebuilt_count({}, trained_on=0, n=1) == 0
