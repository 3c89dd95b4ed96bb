"""After a deploy: predict the project's unlabelled tasks with the new version, import the predictions into Label
Studio in bulk and point the project at the version, so *Uncertainty sampling* serves the least certain task next.
"""
from __future__ import annotations

from typing import Callable

from label_studio_api import LabelStudioAPI
from ner.label_config import parse_ner_config
from ner.pool import ModelPool
from prediction import PREDICT_CHUNK, predict_tasks
from uncertainty import Ranking


class PredictionRefresh:
    """Scores tasks exactly as /predict does (same pool code, same single-pass ranking)."""

    def __init__(self, pool: ModelPool, ranking_for: Callable[[str], Ranking]):
        self.pool = pool
        self.ranking_for = ranking_for

    def __call__(self, api: LabelStudioAPI, project: str, label_config: str) -> int:
        config = parse_ner_config(label_config)
        ranking = self.ranking_for(project)
        tasks = list(api.tasks(int(project), annotated=False))
        predictions = []
        for start in range(0, len(tasks), PREDICT_CHUNK):
            chunk = tasks[start : start + PREDICT_CHUNK]
            for task, prediction in zip(chunk, predict_tasks(self.pool, ranking, project, config, chunk)):
                predictions.append({"task": task["id"], **prediction})
        api.import_predictions(int(project), predictions)
        api.set_model_version(int(project), self.pool.version_for(project, config))
        return len(predictions)
