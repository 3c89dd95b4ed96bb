from __future__ import annotations

import numpy as np
import pytest

from uncertainty.aggregation import reduce_ragged
from uncertainty.errors import InvalidParameterError, NonFiniteWarning
from uncertainty.ragged import Ragged

SCORES = np.array([0.2, 0.4, 0.6])
WEIGHTS = np.array([1.0, 2.0, 1.0])


def reduce(scores, weights=None, reduction="mean") -> float:
    """One text's value."""
    return float(reduce_ragged(scores, Ragged([len(scores)]), weights, reduction)[0])


def test_unweighted() -> None:
    assert reduce(SCORES) == pytest.approx(0.4)
    assert reduce(SCORES, reduction="max") == pytest.approx(0.6)
    assert reduce(SCORES, reduction="sum") == pytest.approx(1.2)


def test_weighted() -> None:
    assert reduce(SCORES, WEIGHTS) == pytest.approx((0.2 + 0.8 + 0.6) / 4)  # 0.4
    assert reduce(SCORES, WEIGHTS, "max") == pytest.approx(0.8 / 2)  # max w*u / max w
    assert reduce(SCORES, WEIGHTS, "sum") == pytest.approx(1.6)  # ranking only, may exceed 1


@pytest.mark.parametrize("reduction", ["mean", "max", "sum", "top_k"])
def test_empty_text_scores_zero(reduction: str) -> None:
    assert reduce(np.zeros(0), reduction=reduction) == 0.0
    np.testing.assert_array_equal(reduce_ragged(np.zeros(0), Ragged([0, 0]), None, reduction), [0.0, 0.0])


@pytest.mark.parametrize("reduction", ["mean", "max", "sum", "top_k"])
def test_texts_together_equal_texts_alone(reduction: str) -> None:
    scores = [np.array([0.1, 0.9, 0.3]), np.array([0.5]), np.zeros(0)]
    weights = [np.array([1.0, 1.5, 2.0]), np.array([1.2]), np.zeros(0)]
    together = reduce_ragged(np.concatenate(scores), Ragged([3, 1, 0]), np.concatenate(weights), reduction)
    alone = [reduce(s, w, reduction) for s, w in zip(scores, weights)]
    np.testing.assert_array_equal(together, alone)


def test_non_finite_scores_are_warned_and_count_as_one() -> None:
    with pytest.warns(NonFiniteWarning):
        assert reduce(np.array([np.nan, 0.0])) == pytest.approx(0.5)
    with pytest.warns(NonFiniteWarning):
        assert reduce(np.array([np.inf, 0.2]), reduction="max") == pytest.approx(1.0)


def test_bad_arguments() -> None:
    with pytest.raises(InvalidParameterError, match="mean, max, sum"):
        reduce(SCORES, reduction="median")
    with pytest.raises(InvalidParameterError):
        reduce(SCORES, np.array([1.0, 0.0, 1.0]))
    with pytest.raises(InvalidParameterError):
        reduce(SCORES, np.ones(2))
