"""Turns per-word scores into one score per text, the "reduction" of baal's heuristics.

mean   U = sum_i w_i u_i / sum_i w_i              in [0, 1]; w_i = 1 gives the plain mean
max    U = max_i w_i u_i / max_i w_i              in [0, 1]; w_i = 1 gives the plain max
top_k  U = mean of the k largest w_i u_i / max_i w_i   in [0, 1]; k = 1 is max, k >= n the (max-scaled) mean
sum    U = sum_i w_i u_i                          in [0, sum_i w_i]: ranking only, grows with the text
An empty text scores 0: it has nothing to label.

Which one fits depends on the unit of work: "mean" ranks per word (it favours short texts), "sum" ranks per
task (a long unsure text holds more to learn than a short one), "max"/"top_k" look at the worst few words.
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidParameterError, warn_non_finite
from .ragged import Ragged, segment_max, segment_sum, segment_top_k_mean

__all__ = ["REDUCTIONS", "BOUNDED_REDUCTIONS", "DEFAULT_REDUCTION", "DEFAULT_TOP_K", "reduce_ragged"]

REDUCTIONS: tuple[str, ...] = ("mean", "max", "sum", "top_k")
BOUNDED_REDUCTIONS: frozenset[str] = frozenset({"mean", "max", "top_k"})
DEFAULT_REDUCTION = "sum"  # the service's UNCERTAINTY_REDUCTION default: one task is the unit of annotation work
DEFAULT_TOP_K = 3


def check_reduction(reduction: str, top_k: int = DEFAULT_TOP_K) -> None:
    if reduction not in REDUCTIONS:
        raise InvalidParameterError(f"unknown reduction {reduction!r}; valid reductions: {', '.join(REDUCTIONS)}")
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise InvalidParameterError(f"top_k must be an integer >= 1, got {top_k!r}")


def reduce_ragged(
    scores: np.ndarray,
    ragged: Ragged,
    weights: np.ndarray | None,
    reduction: str,
    top_k: int = DEFAULT_TOP_K,
) -> np.ndarray:
    """One value per text from word scores laid end to end (see `uncertainty.ragged`).

    Non-finite word scores are warned about and counted as 1 (maximally uncertain) so a broken text surfaces
    for review instead of sorting unpredictably; non-finite or non-positive weights are errors.
    """
    check_reduction(reduction, top_k)
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if values.shape[0] != ragged.total:
        raise InvalidParameterError(f"{values.shape[0]} word scores for {ragged.total} words")
    bad = ~np.isfinite(values)
    if np.any(bad):
        warn_non_finite("word scores", int(bad.sum()), "1.0 (maximally uncertain)")
        values = np.where(bad, 1.0, values)
    if weights is None:
        if reduction == "sum":
            return segment_sum(values, ragged)
        if reduction == "max":
            return segment_max(values, ragged)
        if reduction == "top_k":
            return segment_top_k_mean(values, ragged, int(top_k))
        return _safe_divide(segment_sum(values, ragged), ragged.lengths.astype(np.float64))
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != values.shape:
        raise InvalidParameterError(f"weights shape {w.shape} does not match scores {values.shape}")
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise InvalidParameterError("weights of real words must be finite and > 0")
    weighted = w * values
    if reduction == "sum":
        return segment_sum(weighted, ragged)
    if reduction == "mean":
        return _safe_divide(segment_sum(weighted, ragged), segment_sum(w, ragged))
    top_weight = segment_max(w, ragged)
    scaled = weighted / np.repeat(np.where(top_weight > 0, top_weight, 1.0), ragged.lengths)
    if reduction == "max":
        return segment_max(scaled, ragged)
    return segment_top_k_mean(scaled, ragged, int(top_k))


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
