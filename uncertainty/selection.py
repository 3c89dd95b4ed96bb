"""Chooses which unlabelled tasks go to annotators: the most uncertain, spread over the pool's embedding space so a
batch is not near-duplicates, without chasing outliers.

diverse     the top PREFILTER x limit tasks by uncertainty are clustered into `limit` groups by k-means weighted by
            uncertainty, and the task nearest each centre is taken (Zhdanov 2019, "Diverse mini-batch active
            learning"): every pick is typical of a region of uncertain tasks, never a lone outlier, which the
            farthest-first (k-center) rule it replaces picked first
cold start  before any fine-tuned model: a seeded random sample (`select_random_start`, what the service ships); the
            alternatives measured against it: k-means of the base model's embeddings into `limit` groups, the task
            nearest each centre, largest groups first (typicality, as in TypiClust, Hacohen et al. 2022), or a
            seeded random member of each group (`within="random"`: a stratified sample)
distance    cosine; a zero or broken embedding is a zero vector, similar to nothing
"""

from __future__ import annotations

import numbers
import random
from collections.abc import Sequence

import numpy as np

from .clustering import nearest_to_centres, spherical_kmeans
from .content import rarity
from .errors import InvalidLimitError, InvalidParameterError, warn_non_finite

__all__ = ["PREFILTER", "select", "select_cold_start", "select_random_start", "select_seed_set"]

PREFILTER = 10  # candidates per pick that diversity clusters (Zhdanov 2019 uses 10)

Candidates = Sequence[int] | Sequence[bool] | np.ndarray | None


def _check_limit(limit: int) -> int:
    """A non-positive or fractional limit is a caller bug; failing loudly beats returning nothing."""
    if isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit <= 0:
        raise InvalidLimitError(f"limit must be a positive integer, got {limit!r}")
    return int(limit)


def _pool(n: int, candidates: Candidates) -> np.ndarray:
    """Indices the caller allows (the unlabelled tasks), sorted so ties always break towards the lowest."""
    if candidates is None:
        return np.arange(n)
    given = np.asarray(candidates)
    if given.dtype == bool:
        if given.shape != (n,):
            raise InvalidParameterError(f"a candidates mask must have shape ({n},), got {given.shape}")
        return np.flatnonzero(given)
    if given.size == 0:
        return np.arange(0)
    if given.ndim != 1 or not np.issubdtype(given.dtype, np.integer):
        raise InvalidParameterError("candidates must be a boolean mask or a 1-D sequence of integer indices")
    if np.any(given < 0) or np.any(given >= n):
        raise InvalidParameterError(f"candidate indices must lie in [0, {n})")
    return np.unique(given)


