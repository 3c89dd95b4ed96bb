"""Reductions over ragged word arrays: every text's words laid end to end, with the texts' word counts.

A pool of texts of very different lengths is reduced without padding to the longest one, so one 2,000-word
text among short ones costs its own words, not 2,000 x the pool. Sums run left to right within each text
(`np.add.reduceat` over contiguous segments), so a text's result does not depend on its neighbours.
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidParameterError

__all__ = ["Ragged", "segment_sum", "segment_max", "segment_top_k_mean"]


class Ragged:
    """Word counts per text and where each text starts in the flat word axis."""

    def __init__(self, lengths) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        if np.any(self.lengths < 0):
            raise InvalidParameterError("word counts must be >= 0")
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.total = int(self.lengths.sum())
        self.nonempty = self.lengths > 0

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    def last_word(self) -> np.ndarray:
        """(total,) True at the last word of every text: there the next word belongs to another text."""
        mask = np.zeros(self.total, dtype=bool)
        mask[(self.starts + self.lengths - 1)[self.nonempty]] = True
        return mask

    def text_of_word(self) -> np.ndarray:
        return np.repeat(np.arange(len(self)), self.lengths)


def _check(values: np.ndarray, ragged: Ragged) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.shape[0] != ragged.total:
        raise InvalidParameterError(f"{values.shape[0]} word values for {ragged.total} words")
    return values


def _segments(reduce: np.ufunc, values: np.ndarray, ragged: Ragged) -> np.ndarray:
    """`reduce` over each text's contiguous words; an empty text gives 0."""
    values = _check(values, ragged)
    out = np.zeros(len(ragged), dtype=np.float64)
    if ragged.total:
        out[ragged.nonempty] = reduce.reduceat(values, ragged.starts[ragged.nonempty])
    return out


def segment_sum(values: np.ndarray, ragged: Ragged) -> np.ndarray:
    """Per-text sum; an empty text sums to 0."""
    return _segments(np.add, values, ragged)


def segment_max(values: np.ndarray, ragged: Ragged) -> np.ndarray:
    """Per-text maximum; an empty text gives 0."""
    return _segments(np.maximum, values, ragged)


def segment_top_k_mean(values: np.ndarray, ragged: Ragged, k: int) -> np.ndarray:
    """Per-text mean of its k largest values (all of them when the text is shorter); empty -> 0.

    One stable sort of (text, -value) keys puts each text's words in descending order, so the top k of every
    text are the first k of its segment.
    """
    values = _check(values, ragged)
    if k < 1:
        raise InvalidParameterError(f"top_k must be >= 1, got {k}")
    out = np.zeros(len(ragged), dtype=np.float64)
    if not ragged.total:
        return out
    text = ragged.text_of_word()
    order = np.lexsort((-values, text))
    rank = np.arange(ragged.total) - np.repeat(ragged.starts, ragged.lengths)
    kept = np.zeros(ragged.total, dtype=np.float64)
    kept[rank < k] = values[order][rank < k]
    taken = np.minimum(ragged.lengths, k)
    sums = segment_sum(kept, ragged)
    out[ragged.nonempty] = sums[ragged.nonempty] / taken[ragged.nonempty]
    return out
