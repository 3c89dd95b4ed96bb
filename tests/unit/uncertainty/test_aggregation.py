from __future__ import annotations

import numpy as np
import pytest

from uncertainty import InvalidParameterError, NonFiniteWarning, aggregate, mask_from_lengths

SCORES = np.array([0.2, 0.4, 0.6])
WEIGHTS = np.array([1.0, 2.0, 1.0])


def test_unweighted() -> None:
    assert aggregate(SCORES) == pytest.approx(0.4)
    assert aggregate(SCORES, reduction="max") == pytest.approx(0.6)
    assert aggregate(SCORES, reduction="sum") == pytest.approx(1.2)


def test_weighted() -> None:
    assert aggregate(SCORES, WEIGHTS) == pytest.approx((0.2 + 0.8 + 0.6) / 4)  # 0.4
    assert aggregate(SCORES, WEIGHTS, "max") == pytest.approx(0.8 / 2)  # max w*u / max w
    assert aggregate(SCORES, WEIGHTS, "sum") == pytest.approx(1.6)  # ranking only, may exceed 1


@pytest.mark.parametrize("reduction", ["mean", "max", "sum"])
def test_empty_text_scores_zero(reduction: str) -> None:
    assert aggregate(np.zeros(0), reduction=reduction) == 0.0
    batch = aggregate(np.zeros((2, 0)), reduction=reduction, mask=np.zeros((2, 0), bool))
    np.testing.assert_array_equal(batch, [0.0, 0.0])


@pytest.mark.parametrize("reduction", ["mean", "max", "sum"])
def test_batch_equals_per_text(reduction: str) -> None:
    scores = np.array([[0.1, 0.9, 0.3, 0.0], [0.5, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    weights = np.array([[1.0, 1.5, 2.0, 0.0], [1.2, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    mask = mask_from_lengths([3, 1, 0], 4)
    result = aggregate(scores, weights, reduction, mask=mask)
    expected = [
        aggregate(scores[0, :3], weights[0, :3], reduction),
        aggregate(scores[1, :1], weights[1, :1], reduction),
        0.0,
    ]
    np.testing.assert_array_equal(result, expected)


def test_non_finite_scores_are_warned_and_count_as_one() -> None:
    with pytest.warns(NonFiniteWarning):
        assert aggregate(np.array([np.nan, 0.0])) == pytest.approx(0.5)
    with pytest.warns(NonFiniteWarning):
        assert aggregate(np.array([np.inf, 0.2]), reduction="max") == pytest.approx(1.0)


def test_bad_arguments() -> None:
    with pytest.raises(InvalidParameterError, match="mean, max, sum"):
        aggregate(SCORES, reduction="median")
    with pytest.raises(InvalidParameterError):
        aggregate(SCORES, np.array([1.0, 0.0, 1.0]))
    with pytest.raises(InvalidParameterError):
        aggregate(SCORES, np.ones(2))
