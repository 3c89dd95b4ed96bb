"""POST /select_samples: score a project's unlabelled tasks and pick the next batch to annotate.

Tasks come inline or from Label Studio; model outputs are cached per (project, model version, tags, task id, text
hash), so a repeated call on a large pool only scores what changed, and a new model version starts a fresh cache.
The ranking (strategy, reduction, cost) is `uncertainty.Ranking`, the same one /predict's task score uses, so
Label Studio's *Uncertainty sampling* and this endpoint order tasks alike (before diversity, which needs the pool).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

import uncertainty
from infra.label_studio import LabelStudioAPI
from store.local import project_key
from text.label_config import COMBINED, parse_project_config
from text.tasks import task_text
from uncertainty.choices import choice_confidences, choices_uncertainties, combined_confidences

if TYPE_CHECKING:  # types only: importing them here would load transformers with this module
    from modeling.cache import ModelCache, ServedModel
    from services.predict import ProjectRankings
    from settings import Settings
    from store.local import Store

SCORE_CHUNK = 256


@dataclass
class CachedScore:
    """What one forward pass told us about a task's text under one model version."""

    text_hash: bytes
    probs: np.ndarray
    embedding: np.ndarray
    samples: np.ndarray | None = None  # MC dropout samples, only when a Bayesian strategy asked for them
    words: int = -1  # the text's word count (-1: len(probs), one row per word for NER)
    uncertainty: dict[tuple, float] = field(default_factory=dict)


class ScoreCache:
    """Bounded LRU of per-(project, version) score tables; a new model version simply gets a new table."""

    def __init__(self, max_tables: int = 8, max_selections: int = 64):
        self.tables: OrderedDict[tuple, dict[object, CachedScore]] = OrderedDict()
        self.selections: OrderedDict[tuple, list[int]] = OrderedDict()
        self.max_tables = max_tables
        self.max_selections = max_selections
        self.lock = threading.Lock()

    def selection(self, key: tuple, compute) -> list[int]:
        """A batch already chosen for exactly this pool, model version and request, else `compute()` it.

        Selection is deterministic, and diversity costs O(pool x limit) distance updates, so an unchanged pool is
        answered from here instead of being selected again.
        """
        with self.lock:
            if key in self.selections:
                self.selections.move_to_end(key)
                return list(self.selections[key])
        picked = compute()
        with self.lock:
            self.selections[key] = list(picked)
            while len(self.selections) > self.max_selections:
                self.selections.popitem(last=False)
        return picked

    def table(self, project: str, version: str, tags: tuple[str, ...]) -> dict[object, CachedScore]:
        """One table per (project, version, tags): after a label change the same version has other columns."""
        with self.lock:
            key = (project, version, tags)
            if key not in self.tables:
                self.tables[key] = {}
                while len(self.tables) > self.max_tables:
                    self.tables.popitem(last=False)
            self.tables.move_to_end(key)
            return self.tables[key]

    def forget(self, project: str) -> int:
        """Drop the project's cached scores and batches (a forgotten project); how many tables there were."""
        with self.lock:
            tables = [k for k in self.tables if k[0] == project]
            for key in tables:
                del self.tables[key]
            for key in [k for k in self.selections if k and k[0] == project]:
                del self.selections[key]
        return len(tables)


class SelectionInputError(ValueError):
    """The pool or its config cannot be used (no label config, a task id of the wrong type); names the field."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SelectRequest:
    """A validated /select_samples request (web.app parses it from the JSON body)."""

    project: str | None
    limit: int
    strategy: str
    reduction: str
    top_k: int
    cost_aware: bool
    threshold: float | None
    diversity: bool
    tasks: list | None
    label_config: str | None


def _text_hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).digest()


def pool_digest(items: list[tuple[object, str]], hashes: list[bytes]) -> bytes:
    """One fingerprint of a pool: its task ids and text hashes, in order."""
    digest = hashlib.blake2b(digest_size=16)
    for (task_id, _), h in zip(items, hashes):
        digest.update(repr(task_id).encode("utf-8", "surrogatepass") + b"\0" + h)
    return digest.digest()


def score_tasks(
    served: ServedModel,
    table: dict,
    items: list[tuple[object, str]],
    hashes: list[bytes],
    ranking: uncertainty.Ranking,
    mc: tuple[int, int] = (10, 2),
    segments: list[tuple[int, int, bool]] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uncertainties, word counts and embeddings for (task id, text) items, computing only what `table` lacks.

    A Bayesian ranking also needs `mc` = (samples, layers) MC dropout samples per text (selection only). A
    classifier (`segments` given) is scored from one pass per text by `uncertainty.choices`.
    """
    classes = segments is not None
    sampled = ranking.needs_samples and not classes
    layers = getattr(served.predictor.model.config, "num_hidden_layers", mc[1])
    mc = (mc[0], max(1, min(mc[1], layers)))  # a model shallower than MC_DROPOUT_LAYERS samples all its layers
    missing = [
        i
        for i, ((task_id, _), h) in enumerate(zip(items, hashes))
        if (entry := table.get(task_id)) is None or entry.text_hash != h or (sampled and entry.samples is None)
    ]
    for start in range(0, len(missing), SCORE_CHUNK):
        part = missing[start : start + SCORE_CHUNK]
        outputs = served.predictor.predict(
            [items[i][1] for i in part], embeddings=True, mc_samples=mc[0] if sampled else 0, mc_layers=mc[1]
        )
        for i, out in zip(part, outputs):
            table[items[i][0]] = CachedScore(hashes[i], out.probs, out.embedding, out.samples, len(out.words))
    key = ranking.key[:4]
    entries = [table[task_id] for task_id, _ in items]
    todo = [(e, text) for e, (_, text) in zip(entries, items) if key not in e.uncertainty]
    for start in range(0, len(todo), SCORE_CHUNK):
        part = todo[start : start + SCORE_CHUNK]
        inputs = [e.samples for e, _ in part] if sampled else [e.probs for e, _ in part]
        keys = [text for _, text in part]
        if classes:
            found = choices_uncertainties(inputs, segments, ranking.strategy, keys=keys)
        else:
            found = ranking.uncertainties(inputs, served.tags, keys=keys)
        for (e, _), u in zip(part, found):
            e.uncertainty[key] = float(u)
    scores = np.array([e.uncertainty[key] for e in entries], dtype=np.float64)
    words = np.array([e.words if e.words >= 0 else len(e.probs) for e in entries], dtype=np.int64)
    embeddings = np.stack([e.embedding for e in entries]) if entries else np.zeros((0, served.predictor.hidden))
    return scores, words, embeddings


