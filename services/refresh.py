"""After a deploy: score a bounded set of the project's unlabelled tasks with the new version, import those
predictions into Label Studio in bulk, drop the predictions of every other version and point the project at the
new one, so *Uncertainty sampling* serves the least certain task next while Label Studio's database holds at most
one of our predictions per task, whatever the number of deploys.

Which tasks (at most REFRESH_MAX_TASKS): Uncertainty sampling serves only tasks holding a prediction of the
project's current version, lowest score first, so the refreshed set is what annotators are served until the next
deploy. Half the budget carries over the previous version's least confident tasks that are still unlabelled (the
ones being served now: the queue stays continuous); the rest takes the next unlabelled tasks after the previous
set in id order, wrapping around, so successive deploys sweep the whole pool instead of re-scoring the same tasks.
A task outside the set still gets a prediction when an annotator opens it (Label Studio asks /predict).
"""

from __future__ import annotations

import logging
from itertools import islice
from typing import Callable, Iterable, Iterator

from infra.label_studio import LabelStudioAPI
from infra.served_predictions import ServedPredictions
from modeling.cache import ModelCache
from services.predict import PREDICT_CHUNK, predict_tasks
from text.label_config import parse_project_config
from uncertainty import Ranking

log = logging.getLogger(__name__)


def carried_over(previous: Iterable[dict], version: str | None, budget: int) -> list[int]:
    """Task ids of `version`'s `budget` lowest-scored predictions (least confident first)."""
    rows = [p for p in previous if version is not None and p["model_version"] == version and p["task"] is not None]
    rows.sort(key=lambda p: (p["score"] if p["score"] is not None else float("inf"), p["task"]))
    return list(dict.fromkeys(p["task"] for p in rows))[:budget]


def sweep_start(previous: Iterable[dict], version: str | None) -> int:
    """Where the id-order sweep resumes: after the highest task id the previous version scored (0: from the start)."""
    return max((p["task"] for p in previous if p["model_version"] == version and p["task"] is not None), default=0)


class PredictionRefresh:
    """Scores tasks exactly as /predict does (same model cache, same single-pass ranking)."""

    def __init__(
        self,
        models: ModelCache,
        ranking_for: Callable[[str], Ranking],
        max_tasks: int = 1000,
        served: ServedPredictions | None = None,
    ):
        self.models = models
        self.ranking_for = ranking_for
        self.max_tasks = max_tasks  # 0: every unlabelled task
        self.served = served  # keeps what was imported: annotators see it, the team view compares with it

    def __call__(self, api: LabelStudioAPI, project: str, label_config: str) -> int:
        pid = int(project)
        config = parse_project_config(label_config).served
        version = self.models.get(project, config, wait=True).version  # the deployed one, loaded before predicting
        current = api.project(pid).get("model_version") or None
        for old in api.model_versions(pid):  # older leftovers first, so reading `current`'s rows stays bounded
            if old not in (current, version):
                api.delete_predictions(pid, old)
        tasks = self.chosen_tasks(api, pid, current)
        if version in api.model_versions(pid):  # a retried refresh, or the same version deployed again
            api.delete_predictions(pid, version)
        ranking = self.ranking_for(project)
        imported = 0
        while chunk := list(islice(tasks, PREDICT_CHUNK)):
            results = predict_tasks(self.models, ranking, project, config, chunk)
            predictions = [{"task": task["id"], **prediction} for task, prediction in zip(chunk, results)]
            imported += api.import_predictions(pid, predictions)
            if self.served is not None:
                self.served.record(project, chunk, results)
        for old in api.model_versions(pid):
            if old != version:
                api.delete_predictions(pid, old)
        api.set_model_version(pid, version)
        return imported

    def chosen_tasks(self, api: LabelStudioAPI, project: int, current: str | None) -> Iterator[dict]:
        """The unlabelled tasks to score, streamed (see the module docstring for which and why).

        The previous version's scores are read now, before any of its predictions is deleted; the tasks stream later.
        """
        if not self.max_tasks:
            return api.tasks(project, annotated=False)
        previous = api.predictions(project) if current else []
        return self._stream(
            api, project, carried_over(previous, current, self.max_tasks // 2), sweep_start(previous, current)
        )

    def _stream(self, api: LabelStudioAPI, project: int, carried: list[int], start: int) -> Iterator[dict]:
        chosen: set[int] = set()
        for task in api.tasks(project, annotated=False, ids=carried):
            chosen.add(task["id"])
            yield task
        for after in (start, 0) if start else (0,):  # to the end of the pool, then around from its start
            for task in api.tasks(project, annotated=False, after=after):
                if len(chosen) >= self.max_tasks:
                    return
                if task["id"] not in chosen:
                    chosen.add(task["id"])
                    yield task
