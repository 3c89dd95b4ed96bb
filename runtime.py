"""State shared by every request of a web process: settings, the model store and the loaded models."""
from __future__ import annotations

import logging
from pathlib import Path

from ner.pool import ModelPool
from ner.store import ModelStore
from sampling import ScoreCache
from settings import Settings

log = logging.getLogger(__name__)


class Runtime:
    """Built once per process (gunicorn --preload builds it in the master, before forking)."""

    def __init__(self, settings: Settings, with_jobs: bool = True):
        self.settings = settings
        Path(settings.model_dir).mkdir(parents=True, exist_ok=True)
        self.store = ModelStore(settings.model_dir, keep=settings.keep_versions)
        self.pool = ModelPool(settings, self.store)
        self.scores = ScoreCache()
        self.jobs = None
        if with_jobs:
            from training.jobs import TrainingJobs

            self.jobs = TrainingJobs(settings, self.store)

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
