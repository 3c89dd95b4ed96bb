"""Turns per-word scores into one score per text, the "reduction" of baal's heuristics.

mean  U = sum_i w_i u_i / sum_i w_i          in [0, 1]; w_i = 1 gives the plain mean (default)
max   U = max_i w_i u_i / max_i w_i          in [0, 1]; w_i = 1 gives the plain max
sum   U = sum_i w_i u_i                      in [0, sum_i w_i]: ranking only (favours long texts)
An empty text scores 0: it has nothing to label.
"""

from __future__ import annotations

import numpy as np

from .batch import word_sum
from .errors import InvalidParameterError, warn_non_finite

__all__ = ["REDUCTIONS", "aggregate"]

REDUCTIONS: tuple[str, ...] = ("mean", "max", "sum")


def aggregate(
    scores: np.ndarray,
    weights: np.ndarray | None = None,
    reduction: str = "mean",
    *,
    mask: np.ndarray | None = None,
) -> float | np.ndarray:
    """One text (n,) gives a float; a padded batch (batch, max_words) with ``mask`` gives (batch,).
    Non-finite word scores are warned about and counted as 1 (maximally uncertain) so a broken text
    surfaces for review instead of sorting unpredictably; non-finite or non-positive weights are errors."""
    if reduction not in REDUCTIONS:
        raise InvalidParameterError(f"unknown reduction {reduction!r}; valid reductions: {', '.join(REDUCTIONS)}")
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim not in (1, 2):
        raise InvalidParameterError(f"scores must be (n_words,) or (batch, max_words), got shape {values.shape}")
    word_mask = np.ones(values.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if word_mask.shape != values.shape:
        raise InvalidParameterError(f"mask shape {word_mask.shape} does not match scores {values.shape}")
    if weights is None:
        weight_values = np.ones(values.shape, dtype=np.float64)
    else:
        weight_values = np.asarray(weights, dtype=np.float64)
        if weight_values.shape != values.shape:
            raise InvalidParameterError(f"weights shape {weight_values.shape} does not match scores {values.shape}")
        used = weight_values[word_mask]
        if not np.all(np.isfinite(used)) or np.any(used <= 0):
            raise InvalidParameterError("weights of real words must be finite and > 0")

    bad = word_mask & ~np.isfinite(values)
    if np.any(bad):
        warn_non_finite("word scores", int(bad.sum()), "1.0 (maximally uncertain)")
        values = np.where(bad, 1.0, values)
    values = np.where(word_mask, values, 0.0)
    weight_values = np.where(word_mask, weight_values, 0.0)
    weighted = weight_values * values
    has_words = word_mask.any(axis=-1)

    if reduction == "sum":
        result = word_sum(weighted)
    elif reduction == "mean":
        total_weight = word_sum(weight_values)
        result = np.where(has_words, word_sum(weighted) / np.where(has_words, total_weight, 1.0), 0.0)
    else:
        if values.shape[-1] == 0:
            result = np.zeros(values.shape[:-1], dtype=np.float64)
        else:
            top = np.where(word_mask, weighted, -np.inf).max(axis=-1)
            top_weight = np.where(word_mask, weight_values, -np.inf).max(axis=-1)
            result = np.where(has_words, top / np.where(has_words, top_weight, 1.0), 0.0)
    if values.ndim == 1:
        return float(result)
    return np.asarray(result, dtype=np.float64)