def _parts(served: ServedModel, config) -> list[tuple[ServedModel, list[tuple[int, int, bool]] | None]]:
    """The served parts to score, each with its classifier segments (None: spans): one part, or a combined
    version's NER model and classifier."""
    task_type = getattr(config, "task_type", "ner")
    if task_type == COMBINED:
        return [(served, None), (served.choices, _segments(config.classification))]
    return [(served, _segments(config) if task_type == "choices" else None)]


def _segments(config) -> list[tuple[int, int, bool]]:
    return [(a, b, control.multiple) for control, a, b in config.segments()]


def select_samples(
    req: SelectRequest,
    *,
    settings: Settings,
    models: ModelCache,
    scores: ScoreCache,
    rankings: ProjectRankings,
    store: Store,
) -> dict:
    """The whole endpoint: read the pool, score it (cached), select, answer most uncertain first.

    `store` gives the project's kept label config when the request has none.
    """
    project = project_key(req.project) if req.project is not None else None
    label_config = req.label_config
    if req.tasks is not None:
        pool = [t for t in req.tasks if not (isinstance(t, dict) and (t.get("annotations") or t.get("is_labeled")))]
        if label_config is None and project is not None:
            label_config = store.label_config(project)
    else:
        api = LabelStudioAPI(settings.label_studio_host, settings.label_studio_api_key)
        info = api.project(int(project))
        label_config = label_config or info.get("label_config")
        pool = list(api.tasks(int(project), annotated=False))
    if not label_config:
        raise SelectionInputError(
            "missing field 'label_config' (no stored config for this project)", field="label_config"
        )
    config = parse_project_config(label_config).served
    served = models.get(project or "0", config)
    ranking = rankings(
        project, strategy=req.strategy, reduction=req.reduction, top_k=req.top_k, cost_aware=req.cost_aware
    )
    items = []
    for i, task in enumerate(pool):
        text = task_text(task, config.value_key)
        if text is not None:
            task_id = task.get("id", i)
            if isinstance(task_id, bool) or not isinstance(task_id, (int, str)):
                raise SelectionInputError(f"task #{i}: field 'id' must be a number or a string", field="tasks[].id")
            items.append((task_id, text))
    hashes = [_text_hash(text) for _, text in items]
    mc = (settings.mc_dropout_samples, settings.mc_dropout_layers)
    parts = []  # per served part: (values, task scores, embeddings, trained?)
    for part, segments in _parts(served, config):
        table = scores.table(project or "0", part.version, tuple(part.tags))
        uncertainties, words, embeddings = score_tasks(part, table, items, hashes, ranking, mc, segments)
        values = ranking.values(uncertainties, words)
        confidences = ranking.confidences(values) if segments is None else choice_confidences(ranking, values)
        parts.append((values, confidences, embeddings, part.trained))
    if len(parts) == 1:
        values, confidences, embeddings, trained = parts[0]
    else:  # spans and choices: ranked by the combined task score, so selection keeps Label Studio's order
        confidences = combined_confidences([(c, t) for _, c, _, t in parts])
        values = 1.0 - confidences
        embeddings = parts[0][2]  # the NER part's: both parts pool the same base encoder
        trained = any(t for *_, t in parts)
    mode = "uncertainty" if trained else "cold_start"
    key = (
        project,
        served.version,
        pool_digest(items, hashes),
        mode,
        ranking.key,
        req.limit,
        req.threshold,
        req.diversity,
    )
    if trained:
        candidates = None
        if req.threshold is not None:
            candidates = np.flatnonzero(confidences < req.threshold)
        picked = scores.selection(
            key,
            lambda: uncertainty.select(
                values, embeddings if req.diversity else None, req.limit, diversity=req.diversity, candidates=candidates
            ),
        )
    else:
        picked = scores.selection(key, lambda: uncertainty.select_random_start(len(items), req.limit))
    return {
        "project_id": None if project is None else int(project),
        "model_version": served.version,
        "strategy": req.strategy,
        "reduction": req.reduction,
        "cost": None if ranking.cost is None else ranking.cost.as_dict(),
        "mode": mode,
        "task_ids": [items[i][0] for i in picked],
        "scores": [round(float(values[i]), 6) for i in picked],
        "total_unlabeled": len(items),
    }
