from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from uncertainty.errors import NonFiniteWarning
from uncertainty.measures import least_confidence, margin, token_entropy

ROWS = np.array(
    [
        [0.25, 0.25, 0.25, 0.25],  # uniform
        [1.0, 0.0, 0.0, 0.0],  # one-hot
        [0.5, 0.5, 0.0, 0.0],
        [0.7, 0.2, 0.1, 0.0],
    ]
)


def test_entropy_hand_computed() -> None:
    expected = [
        1.0,
        0.0,
        math.log(2) / math.log(4),  # = 0.5
        -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1)) / math.log(4),
    ]
    np.testing.assert_allclose(token_entropy(ROWS), expected, rtol=0, atol=1e-15)
    assert token_entropy(ROWS)[2] == pytest.approx(0.5)


def test_least_confidence_is_rescaled_so_uniform_is_one() -> None:
    # (1 - max p) * K / (K - 1) with K = 4
    np.testing.assert_allclose(least_confidence(ROWS), [1.0, 0.0, 2 / 3, 0.4], atol=1e-15)


def test_margin_hand_computed() -> None:
    np.testing.assert_allclose(margin(ROWS), [1.0, 0.0, 1.0, 0.5], atol=1e-15)


@pytest.mark.parametrize("measure", [token_entropy, least_confidence, margin])
def test_shapes_and_degenerate_tag_sets(measure) -> None:
    batch = np.stack([ROWS, ROWS[::-1]])
    assert measure(batch).shape == (2, 4)
    np.testing.assert_array_equal(measure(batch)[1], measure(ROWS[::-1]))
    assert measure(np.zeros((0, 4))).shape == (0,)
    assert measure(np.array([])).shape == (0,)
    np.testing.assert_array_equal(measure(np.ones((3, 1))), np.zeros(3))  # K = 1: nothing to doubt
    assert float(measure(np.array([0.25, 0.25, 0.25, 0.25]))) == pytest.approx(1.0)


@pytest.mark.parametrize("measure", [token_entropy, least_confidence, margin])
def test_non_finite_row_is_warned_and_maximally_uncertain(measure) -> None:
    rows = np.array([[np.nan, 0.5, 0.5], [1.0, 0.0, 0.0]])
    with pytest.warns(NonFiniteWarning):
        result = measure(rows)
    np.testing.assert_allclose(result, [1.0, 0.0], atol=1e-15)


def test_clean_input_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        token_entropy(ROWS)
