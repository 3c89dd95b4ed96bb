"""Micro-batching of concurrent /predict requests: small requests that arrive within a few milliseconds of each
other share one forward pass, and each is answered with its own outputs, in its own order.

One thread per served model runs the shared passes. While requests keep coming (a pass ended less than `busy_s`
ago) a request waits at most `window` after the first queued one for company, and requests queued while a pass
runs go with the next pass at once; on an idle server a lone request runs at once, so an annotator opening one
task at a time never pays the window (measured: the 2 ms window was most of the in-process overhead of a
single-task /predict, bench/SPEED.md). Requests of more than `max_texts` texts run alone in their own thread, as before.
A failing shared pass is rerun request by request, so an exception reaches only the request that causes it; a
request still waiting after `timeout` gets BatchTimeout instead of waiting behind a slow pass forever.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Callable, Sequence

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
IDLE_S = 30.0  # the batching thread ends after this long without requests (a new one starts on demand)
BUSY_S = 0.1  # a pass ended less than this long ago: requests are arriving together, wait the window for company


class BatchTimeout(Exception):
    """A request waited longer than the batcher's timeout for its shared forward pass (the server is overloaded)."""


@dataclass
class _Request:
    texts: list[str]
    arrived: float
    future: Future = field(default_factory=Future)


class MicroBatcher:
    """`predict(texts)` with the outputs of `run(texts)`, the texts of concurrent small calls run together."""

    def __init__(
        self,
        run: Callable[[list[str]], Sequence],
        window_s: float,
        max_texts: int,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        idle_s: float = IDLE_S,
        busy_s: float = BUSY_S,
    ):
        self.run = run
        self.window_s = window_s
        self.max_texts = max_texts
        self.timeout_s = timeout_s
        self.idle_s = idle_s
        self.busy_s = busy_s
        self._last_pass_end = float("-inf")
        self._queue: deque[_Request] = deque()
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None

    def predict(self, texts: list[str]) -> list:
        if self.window_s <= 0 or not texts or len(texts) > self.max_texts:
            return list(self.run(texts))
        request = _Request(list(texts), time.monotonic())
        with self._cond:
            self._queue.append(request)
            if self._worker is None:
                self._worker = threading.Thread(target=self._serve, name="predict-batcher", daemon=True)
                self._worker.start()
            self._cond.notify()
        try:
            return request.future.result(timeout=self.timeout_s)
        except FutureTimeout:
            request.future.cancel()  # still queued: never run; running: its outputs are dropped
            raise BatchTimeout(
                f"no forward pass for this request within {self.timeout_s:g} s: the server is overloaded, retry later"
            ) from None

    def _serve(self) -> None:
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                try:
                    self._execute(batch)
                finally:
                    with self._cond:
                        self._last_pass_end = time.monotonic()
        finally:
            with self._cond:
                if self._worker is threading.current_thread():
                    self._worker = None
                if self._worker is None and self._queue:  # left by a worker that died: start another
                    self._worker = threading.Thread(target=self._serve, name="predict-batcher", daemon=True)
                    self._worker.start()

    def _next_batch(self) -> list[_Request] | None:
        """Requests for one pass: wait for the first, then, if the server is busy, up to `window` after its arrival
        or `max_texts` texts."""
        with self._cond:
            while not self._queue:
                if not self._cond.wait(self.idle_s) and not self._queue:
                    self._worker = None
                    return None
            first = self._queue[0].arrived
            busy = first - self._last_pass_end < self.busy_s
            deadline = first + self.window_s if busy else first
            while sum(len(r.texts) for r in self._queue) < self.max_texts:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch, used = [], 0
            while self._queue and (not batch or used + len(self._queue[0].texts) <= self.max_texts):
                request = self._queue.popleft()
                if request.future.set_running_or_notify_cancel():  # False: its caller gave up waiting
                    batch.append(request)
                    used += len(request.texts)
            return batch

    def _execute(self, batch: list[_Request]) -> None:
        texts = [t for r in batch for t in r.texts]
        try:
            outputs = list(self.run(texts))
            if len(outputs) != len(texts):
                raise RuntimeError(f"{len(outputs)} outputs for {len(texts)} texts")
        except Exception as exc:
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            log.warning(
                "a shared forward pass of %d requests failed (%s: %s): running them one by one",
                len(batch),
                type(exc).__name__,
                exc,
            )
            for request in batch:
                self._execute_alone(request)
            return
        start = 0
        for request in batch:
            request.future.set_result(outputs[start : start + len(request.texts)])
            start += len(request.texts)
        if len(batch) > 1:
            log.debug("one forward pass for %d requests (%d texts)", len(batch), len(texts))

    def _execute_alone(self, request: _Request) -> None:
        try:
            request.future.set_result(list(self.run(request.texts)))
        except Exception as exc:
            request.future.set_exception(exc)
