"""A running job's heartbeat and progress, written to the job state by a thread of their own: best effort and
throttled, so a Redis that is down or hangs neither fails nor slows the training (a failed write is logged)."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infra.job_state import JobState

log = logging.getLogger(__name__)

BEAT_EVERY_S = 1.0  # progress reaches the state at most this often; the heartbeat rides along


class Heartbeat:
    """`progress()` only notes the latest progress; the thread writes it with the heartbeat every BEAT_EVERY_S."""

    def __init__(self, triggers: JobState, project: str, job_id: str, generation: int, every: float = BEAT_EVERY_S):
        self.triggers = triggers
        self.project, self.job_id, self.generation = project, job_id, generation
        self.every = every
        self.latest: dict = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.failing = False
        self.replaced = False
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{project}", daemon=True)

    def progress(self, fraction: float, message: str) -> None:
        with self.lock:
            self.latest = {"progress": round(float(fraction), 4), "message": message}

    def _beat(self) -> None:
        while not self.stop.wait(self.every):
            self.write()

    def write(self) -> None:
        with self.lock:
            fields = dict(self.latest)
        try:
            owned = self.triggers.update(self.project, self.job_id, self.generation, **fields)
        except Exception as exc:
            if not self.failing:
                log.warning(
                    "project %s: could not write job %s's heartbeat (%s: %s); training goes on",
                    self.project,
                    self.job_id,
                    type(exc).__name__,
                    exc,
                )
            self.failing = True
            return
        if self.failing:
            log.warning("project %s: job %s's heartbeat is written again", self.project, self.job_id)
            self.failing = False
        if not owned and not self.replaced:
            log.warning(
                "project %s: job %s was replaced by a newer job; it no longer reports progress",
                self.project,
                self.job_id,
            )
            self.replaced = True

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=30)  # a write in flight ends within the connection's timeouts
