"""Validates probability arrays and pads a list of texts into one (batch, max_words, K) array + mask.

Padded batches are reduced by gathering their real words (`uncertainty.ragged`), so padding never changes a
result: batched and per-text numbers are bit-identical.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import InvalidParameterError, InvalidProbabilitiesError, warn_non_finite

__all__ = ["pad_batch", "mask_from_lengths", "prepare_probs"]


def _as_text_probs(probs: np.ndarray, n_tags: int | None) -> np.ndarray:
    """Accept an empty text given as any size-0 array, because callers build it with ``np.array([])``."""
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


def mask_from_lengths(lengths: Sequence[int] | np.ndarray, max_words: int) -> np.ndarray:
    """Turn per-text word counts into the boolean mask the batched functions take."""
    lengths_array = np.asarray(lengths, dtype=np.int64)
    if lengths_array.ndim != 1 or np.any(lengths_array < 0) or np.any(lengths_array > max_words):
        raise InvalidParameterError(f"lengths must be 1-D in [0, {max_words}], got {lengths_array!r}")
    return np.arange(max_words)[None, :] < lengths_array[:, None]


def pad_batch(probs_list: Sequence[np.ndarray], n_tags: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack texts of different lengths so a whole pool is scored with one vectorised pass."""
    texts = [_as_text_probs(p, n_tags) for p in probs_list]
    max_words = max((t.shape[0] for t in texts), default=0)
    padded = np.zeros((len(texts), max_words, n_tags), dtype=np.float64)
    for row, text in enumerate(texts):
        padded[row, : text.shape[0]] = text
    lengths = [t.shape[0] for t in texts]
    return padded, mask_from_lengths(lengths, max_words)


def prepare_probs(
    probs: np.ndarray, mask: np.ndarray | None = None, n_tags: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Zero padded rows and replace non-finite rows by the uniform distribution (maximally uncertain),
    so a broken model output is looked at by a human instead of being sorted as NaN."""
    array = np.asarray(probs, dtype=np.float64)
    if array.ndim < 2:
        array = _as_text_probs(array, n_tags)
    if array.ndim not in (2, 3):
        raise InvalidProbabilitiesError(f"probs must be (n_words, K) or (batch, max_words, K), got {array.shape}")
    if n_tags is not None and array.shape[-1] != n_tags and array.shape[-2] > 0:
        raise InvalidProbabilitiesError(f"probs have {array.shape[-1]} columns but there are {n_tags} tags")
    if mask is None:
        mask_array = np.ones(array.shape[:-1], dtype=bool)
    else:
        mask_array = np.asarray(mask, dtype=bool)
        if mask_array.shape != array.shape[:-1]:
            raise InvalidProbabilitiesError(f"mask shape {mask_array.shape} does not match probs {array.shape[:-1]}")
    array = np.where(mask_array[..., None], array, 0.0)
    bad = mask_array & ~np.all(np.isfinite(array), axis=-1)
    if np.any(bad):
        warn_non_finite("probability rows", int(bad.sum()), "the uniform distribution")
        array = np.where(bad[..., None], 1.0 / max(array.shape[-1], 1), array)
    return array, mask_array
