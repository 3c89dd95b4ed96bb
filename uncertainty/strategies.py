"""The registry of query strategies: each maps a pool of texts' (n_words, K) probabilities to one
uncertainty per text (high = ask a human first), in [0, 1] except for reduction="sum".

boundary_entropy  aggregate(entropy, boundary weights)   entropy          aggregate(entropy)
least_confidence  aggregate(least confidence)             margin           aggregate(margin)
mnlp              1 - exp(MNLP) (Shen et al. 2017)         random           U ~ Uniform[0, 1), seeded
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Protocol

import numpy as np

from .aggregation import aggregate
from .batch import pad_batch, prepare_probs
from .boundary import BOUNDARY_WEIGHT, _weights
from .errors import UnknownStrategyError
from .measures import least_confidence, margin, token_entropy
from .mnlp import mnlp_uncertainty

__all__ = ["Strategy", "STRATEGIES", "DEFAULT_STRATEGY", "get_strategy"]


class Strategy(Protocol):
    """Every strategy takes the same keywords so callers can switch by name; unused ones are ignored."""

    def __call__(
        self,
        probs_list: Sequence[np.ndarray],
        tags: list[str],
        *,
        boundary_weight: float = BOUNDARY_WEIGHT,
        reduction: str = "mean",
        seed: int = 0,
    ) -> np.ndarray: ...


def _batch(probs_list: Sequence[np.ndarray], tags: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Validate and clean the pool once, so a NaN row is warned about once, not once per measure."""
    padded, mask = pad_batch(probs_list, len(tags))
    return prepare_probs(padded, mask, n_tags=len(tags))


def _token_strategy(measure: Callable[[np.ndarray], np.ndarray], weighted: bool) -> Strategy:
    """Build the strategies that differ only in the word measure and whether boundaries are weighted."""

    def strategy(
        probs_list: Sequence[np.ndarray],
        tags: list[str],
        *,
        boundary_weight: float = BOUNDARY_WEIGHT,
        reduction: str = "mean",
        seed: int = 0,
    ) -> np.ndarray:
        probs, mask = _batch(probs_list, tags)
        scores = measure(probs)
        weights = None
        if weighted:
            weights = _weights(probs, mask, tags, boundary_weight)
        return np.asarray(aggregate(scores, weights, reduction, mask=mask), dtype=np.float64).reshape(-1)

    return strategy


def _mnlp(
    probs_list: Sequence[np.ndarray],
    tags: list[str],
    *,
    boundary_weight: float = BOUNDARY_WEIGHT,
    reduction: str = "mean",
    seed: int = 0,
) -> np.ndarray:
    """MNLP has its own length normalisation, so ``reduction`` and ``boundary_weight`` do not apply."""
    probs, mask = _batch(probs_list, tags)
    return np.asarray(mnlp_uncertainty(probs, mask=mask), dtype=np.float64).reshape(-1)


def _random(
    probs_list: Sequence[np.ndarray],
    tags: list[str],
    *,
    boundary_weight: float = BOUNDARY_WEIGHT,
    reduction: str = "mean",
    seed: int = 0,
) -> np.ndarray:
    """The baseline every other strategy has to beat; seeded so experiments repeat. Empty texts still
    score 0 (nothing to label), like in every other strategy."""
    _, mask = _batch(probs_list, tags)
    draws = np.random.default_rng(seed).random(mask.shape[0])
    return np.where(mask.any(axis=-1), draws, 0.0)


DEFAULT_STRATEGY: str = "boundary_entropy"

STRATEGIES: Mapping[str, Strategy] = MappingProxyType({
    "boundary_entropy": _token_strategy(token_entropy, weighted=True),
    "entropy": _token_strategy(token_entropy, weighted=False),
    "least_confidence": _token_strategy(least_confidence, weighted=False),
    "margin": _token_strategy(margin, weighted=False),
    "mnlp": _mnlp,
    "random": _random,
})


def get_strategy(name: str = DEFAULT_STRATEGY) -> Strategy:
    """Resolve a configured name once at start-up, so a typo fails loudly with the valid choices."""
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):
        raise UnknownStrategyError(str(name), sorted(STRATEGIES)) from None
