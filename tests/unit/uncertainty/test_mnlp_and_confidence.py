from __future__ import annotations

import math

import numpy as np
import pytest

from uncertainty import (
    EmptySpanError,
    InvalidProbabilitiesError,
    NonFiniteWarning,
    confidence,
    mask_from_lengths,
    mnlp_uncertainty,
    span_confidence,
)


def test_mnlp_hand_computed() -> None:
    # MNLP = (log 0.5 + log 1) / 2 -> U = 1 - sqrt(0.5)
    assert mnlp_uncertainty(np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])) == pytest.approx(1 - math.sqrt(0.5))
    assert mnlp_uncertainty(np.array([[0.8, 0.2]])) == pytest.approx(0.2)
    assert mnlp_uncertainty(np.eye(3)) == 0.0
    assert mnlp_uncertainty(np.full((4, 5), 0.2)) == pytest.approx(1 - 0.2)  # at most 1 - 1/K
    assert mnlp_uncertainty(np.zeros((0, 3))) == 0.0
    assert mnlp_uncertainty(np.array([])) == 0.0


def test_mnlp_batch_equals_per_text() -> None:
    rng = np.random.default_rng(3)
    texts = [rng.dirichlet(np.ones(4), size=n) for n in (5, 2, 0)]
    batch = np.zeros((3, 5, 4))
    for row, text in enumerate(texts):
        batch[row, : len(text)] = text
    result = mnlp_uncertainty(batch, mask=mask_from_lengths([5, 2, 0], 5))
    np.testing.assert_array_equal(result, [mnlp_uncertainty(t) for t in texts])


def test_confidence_is_one_minus_uncertainty() -> None:
    assert confidence(0.25) == 0.75
    np.testing.assert_allclose(confidence(np.array([0.0, 0.4, 1.0])), [1.0, 0.6, 0.0])


def test_span_confidence_is_mean_of_chosen_tags() -> None:
    assert span_confidence(np.array([[0.9, 0.1], [0.3, 0.7]]), [0, 1]) == pytest.approx(0.8)
    assert span_confidence(np.array([[0.1, 0.6, 0.3]]), np.array([2])) == pytest.approx(0.3)


def test_span_confidence_errors_and_non_finite() -> None:
    with pytest.raises(EmptySpanError):
        span_confidence(np.zeros((0, 3)), [])
    with pytest.raises(InvalidProbabilitiesError):
        span_confidence(np.ones((2, 3)) / 3, [0])
    with pytest.raises(InvalidProbabilitiesError):
        span_confidence(np.ones((1, 3)) / 3, [3])
    with pytest.warns(NonFiniteWarning):
        assert span_confidence(np.array([[np.nan, 0.5], [0.2, 0.8]]), [0, 1]) == pytest.approx(0.4)
