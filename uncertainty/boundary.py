"""Per-word weights that emphasise words likely to sit on an entity boundary, where NER errors concentrate
(boundary-aware sampling in the spirit of Shen et al. 2017 and Liu et al. 2022, "LTP").

For word i of n, labels X with columns B-X / I-X (a missing column reads as 0), p_{n+1} := 0:
  s_i = sum_X p_i[B-X]                                   an entity starts at i
  e_i = sum_X (p_i[B-X] + p_i[I-X]) * (1 - p_{i+1}[I-X])  an entity ends at i (the last word ends any entity)
  c_i = 1 - sum_k p_i[k] * p_{i+1}[k]   (c_n = 0)         the tag changes between i and i+1 (independent words)
  b_i = 1 - (1 - s_i)(1 - e_i)(1 - c_i)                   noisy-OR: in [0, 1], grows with each term
  w_i = 1 + (boundary_weight - 1) * b_i                   boundary_weight = 1 gives w_i = 1 exactly
Ranking effect (weighted mean): a text moves up when its uncertain words carry more boundary mass than
its confident words, because confident boundary words then dilute the mean more than interior ones.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .batch import prepare_probs
from .errors import InvalidParameterError
from .tags import entity_columns

__all__ = ["BOUNDARY_WEIGHT", "boundary_probability", "boundary_weights"]

BOUNDARY_WEIGHT: float = 2.0


def boundary_probability(probs: np.ndarray, tags: list[str], *, mask: np.ndarray | None = None) -> np.ndarray:
    """b_i of the module docstring. Works on one text (n, K) or a padded batch (batch, max_words, K) with
    ``mask``; a padded word is never anyone's next word, so the last real word always ends its entity."""
    p, word_mask = prepare_probs(probs, mask, n_tags=len(tags))
    return _boundary(p, word_mask, tags)


def _boundary(p: np.ndarray, word_mask: np.ndarray, tags: list[str]) -> np.ndarray:
    """b_i on already validated probabilities whose padded rows are zero."""
    has_next = np.zeros_like(word_mask)
    has_next[..., :-1] = word_mask[..., 1:]
    return _boundary_given_next(p, word_mask, has_next, tags)


def boundary_flat(p: np.ndarray, last_word: np.ndarray, tags: list[str]) -> np.ndarray:
    """b_i for texts laid end to end (N, K): ``last_word`` marks where the next row belongs to another text."""
    return _boundary_given_next(p, np.ones(p.shape[:-1], dtype=bool), ~np.asarray(last_word, dtype=bool), tags)


def _boundary_given_next(p: np.ndarray, word_mask: np.ndarray, has_next: np.ndarray, tags: list[str]) -> np.ndarray:
    """b_i where ``has_next`` says whether row i+1 is word i's successor in the same text."""
    columns = entity_columns(tags)
    if p.shape[-2] == 0:
        return np.zeros(p.shape[:-1], dtype=np.float64)
    padded = np.concatenate([p, np.zeros(p.shape[:-1] + (1,), dtype=np.float64)], axis=-1)
    begin = padded[..., columns.begin]
    inside = padded[..., columns.inside]
    next_inside = np.zeros_like(inside)
    next_inside[..., :-1, :] = inside[..., 1:, :]
    next_inside = np.where(has_next[..., None], next_inside, 0.0)
    next_probs = np.zeros_like(p)
    next_probs[..., :-1, :] = p[..., 1:, :]

    start = np.clip(begin.sum(axis=-1), 0.0, 1.0)
    end = np.clip(((begin + inside) * (1.0 - next_inside)).sum(axis=-1), 0.0, 1.0)
    change = np.where(has_next, np.clip(1.0 - (p * next_probs).sum(axis=-1), 0.0, 1.0), 0.0)
    boundary = 1.0 - (1.0 - start) * (1.0 - end) * (1.0 - change)
    return np.where(word_mask, np.clip(boundary, 0.0, 1.0), 0.0)


def check_boundary_weight(boundary_weight: float) -> float:
    valid = isinstance(boundary_weight, numbers.Real) and not isinstance(boundary_weight, bool)
    if not valid or not math.isfinite(boundary_weight) or boundary_weight <= 0:
        raise InvalidParameterError(f"boundary_weight must be a finite number > 0, got {boundary_weight!r}")
    return float(boundary_weight)


def boundary_weights(
    probs: np.ndarray,
    tags: list[str],
    boundary_weight: float = BOUNDARY_WEIGHT,
    *,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """w_i of the module docstring: a boundary word counts up to ``boundary_weight`` times as much as an
    interior one in the weighted mean. Must be finite and > 0 so every weight stays positive; padded
    words get weight 0 so they drop out of any aggregation."""
    p, word_mask = prepare_probs(probs, mask, n_tags=len(tags))
    return _weights(p, word_mask, tags, boundary_weight)


def _weights(p: np.ndarray, word_mask: np.ndarray, tags: list[str], boundary_weight: float) -> np.ndarray:
    """w_i on already validated probabilities."""
    weight = check_boundary_weight(boundary_weight)
    return np.where(word_mask, _to_weights(_boundary(p, word_mask, tags), weight), 0.0)


def flat_weights(p: np.ndarray, last_word: np.ndarray, tags: list[str], boundary_weight: float) -> np.ndarray:
    """w_i for texts laid end to end (see `boundary_flat`)."""
    weight = check_boundary_weight(boundary_weight)
    return _to_weights(boundary_flat(p, last_word, tags), weight)


def _to_weights(boundary: np.ndarray, weight: float) -> np.ndarray:
    return 1.0 + (weight - 1.0) * boundary
