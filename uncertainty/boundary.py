"""Per-word weights that emphasise words likely to sit on an entity boundary, where NER errors concentrate
(boundary-aware sampling in the spirit of Shen et al. 2017 and Liu et al. 2022, "LTP").

For word i of n, labels X with columns B-X / I-X (a missing column reads as 0), p_{n+1} := 0, where B-X stands for
every tag that begins an X span and I-X for every tag that continues one, as `text.spans.bio.parse_tag` reads them
(S-/U- begin, E-/L- continue; `uncertainty.tags`):
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

from .errors import InvalidParameterError
from .tags import entity_columns

__all__ = ["BOUNDARY_WEIGHT", "boundary_flat", "flat_weights"]

BOUNDARY_WEIGHT: float = 2.0


def boundary_flat(p: np.ndarray, last_word: np.ndarray, tags: list[str]) -> np.ndarray:
    """b_i for cleaned probabilities of texts laid end to end (N, K): ``last_word`` marks where the next row belongs
    to another text, so the last word of a text always ends its entity."""
    has_next = ~np.asarray(last_word, dtype=bool)
    columns = entity_columns(tags)
    if p.shape[-2] == 0:
        return np.zeros(p.shape[:-1], dtype=np.float64)
    padded = np.concatenate([p, np.zeros(p.shape[:-1] + (1,), dtype=np.float64)], axis=-1)
    begin = padded[..., columns.begin].sum(axis=-1)
    inside = padded[..., columns.inside].sum(axis=-1)
    next_inside = np.zeros_like(inside)
    next_inside[..., :-1, :] = inside[..., 1:, :]
    next_inside = np.where(has_next[..., None], next_inside, 0.0)
    next_probs = np.zeros_like(p)
    next_probs[..., :-1, :] = p[..., 1:, :]

    start = np.clip(begin.sum(axis=-1), 0.0, 1.0)
    end = np.clip(((begin + inside) * (1.0 - next_inside)).sum(axis=-1), 0.0, 1.0)
    change = np.where(has_next, np.clip(1.0 - (p * next_probs).sum(axis=-1), 0.0, 1.0), 0.0)
    boundary = 1.0 - (1.0 - start) * (1.0 - end) * (1.0 - change)
    return np.clip(boundary, 0.0, 1.0)


def check_boundary_weight(boundary_weight: float) -> float:
    valid = isinstance(boundary_weight, numbers.Real) and not isinstance(boundary_weight, bool)
    if not valid or not math.isfinite(boundary_weight) or boundary_weight <= 0:
        raise InvalidParameterError(f"boundary_weight must be a finite number > 0, got {boundary_weight!r}")
    return float(boundary_weight)


def flat_weights(p: np.ndarray, last_word: np.ndarray, tags: list[str], boundary_weight: float) -> np.ndarray:
    """w_i for texts laid end to end (see `boundary_flat`)."""
    weight = check_boundary_weight(boundary_weight)
    return _to_weights(boundary_flat(p, last_word, tags), weight)


def _to_weights(boundary: np.ndarray, weight: float) -> np.ndarray:
    return 1.0 + (weight - 1.0) * boundary
