"""Spherical k-means (cosine geometry) for batch diversity and the cold-start seed set; numpy only, seeded.

init    k-means++ (Arthur & Vassilvitskii 2007): the first centre is drawn with probability ~ w_j, each next
        one with probability ~ w_j * d_j^2, d_j the cosine distance to the nearest centre chosen so far
step    assign every point to its most similar centre; centre = normalised weighted mean of its points;
        a centre that loses all its points stays where it was
stop    after `iterations` steps or when no assignment changes
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidParameterError

__all__ = ["KMeansResult", "spherical_kmeans", "nearest_to_centres"]

ITERATIONS = 15


class KMeansResult:
    """Centres (k, d) as unit vectors, each point's cluster (n,), and each point's similarity to its centre."""

    def __init__(self, centres: np.ndarray, assignment: np.ndarray, similarity: np.ndarray) -> None:
        self.centres = centres
        self.assignment = assignment
        self.similarity = similarity


def _plus_plus(unit: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    n = unit.shape[0]
    first = int(rng.choice(n, p=weights / weights.sum()))
    chosen = [first]
    nearest = np.clip(1.0 - unit @ unit[first], 0.0, 2.0)
    for _ in range(k - 1):
        mass = weights * nearest**2
        total = mass.sum()
        if total <= 0:  # every point coincides with a centre: take the next unchosen ones in order
            rest = np.setdiff1d(np.arange(n), chosen)[: k - len(chosen)]
            chosen.extend(int(i) for i in rest)
            break
        pick = int(rng.choice(n, p=mass / total))
        chosen.append(pick)
        np.minimum(nearest, np.clip(1.0 - unit @ unit[pick], 0.0, 2.0), out=nearest)
    return unit[np.array(chosen)].copy()


def spherical_kmeans(
    unit: np.ndarray, k: int, *, weights: np.ndarray | None = None, seed: int = 0, iterations: int = ITERATIONS
) -> KMeansResult:
    """Cluster unit vectors (n, d) into k <= n groups; `weights` (n,) > 0 pull centres towards heavy points."""
    n = unit.shape[0]
    if not 1 <= k <= n:
        raise InvalidParameterError(f"k must lie in [1, {n}], got {k}")
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise InvalidParameterError("k-means weights must be finite and > 0, one per point")
    rng = np.random.default_rng(seed)
    centres = _plus_plus(unit, w, k, rng).astype(unit.dtype)
    assignment = np.full(n, -1)
    for _ in range(iterations):
        similarity = unit @ centres.T
        new = similarity.argmax(axis=1)
        if np.array_equal(new, assignment):
            break
        assignment = new
        sums = np.zeros_like(centres)
        np.add.at(sums, assignment, unit * w[:, None].astype(unit.dtype))
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        moved = norms[:, 0] > 0
        centres[moved] = sums[moved] / norms[moved]
    similarity = unit @ centres.T
    assignment = similarity.argmax(axis=1)
    return KMeansResult(centres, assignment, similarity[np.arange(n), assignment])


def nearest_to_centres(result: KMeansResult) -> list[int]:
    """For every non-empty cluster, the point most similar to its centre (lowest index among equals)."""
    order = np.lexsort((np.arange(result.assignment.shape[0]), -result.similarity, result.assignment))
    first_of_cluster = np.ones(order.shape[0], dtype=bool)
    first_of_cluster[1:] = result.assignment[order][1:] != result.assignment[order][:-1]
    return [int(i) for i in order[first_of_cluster]]
