"""State shared by every request of a web process: settings, the model store and the loaded models."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import redis

from infra.annotation_mirror import open_mirror
from infra.dispatch import JobDispatcher
from infra.job_state import LocalJobState, RedisJobState
from infra.lead_times import AnnotationTimes
from infra.local_queue import LocalQueue
from infra.redis_clients import web_client
from infra.rq_queue import RQQueue
from modeling.cache import ModelCache
from services.predict import ranking_from_settings
from services.refresh import PredictionRefresh
from services.select import ScoreCache
from services.train_job import JobContext, execute
from settings import Settings
from store.local import StoreUnavailable
from store.opening import open_store
from uncertainty import Ranking

log = logging.getLogger(__name__)

COST_REFIT_S = 60.0


class Runtime:
    """Built once per process (gunicorn --preload builds it in the master, before forking)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        Path(settings.model_dir).mkdir(parents=True, exist_ok=True)
        self.store = open_store(settings, serving=True)
        self.models = ModelCache(settings, self.store)
        self.scores = ScoreCache()
        connection = web_client(settings.redis_url)  # one client for lead times, job state and the queue
        self.times = AnnotationTimes(self.store, connection)
        self._observed: dict[str, tuple[float, tuple[list[int], list[float]]]] = {}
        self.jobs = self._training_jobs(settings, connection)

    def _training_jobs(self, settings: Settings, connection: redis.Redis | None) -> JobDispatcher:
        """RQ and Redis state with REDIS_URL; else a worker thread in this process, with its state in memory."""
        mirror = open_mirror(settings, self.store, connection)
        if connection is not None:
            triggers = RedisJobState(connection, stale_after=settings.job_heartbeat_timeout)
            return JobDispatcher(settings, self.store, triggers, RQQueue(connection), self.times, mirror)
        triggers = LocalJobState(stale_after=settings.job_heartbeat_timeout)
        refresh = PredictionRefresh(
            self.models, lambda project: self.ranking(project).single_pass(), settings.refresh_max_tasks
        )
        local = LocalQueue(lambda project, job_id: execute(project, job_id, context))
        # the job reads the registry itself (a serving store answers from its timer's last look)
        context = JobContext(settings, open_store(settings), triggers, local.enqueue, refresh, mirror)
        return JobDispatcher(settings, self.store, triggers, local, self.times, mirror)

    def ranking(self, project: str | None, **overrides) -> Ranking:
        """The ranking of the settings (request fields override them); cost-aware uses the project's fitted cost."""
        observations = (lambda: self.observations(project)) if project else None
        return ranking_from_settings(self.settings, observations, **overrides)

    def observations(self, project: str) -> tuple[list[int], list[float]]:
        """The project's annotation lead times, read at most every COST_REFIT_S so a cost-aware /predict does not
        read Redis (or the disk) on every request."""
        now = time.monotonic()
        cached = self._observed.get(project)
        if cached is None or now - cached[0] > COST_REFIT_S:
            cached = (now, self.times.observations(project))
            self._observed[project] = cached
        return cached[1]

    def remember_label_config(self, project: str, xml: str) -> None:
        """Keep the project's label config in the store so the worker and /select_samples can use it without a request.

        Best effort: a full or read-only disk, or an unreachable registry, is logged, and serving goes on (the
        request carries the config).
        """
        try:
            self.store.save_label_config(project, xml)
        except (OSError, StoreUnavailable) as exc:
            log.warning("project %s: could not keep the label config on disk: %s", project, exc)

    def label_config(self, project: object) -> str | None:
        return self.store.label_config(project)
