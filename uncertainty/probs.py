"""Validates per-text probability arrays and makes broken rows harmless before any measure reads them."""

from __future__ import annotations

import numpy as np

from .errors import InvalidProbabilitiesError, warn_non_finite

__all__ = ["as_text_probs", "prepare_probs"]


def as_text_probs(probs: np.ndarray, n_tags: int | None) -> np.ndarray:
    """One text's (n_words, K) probabilities; an empty text may come as any size-0 array (``np.array([])``)."""
    array = np.asarray(probs, dtype=np.float64)
    if array.size == 0 and array.ndim != 2:
        return np.zeros((0, n_tags if n_tags is not None else 0), dtype=np.float64)
    if array.ndim != 2:
        raise InvalidProbabilitiesError(f"probs of one text must be (n_words, K), got shape {array.shape}")
    if n_tags is not None and array.shape[1] != n_tags and array.shape[0] > 0:
        raise InvalidProbabilitiesError(f"probs have {array.shape[1]} columns but there are {n_tags} tags")
    if array.shape[0] == 0 and n_tags is not None:
        return np.zeros((0, n_tags), dtype=np.float64)
    return array


def prepare_probs(probs: np.ndarray, n_tags: int | None = None) -> np.ndarray:
    """(n_words, K) rows with every non-finite row replaced by the uniform distribution (maximally uncertain),
    so a broken model output is looked at by a human instead of being sorted as NaN."""
    array = as_text_probs(probs, n_tags)
    bad = ~np.all(np.isfinite(array), axis=-1)
    if np.any(bad):
        warn_non_finite("probability rows", int(bad.sum()), "the uniform distribution")
        array = np.where(bad[..., None], 1.0 / max(array.shape[-1], 1), array)
    return array
