"""Confidence scores for Label Studio, where a LOW score means the model is UNSURE.

confidence      = 1 - U                                   (U a text uncertainty in [0, 1])
span confidence = (1/m) sum_j p_j[t_j]                     (m words of the span, t_j their decoded tags)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import EmptySpanError, InvalidProbabilitiesError, warn_non_finite

__all__ = ["confidence", "span_confidence"]


def confidence(uncertainty: float | np.ndarray) -> float | np.ndarray:
    """Label Studio sorts predictions by a score where low = review first, the opposite of uncertainty.
    Only meaningful for uncertainties in [0, 1] (not for the ranking-only "sum" reduction)."""
    if np.ndim(uncertainty) == 0:
        return 1.0 - float(uncertainty)
    return 1.0 - np.asarray(uncertainty, dtype=np.float64)


def span_confidence(probs: np.ndarray, tag_indices: Sequence[int] | np.ndarray) -> float:
    """A span is only as trustworthy as the tags that built it; the mean keeps long spans comparable
    with short ones. Non-finite probabilities count as 0 (least confident) after a warning."""
    rows = np.asarray(probs, dtype=np.float64)
    chosen_tags = np.asarray(tag_indices, dtype=np.intp).reshape(-1)
    if rows.ndim != 2:
        raise InvalidProbabilitiesError(f"span probs must be (n_words, K), got shape {rows.shape}")
    if rows.shape[0] == 0:
        raise EmptySpanError("a span needs at least one word to have a confidence")
    if chosen_tags.shape[0] != rows.shape[0]:
        raise InvalidProbabilitiesError(f"{rows.shape[0]} probability rows but {chosen_tags.shape[0]} tag indices")
    if np.any(chosen_tags < 0) or np.any(chosen_tags >= rows.shape[1]):
        raise InvalidProbabilitiesError(f"tag indices must lie in [0, {rows.shape[1]}), got {chosen_tags.tolist()}")
    chosen = rows[np.arange(rows.shape[0]), chosen_tags]
    bad = ~np.isfinite(chosen)
    if np.any(bad):
        warn_non_finite("span probabilities", int(bad.sum()), "0.0 (least confident)")
        chosen = np.where(bad, 0.0, chosen)
    return float(np.clip(chosen.mean(), 0.0, 1.0))
