"""Trigger counting and job coalescing, with the same contract for the in-process and the Redis backend."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from infra.job_state import LocalJobState, RedisJobState


@pytest.fixture(params=["local", "redis"])
def triggers(request):
    if request.param == "local":
        yield LocalJobState(stale_after=2.0)
        return
    connection = redis.Redis(host="127.0.0.1", port=6379)
    t = RedisJobState(connection, stale_after=2.0)
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


def test_start_training_restarts_the_count_even_when_counting_never_fires(triggers):
    for every in (0, 10):
        project = f"restart-{every}"
        assert triggers.count(project, 7, every) is False
        triggers.restart_count(project)
        assert triggers.status(project)[project]["annotations_since_last_job"] == 0
        assert triggers.count(project, 2, every) is False  # with every=10: 2, not 9, towards the next job
        assert triggers.status(project)[project]["annotations_since_last_job"] == 2


def test_projects_count_separately(triggers):
    assert not triggers.count("1", 4, 5) and not triggers.count("2", 4, 5)
    assert triggers.count("1", 1, 5) and not triggers.count("3", 1, 5)


def test_triggers_while_queued_are_absorbed_and_while_running_coalesce_into_one_follow_up(triggers):
    assert triggers.request("1", "a", "job-a") == "enqueue"
    assert [triggers.request("1", "b", "job-x") for _ in range(5)] == ["absorbed"] * 5
    assert triggers.status("1")["1"]["job_id"] == "job-a"
    triggers.start("1", "job-a")
    assert {triggers.request("1", "c", "job-x") for _ in range(30)} == {"follow-up"}
    assert triggers.finish("1", "job-a", True, "job-b", version="p1-v1-n10") is True  # one follow-up, now queued
    state = triggers.status("1")["1"]
    assert state["state"] == "queued" and state["reason"] == "follow-up" and state["runs"] == 1
    assert state["job_id"] == "job-b"
    triggers.start("1", "job-b")
    assert triggers.finish("1", "job-b", True, "job-c") is False
    assert triggers.status("1")["1"]["state"] == "finished"
    assert triggers.request("1", "d", "job-d") == "enqueue"


def test_failed_job_records_reason_and_next_trigger_enqueues(triggers):
    triggers.request("1", "a", "job-a")
    triggers.start("1", "job-a")
    assert triggers.finish("1", "job-a", False, "job-b", error="LabelStudioError: unreachable") is False
    state = triggers.status("1")["1"]
    assert state["state"] == "failed" and "unreachable" in state["error"]
    assert triggers.request("1", "b", "job-b") == "enqueue"


def test_running_job_without_heartbeat_is_declared_lost(triggers):
    triggers.request("1", "a", "job-a")
    triggers.start("1", "job-a")
    assert triggers.request("1", "b", "job-x") == "follow-up"
    time.sleep(2.5)
    assert triggers.status("1")["1"]["state"] == "failed"
    assert triggers.request("1", "c", "job-c") == "enqueue"
    assert "worker lost" in triggers.status("1")["1"]["error"]


def test_progress_updates_keep_the_job_alive(triggers):
    triggers.request("1", "a", "job-a")
    generation = triggers.start("1", "job-a")
    for _ in range(3):
        time.sleep(1.0)
        assert triggers.update("1", "job-a", generation, progress=0.5, message="epoch 2/10")
    state = triggers.status("1")["1"]
    assert state["state"] == "running" and state["progress"] == 0.5 and state["message"] == "epoch 2/10"


def test_a_job_declared_lost_cannot_overwrite_its_replacement(triggers):
    triggers.request("1", "a", "job-a")
    old = triggers.start("1", "job-a")
    time.sleep(2.5)  # no heartbeat: lost
    assert triggers.request("1", "b", "job-b") == "enqueue"
    assert triggers.start("1", "job-a") is None  # a job that is not the one the state names does not start
    new = triggers.start("1", "job-b")
    assert new > old
    assert triggers.update("1", "job-a", old, progress=0.9, message="still alive") is False
    assert triggers.finish("1", "job-a", True, "job-z", version="p1-v9-n1") is False
    state = triggers.status("1")["1"]
    assert state["state"] == "running" and state["job_id"] == "job-b" and state["generation"] == new
    assert "version" not in state


def test_only_the_newest_generation_may_deploy(triggers):
    triggers.request("1", "a", "job-a")
    old = triggers.start("1", "job-a")
    with triggers.deploying("1", old) as refusal:
        assert refusal is None
    triggers.abandon("1", "job-a", "job lost: test")
    triggers.request("1", "b", "job-b")
    new = triggers.start("1", "job-b")
    with triggers.deploying("1", old) as refusal:
        assert "newer job" in refusal and str(new) in refusal
    with triggers.deploying("1", new) as refusal:
        assert refusal is None


def test_abandon_fails_only_the_job_it_names_while_it_is_active(triggers):
    triggers.request("1", "a", "job-a")
    assert triggers.abandon("1", "job-other", "job lost: x") is False
    assert triggers.abandon("1", "job-a", "job lost: its RQ job no longer exists") is True
    state = triggers.status("1")["1"]
    assert state["state"] == "failed" and "no longer exists" in state["error"]
    assert triggers.abandon("1", "job-a", "again") is False
    assert triggers.request("1", "b", "job-b") == "enqueue"


def test_a_lost_counter_is_rebuilt_from_the_webhook_totals(triggers):
    from infra.job_state import rebuilt_count

    # 27 annotated tasks now, the newest version trained on 20, this event is 1: 6 were waiting before it
    initial = rebuilt_count({"num_tasks_with_annotations": 27}, trained_on=20, n=1)
    assert initial == 6
    assert triggers.count("1", 1, 10, initial) is False
    assert triggers.status("1")["1"]["annotations_since_last_job"] == 7
    assert triggers.count("1", 3, 10, initial) is True  # the seed applies only to a counter that was lost
    assert rebuilt_count({"num_tasks_with_annotations": 3}, trained_on=20, n=1) == 0
    assert rebuilt_count({}, trained_on=0, n=1) == 0


def test_a_running_job_recreates_its_state_when_redis_lost_it():
    """Redis restarted empty under a running job: its next heartbeat writes the state back (running, its job id),
    and the generation counter it re-seeds still lets it deploy, while a job started afterwards counts higher."""
    connection = redis.Redis(host="127.0.0.1", port=6379)
    t = RedisJobState(connection, stale_after=2.0)
    t.prefix = f"nerb-test-{uuid.uuid4().hex[:8]}"
    try:
        t.request("1", "a", "job-a")
        generation = t.start("1", "job-a")
        for key in connection.scan_iter(f"{t.prefix}:*"):
            connection.delete(key)
        assert t.status("1")["1"]["state"] == "idle"
        assert t.update("1", "job-a", generation, progress=0.4, message="epoch 1/2")
        state = t.status("1")["1"]
        assert state["state"] == "running" and state["job_id"] == "job-a" and state["progress"] == 0.4
        assert "1" in t.status()
        with t.deploying("1", generation) as refusal:
            assert refusal is None
        assert t.request("1", "b", "job-b") == "follow-up"  # it is known to run again
    finally:
        for key in connection.scan_iter(f"{t.prefix}:*"):
            connection.delete(key)


def test_a_forgotten_projects_job_can_neither_start_write_nor_deploy_and_its_id_can_be_used_again(triggers):
    triggers.request("1", "a", "job-a")
    generation = triggers.start("1", "job-a")
    triggers.request("1", "b", "job-x")  # a follow-up requested meanwhile
    triggers.request("2", "a", "job-2")
    triggers.count("2", 3, 10)
    assert triggers.forget("1") is True and triggers.forgotten("1") and not triggers.forgotten("2")
    assert triggers.update("1", "job-a", generation, progress=0.9) is False
    with triggers.deploying("1", generation) as refusal:
        assert "forgotten" in refusal
    assert triggers.finish("1", "job-a", True, "job-b", version="p1-v1-n3") is False  # no follow-up either
    assert triggers.status("1")["1"]["state"] == "forgotten" and "1" not in triggers.status()
    assert (
        triggers.status("2")["2"]["annotations_since_last_job"] == 3 and triggers.status("2")["2"]["state"] == "queued"
    )
    assert triggers.forget("3") is False
    assert triggers.request("1", "a project with this id again", "job-c") == "enqueue"
    assert not triggers.forgotten("1") and triggers.start("1", "job-c") is not None
    state = triggers.status("1")["1"]
    assert state["state"] == "running" and "forgotten_at" not in state


def test_a_project_queued_when_forgotten_never_starts(triggers):
    triggers.request("1", "a", "job-a")
    triggers.forget("1")
    assert triggers.start("1", "job-a") is None
