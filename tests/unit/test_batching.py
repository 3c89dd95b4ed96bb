"""The micro-batcher: concurrent small requests share one pass, each gets its own outputs in its own order, an
exception reaches only the request that causes it, and a request never waits behind a stuck pass forever."""

from __future__ import annotations

import threading
import time

import pytest

from modeling.batching import BatchTimeout, MicroBatcher


class Recorder:
    """A `run` whose output names its input, so a mixed-up answer cannot go unnoticed; records every call."""

    def __init__(self, fail_on: str | None = None, block_on: str | None = None):
        self.calls: list[list[str]] = []
        self.threads: set[int] = set()
        self.fail_on, self.block_on = fail_on, block_on
        self.release = threading.Event()

    def __call__(self, texts):
        self.calls.append(list(texts))
        self.threads.add(threading.get_ident())
        if self.block_on in texts:
            self.release.wait(10)
        if self.fail_on in texts:
            raise ValueError(f"cannot read {self.fail_on!r}")
        return [f"out:{t}" for t in texts]


def concurrently(batcher, requests: list[list[str]]) -> list:
    """Send every request from its own thread at once; each slot holds the answer or the exception."""
    answers: list = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def send(i):
        start.wait()
        try:
            answers[i] = batcher.predict(requests[i])
        except Exception as exc:  # noqa: BLE001 - the test checks which request got which
            answers[i] = exc

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return answers


def test_concurrent_requests_share_a_pass_and_each_gets_its_own_outputs_in_order():
    run = Recorder()
    batcher = MicroBatcher(run, window_s=0.3, max_texts=64)
    requests = [[f"r{i}-t{j}" for j in range(1 + i % 3)] for i in range(8)]
    answers = concurrently(batcher, requests)
    assert answers == [[f"out:{t}" for t in texts] for texts in requests]
    assert len(run.calls) < len(requests)  # at least two requests went through one call
    assert sorted(t for call in run.calls for t in call) == sorted(t for texts in requests for t in texts)


def test_a_lone_request_on_an_idle_server_runs_at_once_without_waiting_for_the_window():
    run = Recorder()
    batcher = MicroBatcher(run, window_s=2.0, max_texts=8)
    for text in ("first", "later"):  # the second comes after the busy period of the first pass
        started = time.monotonic()
        assert batcher.predict([text]) == [f"out:{text}"]
        assert time.monotonic() - started < 1.0
        time.sleep(batcher.busy_s + 0.05)


def test_a_pass_never_takes_more_than_max_texts_and_big_requests_run_alone_in_their_own_thread():
    run = Recorder()
    batcher = MicroBatcher(run, window_s=0.2, max_texts=4)
    requests = [[f"r{i}-a", f"r{i}-b"] for i in range(6)] + [[f"big-{j}" for j in range(5)]]
    answers = concurrently(batcher, requests)
    assert answers == [[f"out:{t}" for t in texts] for texts in requests]
    assert all(len(call) <= 4 for call in run.calls if not call[0].startswith("big"))
    assert [f"big-{j}" for j in range(5)] in run.calls


def test_window_zero_calls_run_directly_in_the_callers_thread():
    run = Recorder()
    assert MicroBatcher(run, window_s=0, max_texts=8).predict(["a", "b"]) == ["out:a", "out:b"]
    assert run.threads == {threading.get_ident()}


def test_an_exception_reaches_only_the_request_that_causes_it():
    run = Recorder(fail_on="r3-bad")
    batcher = MicroBatcher(run, window_s=0.3, max_texts=64)
    requests = [[f"r{i}-ok"] + (["r3-bad"] if i == 3 else []) for i in range(6)]
    answers = concurrently(batcher, requests)
    assert isinstance(answers[3], ValueError) and "r3-bad" in str(answers[3])
    assert [a for i, a in enumerate(answers) if i != 3] == [[f"out:r{i}-ok"] for i in range(6) if i != 3]
    assert batcher.predict(["after"]) == ["out:after"]  # the batching thread survived


def test_requests_stuck_behind_a_slow_pass_time_out_and_the_batcher_recovers():
    run = Recorder(block_on="slow")
    batcher = MicroBatcher(run, window_s=0.01, max_texts=64, timeout_s=0.5)
    slow = concurrently_later(batcher, ["slow"])
    time.sleep(0.2)  # the slow pass is running
    started = time.monotonic()
    with pytest.raises(BatchTimeout):
        batcher.predict(["queued behind it"])
    assert time.monotonic() - started < 2.0
    slow.join(10)
    assert isinstance(slow.answer, BatchTimeout)  # its own caller is not held forever either
    run.release.set()
    assert batcher.predict(["next"]) == ["out:next"]
    assert ["queued behind it"] not in run.calls  # its caller gave up: never run


def concurrently_later(batcher, texts) -> threading.Thread:
    """One request sent from a thread; the thread's `answer` is its outputs or the exception it raised."""

    def send():
        try:
            thread.answer = batcher.predict(texts)
        except Exception as exc:  # noqa: BLE001
            thread.answer = exc

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def test_the_batching_thread_ends_when_idle_and_a_new_one_starts_on_demand():
    run = Recorder()
    batcher = MicroBatcher(run, window_s=0.01, max_texts=8, idle_s=0.1)
    assert batcher.predict(["a"]) == ["out:a"]
    time.sleep(0.4)
    assert batcher._worker is None
    assert batcher.predict(["b"]) == ["out:b"]
