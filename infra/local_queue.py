"""The in-process worker (no REDIS_URL): one thread per web process runs training jobs in order."""

from __future__ import annotations

import logging
import os
import queue
import threading
from typing import Callable

log = logging.getLogger(__name__)


class LocalQueue:
    """Jobs wait in a queue.Queue; `run(project, job_id)` runs each on a thread started on first use (threads do
    not survive gunicorn's fork after --preload, so each process starts its own)."""

    mode = "in-process"

    def __init__(self, run: Callable[[str, str], object]):
        self.run = run
        self.pending: queue.Queue[tuple[str, str]] = queue.Queue()
        self.waiting: set[str] = set()
        self.current: str | None = None
        self.lock = threading.Lock()
        self._worker_pid: int | None = None

    def enqueue(self, project: str, job_id: str) -> None:
        with self.lock:
            if self._worker_pid != os.getpid():
                threading.Thread(target=self._work, name="training-worker", daemon=True).start()
                self._worker_pid = os.getpid()
            self.waiting.add(job_id)
        self.pending.put((project, job_id))

    def whereabouts(self, job_id: str) -> tuple[str, str]:
        """("waiting" | "taken" | "missing", detail): where job `job_id` is, as this process's worker knows it."""
        with self.lock:
            if job_id in self.waiting:
                return "waiting", "in the in-process queue"
            if job_id == self.current:
                return "taken", "running in the in-process worker"
        return "missing", "the in-process worker does not hold it (the process restarted or forked)"

    def _work(self) -> None:
        while True:
            project, job_id = self.pending.get()
            with self.lock:
                self.waiting.discard(job_id)
                self.current = job_id
            try:
                self.run(project, job_id)
            except Exception:  # the worker must outlive any one job
                log.exception("project %s: job %s ended with an error", project, job_id)
            finally:
                with self.lock:
                    self.current = None
