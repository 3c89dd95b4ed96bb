"""BALD and predictive entropy over (T, n_words, K) samples, checked against hand-computed numbers."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from uncertainty.bayesian import bald, mc_entropy
from uncertainty.errors import InvalidProbabilitiesError, NonFiniteWarning
from uncertainty.measures import token_entropy


def expected_entropy(samples: np.ndarray) -> np.ndarray:
    """mean_t H(p_t): what BALD subtracts from the predictive entropy."""
    return token_entropy(np.asarray(samples, dtype=np.float64)).mean(axis=0)


def h2(p: float) -> float:
    """Binary entropy in bits (nats / log 2), i.e. entropy normalised by log K for K = 2."""
    return -sum(q * math.log(q) for q in (p, 1 - p) if q > 0) / math.log(2)


def test_identical_samples_give_zero_bald_and_their_own_entropy():
    row = [0.7, 0.2, 0.1]
    samples = np.array([[row, [1.0, 0.0, 0.0]]] * 5)  # T = 5, two words
    np.testing.assert_allclose(bald(samples), [0.0, 0.0], atol=1e-12)
    entropy = -sum(p * math.log(p) for p in row) / math.log(3)
    np.testing.assert_allclose(mc_entropy(samples), [entropy, 0.0], atol=1e-12)


def test_two_opposite_one_hot_samples_give_bald_one_for_two_tags():
    samples = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # T = 2, one word, K = 2
    assert bald(samples) == pytest.approx([1.0])
    assert mc_entropy(samples) == pytest.approx([1.0])  # the average is uniform


def test_bald_is_predictive_minus_expected_entropy_hand_computed():
    samples = np.array([[[0.9, 0.1]], [[0.5, 0.5]]])  # mean (0.7, 0.3)
    predictive = h2(0.7)
    expected = (h2(0.9) + h2(0.5)) / 2
    assert mc_entropy(samples) == pytest.approx([predictive], abs=1e-12)
    assert bald(samples) == pytest.approx([predictive - expected], abs=1e-12)
    assert 0.14 < bald(samples)[0] < 0.15  # 0.8813 - 0.7345


def test_disagreement_raises_bald_but_shared_doubt_does_not():
    agree_unsure = np.array([[[0.5, 0.5]]] * 4)
    disagree = np.array([[[0.95, 0.05]], [[0.05, 0.95]]] * 2)
    assert mc_entropy(agree_unsure)[0] == pytest.approx(mc_entropy(disagree)[0])  # both average to uniform
    assert bald(agree_unsure)[0] == pytest.approx(0.0, abs=1e-12)
    assert bald(disagree)[0] > 0.7


def test_scores_lie_in_zero_one_for_random_samples():
    rng = np.random.default_rng(7)
    samples = rng.dirichlet(np.full(9, 0.3), size=(10, 40))  # T = 10, 40 words, K = 9
    for measure in (bald, mc_entropy):
        u = measure(samples)
        assert u.shape == (40,) and np.all((u >= 0) & (u <= 1))
    np.testing.assert_allclose(bald(samples), mc_entropy(samples) - expected_entropy(samples), atol=1e-12)


def test_float32_samples_from_the_predictor_are_accepted():
    samples = np.array([[[1.0, 0.0]], [[0.0, 1.0]]], dtype=np.float32)
    assert bald(samples).dtype == np.float64 and bald(samples) == pytest.approx([1.0])


def test_an_empty_text_scores_no_words():
    for empty in (np.zeros((10, 0, 9)), np.array([])):
        for measure in (bald, mc_entropy):
            assert measure(empty).shape == (0,)


def test_one_tag_gives_zero():
    assert bald(np.ones((3, 2, 1))) == pytest.approx([0.0, 0.0])


@pytest.mark.parametrize("shape", [(4, 9), (2, 3, 4, 9), (0, 3, 9)])
def test_wrong_shapes_and_no_samples_are_named_errors(shape):
    with pytest.raises(InvalidProbabilitiesError):
        bald(np.full(shape, 1 / 9))


def test_a_nan_sample_counts_as_uniform_with_a_warning():
    samples = np.array([[[1.0, 0.0]], [[np.nan, np.nan]]])
    with pytest.warns(NonFiniteWarning):
        u = mc_entropy(samples)
    assert u == pytest.approx([h2(0.75)])  # mean of (1, 0) and uniform


def test_the_module_imports_nothing_heavy():
    code = "import sys, uncertainty.bayesian; print(sorted({'torch', 'transformers', 'flask'} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
