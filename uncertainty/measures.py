"""Per-word uncertainty of a tag distribution, each in [0, 1] (1 = uniform, 0 = one-hot).

entropy  u = -sum_k p_k log p_k / log K                       (Settles & Craven 2008)
least    u = (1 - max_k p_k) * K / (K - 1)                    (Culotta & McCallum 2005; rescaled so uniform -> 1)
margin   u = 1 - (p_(1) - p_(2)), p_(1) >= p_(2) the top two  (Scheffer et al. 2001)
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidProbabilitiesError
from .probs import prepare_probs

__all__ = ["token_entropy", "least_confidence", "margin"]


def _clean(probs: np.ndarray) -> np.ndarray:
    """Accept any (..., K) shape (one row, one text, MC samples) and an empty text as ``np.array([])``."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 0:
        raise InvalidProbabilitiesError("probs must have a tag axis, got a scalar")
    if p.ndim == 1 and p.size == 0:
        return np.zeros((0, 0), dtype=np.float64)
    return prepare_probs(p.reshape(-1, p.shape[-1])).reshape(p.shape)


def token_entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy looks at the whole distribution, so it also sees doubt spread over many tags.
    Divided by log K so texts scored under different tag sets stay comparable; K = 1 gives 0."""
    p = _clean(probs)
    n_tags = p.shape[-1]
    if n_tags <= 1:
        return np.zeros(p.shape[:-1], dtype=np.float64)
    positive = p > 0
    plogp = np.where(positive, p * np.log(np.where(positive, p, 1.0)), 0.0)
    return np.clip(-plogp.sum(axis=-1) / np.log(n_tags), 0.0, 1.0)


def least_confidence(probs: np.ndarray) -> np.ndarray:
    """1 - max p alone tops out at 1 - 1/K for a uniform row; the K/(K-1) factor rescales it so that
    uniform gives exactly 1 like the other measures (ranking within one tag set is unchanged)."""
    p = _clean(probs)
    n_tags = p.shape[-1]
    if n_tags <= 1:
        return np.zeros(p.shape[:-1], dtype=np.float64)
    return np.clip((1.0 - p.max(axis=-1)) * (n_tags / (n_tags - 1)), 0.0, 1.0)


def margin(probs: np.ndarray) -> np.ndarray:
    """The gap between the two best tags is what a decoder actually hesitates over; a small gap means
    one more label would most likely flip the decision. K = 1 compares the only tag against 0."""
    p = _clean(probs)
    n_tags = p.shape[-1]
    if n_tags == 0:
        return np.zeros(p.shape[:-1], dtype=np.float64)
    if n_tags == 1:
        return np.clip(1.0 - p[..., 0], 0.0, 1.0)
    top_two = np.partition(p, n_tags - 2, axis=-1)[..., -2:]
    return np.clip(1.0 - (top_two[..., 1] - top_two[..., 0]), 0.0, 1.0)
