"""Chooses which unlabelled tasks go to annotators: the most uncertain, spread out in embedding space so a
batch is not near-duplicates (Sener & Savarese 2018 k-center greedy, weighted by uncertainty as in BADGE).

distance    d(x, y) = 1 - <x/|x|, y/|y|>                 (cosine; a zero vector is at distance 1 from all)
diverse     s_1 = argmax_j u_j;  s_t = argmax_j u_j * min_{s<t} d(e_j, e_s)   (ties -> lowest index)
cold start  s_1 = argmax_j <e_j, mean_k e_k>;  s_t = argmax_j min_{s<t} d(e_j, e_s)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from .errors import InvalidLimitError, InvalidParameterError, warn_non_finite

__all__ = ["select", "select_cold_start"]

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


def _cosine_distance(unit: np.ndarray, zero_rows: np.ndarray, row: int) -> np.ndarray:
    """Distance of every pooled item to one of them: one O(n*d) product, never an n x n matrix."""
    if zero_rows[row]:
        return np.ones(unit.shape[0])
    distance = np.clip(1.0 - unit @ unit[row], 0.0, 2.0)
    distance[zero_rows] = 1.0
    return distance


def _most_uncertain_first(indices: np.ndarray, uncertainties: np.ndarray) -> list[int]:
    """The order annotators see: highest uncertainty first, lowest index first among equals."""
    order = np.lexsort((indices, -uncertainties[indices]))
    return [int(i) for i in indices[order]]


def select(
    uncertainties: np.ndarray | Sequence[float],
    embeddings: np.ndarray | None,
    limit: int,
    *,
    threshold: float | None = None,
    diversity: bool = True,
    seed: int = 0,
    candidates: Candidates = None,
) -> list[int]:
    """Indices into the pool, most uncertain first, at most ``limit`` of them.

    Only ``candidates`` (a mask or indices: pass the unlabelled tasks) can be chosen; ``threshold`` keeps
    items whose confidence 1 - u is below it. Diversity needs ``embeddings`` and uses the rule in the
    module docstring, so one batch does not spend annotator time on near-duplicates; without it the
    top-k is taken. Non-finite uncertainties are warned about and count as 1. ``seed`` is accepted for a
    uniform call signature; both rules are deterministic. An empty pool gives an empty list.
    """
    limit = _check_limit(limit)
    scores = np.asarray(uncertainties, dtype=np.float64).reshape(-1)
    n = scores.shape[0]
    pool = _pool(n, candidates)
    bad = ~np.isfinite(scores[pool])
    if np.any(bad):
        warn_non_finite("uncertainties", int(bad.sum()), "1.0 (maximally uncertain)")
        scores = scores.copy()
        scores[pool[bad]] = 1.0
    if threshold is not None:
        if not isinstance(threshold, numbers.Real) or not math.isfinite(threshold):
            raise InvalidParameterError(f"threshold must be a finite number, got {threshold!r}")
        pool = pool[(1.0 - scores[pool]) < threshold]
    if pool.size == 0:
        return []
    if diversity and embeddings is None:
        raise InvalidParameterError("diversity=True needs embeddings; pass diversity=False for plain top-k")
    if not diversity or pool.size <= limit:
        if diversity:
            _unit_rows(embeddings, pool, n)  # still validate the shape the caller relies on
        return _most_uncertain_first(pool, scores)[:limit]

    unit = _unit_rows(embeddings, pool, n)
    zero_rows = ~np.any(unit, axis=1)
    pooled = scores[pool]
    first = int(np.lexsort((pool, -pooled))[0])
    chosen = [first]
    nearest = _cosine_distance(unit, zero_rows, first)
    taken = np.zeros(pool.size, dtype=bool)
    taken[first] = True
    for _ in range(limit - 1):
        gain = np.where(taken, -np.inf, pooled * nearest)
        pick = int(np.argmax(gain))
        chosen.append(pick)
        taken[pick] = True
        np.minimum(nearest, _cosine_distance(unit, zero_rows, pick), out=nearest)
    return _most_uncertain_first(pool[np.array(chosen)], scores)


def select_cold_start(
    embeddings: np.ndarray,
    limit: int,
    seed: int = 0,
    *,
    candidates: Candidates = None,
) -> list[int]:
    """Before any fine-tuned model exists there is no uncertainty, only coverage: start from the most
    representative text (closest to the centroid) and keep adding the text farthest from everything
    chosen. Returned in pick order (a pool no larger than ``limit`` comes back by closeness to the
    centroid). ``seed`` is accepted for a uniform call signature; the rule is deterministic."""
    limit = _check_limit(limit)
    matrix = np.asarray(embeddings, dtype=np.float64)
    if matrix.ndim != 2:
        raise InvalidParameterError(f"embeddings must be (n, d), got shape {matrix.shape}")
    n = matrix.shape[0]
    pool = _pool(n, candidates)
    if pool.size == 0:
        return []
    unit = _unit_rows(matrix, pool, n)
    zero_rows = ~np.any(unit, axis=1)
    by_closeness = np.lexsort((pool, -(unit @ unit.mean(axis=0))))
    if pool.size <= limit:
        return [int(i) for i in pool[by_closeness]]
    first = int(by_closeness[0])
    chosen = [first]
    nearest = _cosine_distance(unit, zero_rows, first)
    nearest[first] = -np.inf
    for _ in range(limit - 1):
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        np.minimum(nearest, _cosine_distance(unit, zero_rows, pick), out=nearest)
        nearest[pick] = -np.inf
    return [int(i) for i in pool[np.array(chosen)]]
