"""One ranking of texts for both places annotators meet it: /select_samples' order and the task `score` that
Label Studio's *Uncertainty sampling* sorts by (lowest first), so the two always agree.

value       U(x) from the strategy and reduction, or U(x) / c(x) when cost-aware (`uncertainty.cost`)
confidence  1 - value            for the bounded reductions (mean, max, top_k) without cost: in [0, 1]
            1 / (1 + value)      otherwise (sum, or per cost): still in (0, 1], still lower = more uncertain
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .aggregation import BOUNDED_REDUCTIONS, DEFAULT_REDUCTION, DEFAULT_TOP_K, check_reduction
from .boundary import BOUNDARY_WEIGHT
from .cost import CostModel, cost_adjusted
from .strategies import DEFAULT_STRATEGY, get_strategy

__all__ = ["Ranking"]


@dataclass(frozen=True)
class Ranking:
    """How texts are ordered; `key` identifies it in caches (two rankings with one key order texts alike)."""

    strategy: str = DEFAULT_STRATEGY
    reduction: str = DEFAULT_REDUCTION
    top_k: int = DEFAULT_TOP_K
    boundary_weight: float = BOUNDARY_WEIGHT
    cost: CostModel | None = None

    def __post_init__(self) -> None:
        get_strategy(self.strategy)
        check_reduction(self.reduction, self.top_k)

    @property
    def bounded(self) -> bool:
        return self.cost is None and (self.reduction in BOUNDED_REDUCTIONS or self.strategy in ("mnlp", "random"))

    @property
    def needs_samples(self) -> bool:
        """The strategy reads MC dropout samples (T, n_words, K) per text rather than one pass's probabilities."""
        return get_strategy(self.strategy).needs_samples

    def single_pass(self) -> Ranking:
        """The ranking a one-forward-pass caller (/predict) uses: a Bayesian strategy's deterministic stand-in."""
        if not self.needs_samples:
            return self
        return Ranking(
            get_strategy(self.strategy).deterministic, self.reduction, self.top_k, self.boundary_weight, self.cost
        )

    @property
    def key(self) -> tuple:
        cost = None if self.cost is None else (self.cost.a, self.cost.b)
        return (self.strategy, self.reduction, self.top_k, self.boundary_weight, cost)

    def uncertainties(
        self,
        probs_list: Sequence[np.ndarray],
        tags: list[str],
        seed: int = 0,
        keys: Sequence[str | bytes] | None = None,
    ) -> np.ndarray:
        """U(x) per text, before any cost; `probs_list` holds MC samples per text when `needs_samples`.

        `keys` (the texts) let `random` score a text alike in /predict and /select_samples, whatever the pool."""
        return get_strategy(self.strategy)(
            probs_list,
            tags,
            boundary_weight=self.boundary_weight,
            reduction=self.reduction,
            top_k=self.top_k,
            seed=seed,
            keys=keys,
        )

    def values(self, uncertainties: np.ndarray, words: Sequence[int] | np.ndarray) -> np.ndarray:
        """What selection sorts by (high = ask first): U, or U / c(words) when cost-aware."""
        u = np.asarray(uncertainties, dtype=np.float64)
        return u if self.cost is None else cost_adjusted(u, words, self.cost)

    def confidences(self, values: np.ndarray) -> np.ndarray:
        """Label Studio's task score: decreasing in `values`, so its lowest-first order is selection's order."""
        v = np.maximum(np.asarray(values, dtype=np.float64), 0.0)
        return np.clip(1.0 - v, 0.0, 1.0) if self.bounded else 1.0 / (1.0 + v)
