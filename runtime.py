"""State shared by every request of a web process: settings, the model store and the loaded models."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import redis

from ner.pool import ModelPool
from ner.store import ModelStore
from sampling import ScoreCache
from settings import Settings
from training.annotation_times import AnnotationTimes
from uncertainty import TOKEN_COUNT, CostModel, Ranking, fit_cost

log = logging.getLogger(__name__)

COST_REFIT_S = 60.0


def _redis(url: str):
    """A client with short timeouts (a slow Redis must not hold a request), or None without REDIS_URL."""
    if not url:
        return None
    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5, decode_responses=True)


class Runtime:
    """Built once per process (gunicorn --preload builds it in the master, before forking)."""

    def __init__(self, settings: Settings, with_jobs: bool = True):
        self.settings = settings
        Path(settings.model_dir).mkdir(parents=True, exist_ok=True)
        self.store = ModelStore(settings.model_dir, keep=settings.keep_versions)
        self.pool = ModelPool(settings, self.store)
        self.scores = ScoreCache()
        self.times = AnnotationTimes(self.store, _redis(settings.redis_url))
        self._costs: dict[str, tuple[float, CostModel]] = {}
        self.jobs = None
        if with_jobs:
            from training.jobs import TrainingJobs

            self.jobs = TrainingJobs(settings, self.store, self.times)

    def ranking(self, project: str | None, **overrides) -> Ranking:
        """The ranking of the settings (request fields override them); cost-aware uses the project's fitted cost."""
        s = self.settings
        values = {"strategy": s.uncertainty_strategy, "reduction": s.uncertainty_reduction,
                  "top_k": s.uncertainty_top_k, "cost_aware": s.selection_cost_aware}
        values.update({k: v for k, v in overrides.items() if v is not None})
        cost = self.cost_model(project) if values.pop("cost_aware") else None
        return Ranking(values["strategy"], values["reduction"], values["top_k"], s.boundary_weight, cost)

    def cost_model(self, project: str | None) -> CostModel:
        """The project's fitted annotation cost, refitted at most every COST_REFIT_S so /predict does not read
        Redis (or the disk) on every request."""
        if not project:
            return TOKEN_COUNT
        now = time.monotonic()
        cached = self._costs.get(project)
        if cached is None or now - cached[0] > COST_REFIT_S:
            cached = (now, fit_cost(*self.times.observations(project)))
            self._costs[project] = cached
        return cached[1]

    def remember_label_config(self, project: str, xml: str) -> None:
        """Keep the project's label config on disk so the worker and /select_samples can use it without a request.

        Best effort: a full or read-only disk is logged, and serving goes on (the request carries the config).
        """
        try:
            self.store.save_label_config(project, xml)
        except OSError as exc:
            log.warning("project %s: could not keep the label config on disk: %s", project, exc)

    def label_config(self, project: object) -> str | None:
        return self.store.label_config(project)