def _unit_rows(embeddings: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """L2-normalise so a dot product is a cosine; broken rows become zero vectors (distance 1 to all).

    float32: the greedy loop reads the whole matrix once per pick, so half the bytes is about half the time
    (bench/SPEED.md), and cosines need no more precision than the embeddings carry.
    """
    matrix = np.asarray(embeddings, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != n:
        raise InvalidParameterError(f"embeddings must be ({n}, d), got shape {matrix.shape}")
    picked = matrix[rows]
    bad = ~np.all(np.isfinite(picked), axis=1)
    if np.any(bad):
        warn_non_finite("embedding rows", int(bad.sum()), "zero vectors")
        picked = np.where(bad[:, None], 0.0, picked)
    norms = np.linalg.norm(picked, axis=1, keepdims=True)
    return np.divide(picked, norms, out=np.zeros_like(picked), where=norms > 0)


def _most_uncertain_first(indices: np.ndarray, uncertainties: np.ndarray) -> list[int]:
    """The order annotators see: highest uncertainty first, lowest index first among equals."""
    order = np.lexsort((indices, -uncertainties[indices]))
    return [int(i) for i in indices[order]]


def select(
    uncertainties: np.ndarray | Sequence[float],
    embeddings: np.ndarray | None,
    limit: int,
    *,
    diversity: bool = True,
    seed: int = 0,
    candidates: Candidates = None,
    prefilter: int = PREFILTER,
) -> list[int]:
    """Indices into the pool, most uncertain first, at most ``limit`` of them.

    Only ``candidates`` (a mask or indices: pass the unlabelled tasks, or those under the confidence threshold) can
    be chosen. Diversity needs ``embeddings`` and uses the rule in the
    module docstring over the ``prefilter`` x ``limit`` most uncertain tasks, so one batch does not spend
    annotator time on near-duplicates; without it the top-k is taken. Non-finite uncertainties are warned about
    and count as 1. ``seed`` seeds the k-means; the same seed gives the same batch. An empty pool gives an empty
    list.
    """
    limit = _check_limit(limit)
    if isinstance(prefilter, bool) or not isinstance(prefilter, numbers.Integral) or prefilter < 1:
        raise InvalidParameterError(f"prefilter must be an integer >= 1, got {prefilter!r}")
    scores = np.asarray(uncertainties, dtype=np.float64).reshape(-1)
    n = scores.shape[0]
    pool = _pool(n, candidates)
    bad = ~np.isfinite(scores[pool])
    if np.any(bad):
        warn_non_finite("uncertainties", int(bad.sum()), "1.0 (maximally uncertain)")
        scores = scores.copy()
        scores[pool[bad]] = 1.0
    if pool.size == 0:
        return []
    if diversity and embeddings is None:
        raise InvalidParameterError("diversity=True needs embeddings; pass diversity=False for plain top-k")
    if not diversity or pool.size <= limit:
        if diversity:
            _unit_rows(embeddings, pool, n)  # still validate the shape the caller relies on
        return _most_uncertain_first(pool, scores)[:limit]

    order = np.lexsort((pool, -scores[pool]))
    shortlist = pool[order[: min(pool.size, prefilter * limit)]]
    unit = _unit_rows(embeddings, shortlist, n)
    weights = np.maximum(scores[shortlist], 0.0) + 1e-6
    clusters = spherical_kmeans(unit, limit, weights=weights, seed=seed)
    chosen = [int(shortlist[i]) for i in nearest_to_centres(clusters)]
    if len(chosen) < limit:  # clusters left empty: fill with the most uncertain tasks not taken yet
        taken = set(chosen)
        chosen += [int(i) for i in shortlist if int(i) not in taken][: limit - len(chosen)]
    return _most_uncertain_first(np.array(chosen), scores)


def select_cold_start(
    embeddings: np.ndarray,
    limit: int,
    seed: int = 0,
    *,
    candidates: Candidates = None,
    within: str = "typical",
) -> list[int]:
    """Before any fine-tuned model exists there is no uncertainty, only coverage: one task of each of ``limit``
    k-means groups of the base embeddings, largest groups first, so the seed set covers what the pool mostly holds
    rather than its outliers. ``within="typical"`` takes the task nearest each centre; ``within="random"`` a
    random member of each group (a stratified sample: where most of the pool holds nothing to label, the typical
    member of a big group is such a text, while a random one holds something as often as the pool does). ``seed``
    seeds the k-means and the draws. A pool no larger than ``limit`` comes back whole, by closeness to its mean."""
    limit = _check_limit(limit)
    if within not in ("typical", "random"):
        raise InvalidParameterError(f"within must be 'typical' or 'random', got {within!r}")
    matrix = np.asarray(embeddings, dtype=np.float64)
    if matrix.ndim != 2:
        raise InvalidParameterError(f"embeddings must be (n, d), got shape {matrix.shape}")
    n = matrix.shape[0]
    pool = _pool(n, candidates)
    if pool.size == 0:
        return []
    unit = _unit_rows(matrix, pool, n)
    if pool.size <= limit:
        by_closeness = np.lexsort((pool, -(unit @ unit.mean(axis=0))))
        return [int(i) for i in pool[by_closeness]]
    clusters = spherical_kmeans(unit, limit, seed=seed)
    picks = nearest_to_centres(clusters) if within == "typical" else _random_members(clusters.assignment, seed)
    sizes = np.bincount(clusters.assignment, minlength=limit)
    picks.sort(key=lambda i: (-sizes[clusters.assignment[i]], int(pool[i])))
    chosen = [int(pool[i]) for i in picks]
    if len(chosen) < limit:
        taken = set(chosen)
        chosen += [int(i) for i in pool if int(i) not in taken][: limit - len(chosen)]
    return chosen


def select_random_start(n: int, limit: int, seed: int = 0, *, candidates: Candidates = None) -> list[int]:
    """The seed set the service ships before any fine-tuned model: a seeded random sample of the pool (all of it,
    shuffled, when it is no larger than ``limit``). Measured on the dev split with five seeds, the typical set
    (`select_cold_start`) and the rarer-words set (`select_seed_set`) did not beat it on dense news and the typical
    set lost to it where most texts hold no entity (docs/defaults.md)."""
    limit = _check_limit(limit)
    pool = [int(i) for i in _pool(n, candidates)]
    return random.Random(seed).sample(pool, min(limit, len(pool)))


def select_seed_set(embeddings: np.ndarray, texts: Sequence[str], limit: int, seed: int = 0) -> list[int]:
    """The NER seed set: a stratified sample (`within="random"`) of the texts whose words are rarer than the pool's
    median (`content.rarity`), then, when more are asked for than that half holds, the same over the rest. Where most
    texts hold no entity, the typical member of a big k-means group is such a text; rare words mark names, places and
    figures (docs/defaults.md has the comparison on both corpora)."""
    limit = _check_limit(limit)
    if len(texts) != np.asarray(embeddings).shape[0]:
        raise InvalidParameterError(f"{len(texts)} texts for {np.asarray(embeddings).shape[0]} embeddings")
    if not texts:
        return []
    scores = rarity(texts)
    rare = np.flatnonzero(scores >= np.median(scores))
    chosen = select_cold_start(embeddings, min(limit, rare.size), seed, candidates=rare, within="random")
    if len(chosen) < limit:
        rest = np.setdiff1d(np.arange(len(texts)), chosen)
        if rest.size:
            chosen += select_cold_start(
                embeddings, min(limit - len(chosen), rest.size), seed, candidates=rest, within="random"
            )
    return chosen


def _random_members(assignment: np.ndarray, seed: int) -> list[int]:
    """One seeded random member of every non-empty cluster."""
    rng = np.random.default_rng(seed)
    return [int(rng.choice(np.flatnonzero(assignment == c))) for c in np.unique(assignment)]
