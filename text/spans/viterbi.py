"""The most probable IOB2-valid tag sequence for one text's per-word tag probabilities (Viterbi). Pure numpy.

A token classifier scores each word on its own, so its argmax can open an entity with I-X; decoding under the
IOB2 constraints (Ramshaw & Marcus 1995; Lample et al. 2016 decode under the same constraints) repairs that.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from text.spans.bio import parse_tag

# Probabilities are clipped to this before the log, so a zero probability is very unlikely, not impossible.
PROB_FLOOR = 1e-12


def clean_probs(probs: np.ndarray) -> np.ndarray:
    """A float64 copy where a row with any non-finite value becomes uniform and negatives become 0.

    A broken row (NaN from an overflowing half-precision pass) carries no evidence, so it should neither
    pick a tag nor poison the path score of the whole text.
    """
    probs = np.array(probs, dtype=np.float64, copy=True)
    if probs.ndim == 2 and probs.shape[1]:
        broken = ~np.isfinite(probs).all(axis=1)
        probs[broken] = 1.0 / probs.shape[1]
    return np.clip(probs, 0.0, None)


def transition_mask(tags: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(may_start (K,), may_follow (K, K) indexed [previous, current]) under IOB2.

    I-X may only follow B-X or I-X, and a text cannot start with it. A label the tag list gives no B- tag
    for would then be unreachable, so its I- tag may open an entity anywhere (a stray I- starts a span, as
    in `text.spans.decoding.decode_spans`). Tags are read with `parse_tag`, so E-/L- count as I- and S-/U- as B-.
    """
    parsed = [parse_tag(t) for t in tags]
    has_b = {label for prefix, label in parsed if prefix == "B"}
    labels = np.array([label for _, label in parsed], dtype=object)
    continues = np.array([prefix == "I" and label in has_b for prefix, label in parsed], dtype=bool)
    may_follow = ~continues[None, :] | (labels[:, None] == labels[None, :])
    return ~continues, may_follow


def viterbi_path(probs: np.ndarray, tags: Sequence[str]) -> np.ndarray:
    """Tag indices (n,) that maximise the sum of log probabilities over all IOB2-valid sequences.

    Ties are broken toward lower tag indices (O comes first in `text.spans.bio.bio_tags`), so the path is deterministic.
    """
    probs = clean_probs(probs)
    if probs.size == 0 and len(probs) == 0:
        return np.zeros(0, dtype=np.int64)
    if probs.ndim != 2 or probs.shape[1] != len(tags) or not len(tags):
        raise ValueError(f"probs of shape {probs.shape} do not match {len(tags)} tags")
    emit = np.log(np.maximum(probs, PROB_FLOOR))
    may_start, may_follow = transition_mask(tags)
    step = np.where(may_follow, 0.0, -np.inf)
    n, k = emit.shape
    back = np.zeros((n, k), dtype=np.int64)
    score = np.where(may_start, emit[0], -np.inf)
    for i in range(1, n):
        candidates = score[:, None] + step  # [previous, current]
        back[i] = candidates.argmax(axis=0)
        score = candidates[back[i], np.arange(k)] + emit[i]
    path = np.zeros(n, dtype=np.int64)
    path[-1] = int(score.argmax())
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path
