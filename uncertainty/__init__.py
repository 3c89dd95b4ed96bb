"""Uncertainty scores and batch selection for active-learning NER (numpy and stdlib only).

Text uncertainty U in [0, 1] (high = ask a human first); Label Studio's confidence is 1 - U.
The names below are what the service and the benchmark use; the maths behind them lives in the submodules
(measures, aggregation, ragged, boundary, bayesian, mnlp, strategies, cost, clustering, selection, content, tags,
probs).
"""

from __future__ import annotations

from .aggregation import REDUCTIONS
from .content import rarity
from .cost import TOKEN_COUNT, AnnotationTime, fit_annotation_time, fit_cost
from .errors import InvalidLimitError, InvalidParameterError, UncertaintyError, UnknownStrategyError
from .ranking import Ranking
from .selection import select, select_cold_start, select_random_start, select_seed_set
from .strategies import STRATEGIES, get_strategy

__all__ = [
    "AnnotationTime",
    "InvalidLimitError",
    "InvalidParameterError",
    "REDUCTIONS",
    "Ranking",
    "STRATEGIES",
    "TOKEN_COUNT",
    "UncertaintyError",
    "UnknownStrategyError",
    "fit_annotation_time",
    "fit_cost",
    "get_strategy",
    "rarity",
    "select",
    "select_cold_start",
    "select_random_start",
    "select_seed_set",
]
