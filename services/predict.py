"""Tasks -> Label Studio predictions with a project's served model: what /predict answers and what the training
worker imports into Label Studio after a deploy, so both score tasks the same way.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np

from infra.lead_times import AnnotationTimes
from modeling.cache import ModelCache
from settings import Settings
from text.choices.regions import choice_regions
from text.label_config import COMBINED, NerConfig
from text.spans.decoding import decode_probs, drop_overlapping
from text.spans.span import Span
from text.tasks import task_text
from uncertainty import TOKEN_COUNT, Ranking, fit_cost
from uncertainty.choices import choice_confidences, choices_uncertainties, combined_confidences

log = logging.getLogger(__name__)

# Texts per forward-pass group: bounds memory on "Retrieve Predictions" with tens of thousands of tasks. The
# Predictor sorts windows by length within a group, so small groups pad more: 2,000 CoNLL sentences took 1.20-1.30x
# a globally sorted bare forward in groups of 256 and 1.02-1.08x in one group (bench/SPEED.md).
PREDICT_CHUNK = 2048


Observations = Callable[[], tuple[list[int], list[float]]]  # () -> (words, seconds) lead times of one project
COST_REFIT_S = 60.0  # a project's lead times are read at most this often by a ProjectRankings


def ranking_from_settings(settings: Settings, observations: Observations | None = None, **overrides) -> Ranking:
    """The ranking of the settings, the one place every caller (/predict, /select_samples, the prediction refresh,
    the benchmark's arms, the tests) builds it: `overrides` (request fields, an arm's factors) replace settings
    values unless None; cost-aware fits `observations()`' lead times, or counts tokens without them."""
    values = {
        "strategy": settings.uncertainty_strategy,
        "reduction": settings.uncertainty_reduction,
        "top_k": settings.uncertainty_top_k,
        "cost_aware": settings.selection_cost_aware,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    cost = None
    if values.pop("cost_aware"):
        cost = fit_cost(*observations()) if observations is not None else TOKEN_COUNT
    return Ranking(values["strategy"], values["reduction"], values["top_k"], settings.boundary_weight, cost)


class ProjectRankings:
    """`rankings(project, **overrides)`: the settings' ranking for a project; cost-aware fits the project's lead times.

    The lead times are read at most every COST_REFIT_S, so a cost-aware /predict does not read Redis (or the disk)
    on every request.
    """

    def __init__(self, settings: Settings, times: AnnotationTimes):
        self.settings = settings
        self.times = times
        self._observed: dict[str, tuple[float, tuple[list[int], list[float]]]] = {}

    def __call__(self, project: str | None, **overrides) -> Ranking:
        observations = (lambda: self.observations(project)) if project else None
        return ranking_from_settings(self.settings, observations, **overrides)

    def observations(self, project: str) -> tuple[list[int], list[float]]:
        now = time.monotonic()
        cached = self._observed.get(project)
        if cached is None or now - cached[0] > COST_REFIT_S:
            cached = (now, self.times.observations(project))
            self._observed[project] = cached
        return cached[1]

    def forget(self, project: str) -> None:
        self._observed.pop(project, None)


def drawn_regions(context: dict | None) -> list[dict]:
    """Regions the annotator drew (interactive pre-annotation: one task per call) that we keep and predict around."""
    regions = (context or {}).get("result") or []
    kept = []
    for region in regions if isinstance(regions, list) else []:
        value = region.get("value") if isinstance(region, dict) else None
        if isinstance(value, dict) and isinstance(value.get("start"), int) and isinstance(value.get("end"), int):
            kept.append(region)
    return kept


def span_region(span: Span, text: str, config: NerConfig) -> dict:
    return {
        "from_name": config.from_name,
        "to_name": config.to_name,
        "type": "labels",
        "value": {"start": span.start, "end": span.end, "text": text[span.start : span.end], "labels": [span.label]},
        "score": round(span.score, 6),
    }


def predict_tasks(
    models: ModelCache, ranking: Ranking, project: str, config: NerConfig, tasks: list, context: dict | None = None
) -> list[dict]:
    """One prediction per task, in order: {"result": regions, "score": task confidence, "model_version"}.

    A combined (Labels + Choices) version answers with the spans and the choices items of each task in one
    prediction; its task score is `uncertainty.choices.combined_confidences` of the two parts' scores.
    `ranking` should be single-pass (one deterministic forward pass per text).
    """
    texts = [task_text(t, config.value_key) for t in tasks]
    for i, text in enumerate(texts):
        if text is None:
            log.warning(
                "task #%d (id %.60r) has no text in data[%.60r]: empty prediction",
                i,
                tasks[i].get("id") if isinstance(tasks[i], dict) else None,
                config.value_key,
            )
    served = models.get(project, config)
    task_type = getattr(config, "task_type", "ner")
    if task_type == COMBINED:
        parts = [
            _span_part(served, ranking, config.ner, texts, context),
            _choice_part(served.choices, ranking, config.classification, texts),
        ]
    elif task_type == "choices":
        parts = [_choice_part(served, ranking, config, texts)]
    else:
        parts = [_span_part(served, ranking, config, texts, context)]
    confidences = combined_confidences([(scores, trained) for _, scores, trained in parts])
    results = [
        {
            "result": [region for regions, _, _ in parts for region in regions[i]],
            "score": round(float(confidences[i]), 6),
            "model_version": served.version,
        }
        for i in range(len(texts))
    ]
    for i, text in enumerate(texts):
        if text is None:  # score 1.0: Uncertainty sampling serves lowest first, an unreadable task goes last
            results[i] = {"result": [], "score": 1.0, "model_version": served.version}
    return results


Part = tuple[list[list[dict]], np.ndarray, bool]  # per text: its regions; per text: its task score; trained?


def _span_part(served, ranking: Ranking, config: NerConfig, texts: list[str | None], context: dict | None) -> Part:
    """NER: the spans of each text (around the regions the annotator drew) and `Ranking.confidences` of its U."""
    keep = drawn_regions(context)
    regions, scores = [], []
    for chunk_start in range(0, len(texts), PREDICT_CHUNK):
        chunk = [t or "" for t in texts[chunk_start : chunk_start + PREDICT_CHUNK]]
        outputs = served.predict(chunk)
        values = ranking.values(
            ranking.uncertainties([o.probs for o in outputs], served.tags, keys=chunk), [len(o.probs) for o in outputs]
        )
        scores.extend(ranking.confidences(values))
        for text, out in zip(chunk, outputs):
            drawn = [r for r in keep if 0 <= r["value"]["start"] < r["value"]["end"] <= len(text)]
            taken = [(r["value"]["start"], r["value"]["end"]) for r in drawn]
            found = list(drawn)
            if served.trained and len(out.words):
                spans = decode_probs(out.words, out.probs, served.tags, served.label_map)
                found += [span_region(s, text, config) for s in drop_overlapping(spans, taken)]
            regions.append(found)
    return regions, np.asarray(scores, dtype=np.float64), served.trained


def _choice_part(served, ranking: Ranking, config, texts: list[str | None]) -> Part:
    """Classification: an item per control (`text.choices.regions`); the task score is 1 - U, U the least sure
    control's uncertainty (`uncertainty.choices`), through the same `Ranking` values."""
    segments = [(a, b, control.multiple) for control, a, b in config.segments()]
    regions, scores = [], []
    for chunk_start in range(0, len(texts), PREDICT_CHUNK):
        chunk = [t or "" for t in texts[chunk_start : chunk_start + PREDICT_CHUNK]]
        outputs = served.predict(chunk)
        u = choices_uncertainties([o.probs for o in outputs], segments, ranking.strategy, keys=chunk)
        scores.extend(choice_confidences(ranking, ranking.values(u, [len(o.words) for o in outputs])))
        for out in outputs:
            found = []
            if served.trained and out.probs.size:
                found = choice_regions(out.probs, served.predictor.decide(out.probs), config)
            regions.append(found)
    return regions, np.asarray(scores, dtype=np.float64), served.trained
