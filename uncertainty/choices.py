"""Uncertainty of text classification (Choices): one probability vector per text instead of one per word.

Each measure is `uncertainty.measures`' own, in [0, 1] (1 = the model cannot tell):

single choice    the measure of the softmax over the control's classes
multiple choice  each class is its own yes/no decision with probability p (a sigmoid): the measure of (p, 1 - p)
                 per class, reduced by the maximum, so a text is as uncertain as its least sure class decision
several controls the maximum over the controls: a task is as uncertain as its least sure control

The strategy names of `uncertainty.strategies` map to a measure here (`CLASS_MEASURE`): a span strategy's
boundary weighting has no meaning for one decision per text, so `boundary_entropy` (the NER default) uses least
confidence, chosen on TREC-6's dev split over margin and entropy (`bench/RESULTS.md`: +0.024 AULC per task over
margin on dev, level with it on the test set); MNLP and span confidence of one decision order texts as least
confidence does; the Bayesian strategies use their one-pass stand-in (entropy); `random` stays random. For a
multiple-choice class (a yes/no decision) least confidence and margin are the same number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import InvalidProbabilitiesError
from .measures import least_confidence, margin, token_entropy
from .strategies import get_strategy, keyed_uniform

__all__ = [
    "CLASS_MEASURE",
    "Segment",
    "choice_confidences",
    "choice_uncertainty",
    "choices_uncertainties",
    "combined_confidences",
]

Segment = tuple[int, int, bool]  # (first class, end, multiple choice?) of one control in the head's classes

MEASURES = {"margin": margin, "entropy": token_entropy, "least_confidence": least_confidence}
CLASS_MEASURE = {
    "boundary_entropy": "least_confidence",
    "margin": "margin",
    "entropy": "entropy",
    "least_confidence": "least_confidence",
    "mnlp": "least_confidence",
    "span_confidence": "least_confidence",
    "bald": "entropy",
    "mc_entropy": "entropy",
}


def choice_uncertainty(probs: np.ndarray, multiple: bool, measure: str = "least_confidence") -> float:
    """U of one control's class probabilities: softmax (single) or per-class sigmoids (multiple, max over classes)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 1 or p.size == 0:
        raise InvalidProbabilitiesError(f"class probabilities must be a non-empty vector, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or np.any(p > 1):
        raise InvalidProbabilitiesError("class probabilities must be finite and in [0, 1]")
    fn = MEASURES[measure]
    if multiple:
        return float(np.max(fn(np.stack([p, 1.0 - p], axis=-1))))
    return float(fn(p[None, :])[0])


def choices_uncertainties(
    probs_list: Sequence[np.ndarray],
    segments: Sequence[Segment],
    strategy: str,
    seed: int = 0,
    keys: Sequence[str | bytes] | None = None,
) -> np.ndarray:
    """U per text: each control's `choice_uncertainty` under the strategy's measure, the maximum over controls.

    A text with no probabilities (an empty text) scores 0, like an empty text under the span strategies."""
    get_strategy(strategy)  # an unknown name fails with the valid ones
    nonempty = np.array([np.asarray(p).size > 0 for p in probs_list], dtype=bool)
    if strategy == "random":
        draws = np.random.default_rng(seed).random(len(probs_list)) if keys is None else keyed_uniform(keys, seed)
        return np.where(nonempty, draws, 0.0)
    measure = CLASS_MEASURE[strategy]
    out = np.zeros(len(probs_list))
    for i, probs in enumerate(probs_list):
        if nonempty[i]:
            p = np.asarray(probs, dtype=np.float64)
            out[i] = max(choice_uncertainty(p[a:b], multiple, measure) for a, b, multiple in segments)
    return out


def choice_confidences(ranking, values: np.ndarray) -> np.ndarray:
    """The task score Label Studio sorts by (lowest first): 1 - U, as U of a classification is always in [0, 1]
    whatever the span reduction; cost-aware values (U per cost) keep `Ranking.confidences`. Either way it falls as
    `values` rise, so Label Studio's order is /select_samples' order."""
    if ranking.cost is None:
        return np.clip(1.0 - np.asarray(values, dtype=np.float64), 0.0, 1.0)
    return ranking.confidences(values)


def combined_confidences(parts: Sequence[tuple[np.ndarray, bool]]) -> np.ndarray:
    """The task score of a project whose version serves spans and choices: the minimum over its trained parts of
    each part's own task score (a task is as uncertain as its least sure control); over every part while none is
    trained, so an untrained model still orders tasks.

    `parts`: (task scores, trained?) per part. Each score is already on Label Studio's scale, in [0, 1] with low =
    unsure and falling as the part's selection value rises: `Ranking.confidences` for spans (1 - U for a bounded
    measure, 1 / (1 + U) for an unbounded one) and `choice_confidences` for choices (1 - U). A part with an
    untrained head (a fresh, near-uniform classifier) would otherwise score every task unsure and hide the trained
    part's order.
    """
    if not parts:
        raise ValueError("no part to combine")
    kept = [np.asarray(c, dtype=np.float64) for c, trained in parts if trained] or [
        np.asarray(c, dtype=np.float64) for c, _ in parts
    ]
    return np.minimum.reduce(kept)
