"""Uncertainty scores and batch selection for active-learning NER (numpy and stdlib only).

Text uncertainty U in [0, 1] (high = ask a human first); Label Studio's confidence is 1 - U.
"""

from __future__ import annotations

from .aggregation import BOUNDED_REDUCTIONS, DEFAULT_TOP_K, REDUCTIONS, aggregate, reduce_ragged
from .batch import mask_from_lengths, pad_batch
from .bayesian import bald, expected_entropy, mc_entropy
from .boundary import BOUNDARY_WEIGHT, boundary_probability, boundary_weights
from .confidence import confidence, span_confidence
from .cost import MIN_TIMED, TOKEN_COUNT, CostModel, cost_adjusted, fit_cost
from .errors import (
    EmptySpanError,
    InvalidLimitError,
    InvalidParameterError,
    InvalidProbabilitiesError,
    InvalidTagsError,
    NonFiniteWarning,
    UncertaintyError,
    UnknownStrategyError,
)
from .measures import least_confidence, margin, token_entropy
from .mnlp import mnlp_uncertainty
from .ragged import Ragged
from .ranking import Ranking
from .selection import PREFILTER, select, select_cold_start
from .strategies import DEFAULT_STRATEGY, STRATEGIES, Strategy, get_strategy
from .tags import EntityColumns, entity_columns

__all__ = [
    "BOUNDARY_WEIGHT",
    "BOUNDED_REDUCTIONS",
    "CostModel",
    "DEFAULT_TOP_K",
    "MIN_TIMED",
    "PREFILTER",
    "Ragged",
    "Ranking",
    "TOKEN_COUNT",
    "cost_adjusted",
    "fit_cost",
    "reduce_ragged",
    "DEFAULT_STRATEGY",
    "REDUCTIONS",
    "STRATEGIES",
    "EmptySpanError",
    "EntityColumns",
    "InvalidLimitError",
    "InvalidParameterError",
    "InvalidProbabilitiesError",
    "InvalidTagsError",
    "NonFiniteWarning",
    "Strategy",
    "UncertaintyError",
    "UnknownStrategyError",
    "aggregate",
    "bald",
    "boundary_probability",
    "boundary_weights",
    "confidence",
    "entity_columns",
    "expected_entropy",
    "get_strategy",
    "least_confidence",
    "margin",
    "mask_from_lengths",
    "mc_entropy",
    "mnlp_uncertainty",
    "pad_batch",
    "select",
    "select_cold_start",
    "span_confidence",
    "token_entropy",
]
