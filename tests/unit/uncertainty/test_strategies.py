from __future__ import annotations

import math

import numpy as np
import pytest

from settings import Settings
from uncertainty import STRATEGIES, get_strategy
from uncertainty.errors import InvalidProbabilitiesError, NonFiniteWarning, UnknownStrategyError
from uncertainty.strategies import DEFAULT_STRATEGY

TAGS3 = ["O", "B-PER", "I-PER"]
NAMES = [
    "bald",
    "boundary_entropy",
    "entropy",
    "least_confidence",
    "margin",
    "mc_entropy",
    "mnlp",
    "random",
    "span_confidence",
]


def test_registry_names_and_default() -> None:
    assert sorted(STRATEGIES) == sorted(NAMES)
    assert DEFAULT_STRATEGY == "boundary_entropy"
    assert get_strategy() is STRATEGIES["boundary_entropy"]


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(UnknownStrategyError) as info:
        get_strategy("vibes")
    for name in NAMES:
        assert name in str(info.value)
    assert info.value.valid == sorted(NAMES)


def test_hand_computed_scores() -> None:
    texts = [np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]), np.array([[0.7, 0.3, 0.0]]), np.zeros((0, 3))]
    h2 = math.log(2) / math.log(3)
    h73 = -(0.7 * math.log(0.7) + 0.3 * math.log(0.3)) / math.log(3)
    expected = {
        # weights [1.5, 1.75] (see test_boundary); a one-word text is its word's score whatever the weight
        "boundary_entropy": [1.75 * h2 / 3.25, h73, 0.0],
        "entropy": [h2 / 2, h73, 0.0],
        "least_confidence": [(0 + 0.5 * 1.5) / 2, 0.3 * 1.5, 0.0],
        "margin": [(0 + 1.0) / 2, 1 - 0.4, 0.0],
        "mnlp": [1 - math.sqrt(0.5), 0.3, 0.0],
        "span_confidence": [(0 + 0.5) / 2, 0.3, 0.0],  # no span predicted (ties go to O): P(one starts) per word
    }
    for name, values in expected.items():
        np.testing.assert_allclose(get_strategy(name)(texts, TAGS3, reduction="mean"), values, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("name", NAMES)
def test_range_empty_pool_and_per_text_equality(name: str, pool) -> None:
    texts, _ = pool
    strategy = get_strategy(name)
    if strategy.needs_samples:  # MC samples: the text's probabilities and a shifted copy
        texts = [np.stack([t, np.roll(t, 1, axis=-1)]) for t in texts]
    scores = strategy(texts, ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"], reduction="mean")
    assert scores.shape == (len(texts),)
    assert np.all((scores >= 0) & (scores <= 1))
    assert np.all(scores[[len(t) == 0 for t in texts]] == 0.0)
    assert strategy([], ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]).shape == (0,)
    keys = [f"text {i}" for i in range(len(texts))]  # what `random` draws from; the others ignore them
    keyed = strategy(texts, ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"], reduction="mean", keys=keys)
    if name != "random":
        np.testing.assert_array_equal(keyed, scores)
    for index, text in enumerate(texts):
        alone = strategy([text], ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"], reduction="mean", keys=[keys[index]])
        assert alone[0] == keyed[index]


def test_random_is_seeded() -> None:
    texts = [np.full((2, 3), 1 / 3)] * 5
    first = get_strategy("random")(texts, TAGS3, seed=4)
    np.testing.assert_array_equal(first, get_strategy("random")(texts, TAGS3, seed=4))
    assert not np.array_equal(first, get_strategy("random")(texts, TAGS3, seed=5))


def test_keyed_random_scores_a_text_by_its_key_and_seed_whatever_the_pool() -> None:
    random = get_strategy("random")
    texts = [np.full((2, 3), 1 / 3)] * 3
    pool = random(texts, TAGS3, seed=4, keys=["a", "b", "c"])
    assert len(set(pool)) == 3 and np.all((pool >= 0) & (pool < 1))
    assert random(texts[:1], TAGS3, seed=4, keys=["b"])[0] == pool[1]
    assert random(texts[:1], TAGS3, seed=5, keys=["b"])[0] != pool[1]
    assert random(texts[:1], TAGS3, seed=4, keys=[b"b"])[0] == pool[1]  # bytes keys: the same draw as the str


def test_sum_reduction_ranks_but_is_not_bounded() -> None:
    texts = [np.full((4, 3), 1 / 3), np.full((1, 3), 1 / 3)]
    np.testing.assert_allclose(get_strategy("entropy")(texts, TAGS3, reduction="sum"), [4.0, 1.0])
    np.testing.assert_allclose(get_strategy("entropy")(texts, TAGS3, reduction="max"), [1.0, 1.0])


def test_nan_text_is_warned_and_ranked_first() -> None:
    texts = [np.array([[0.9, 0.1, 0.0]]), np.array([[np.nan, 0.5, 0.5]])]
    with pytest.warns(NonFiniteWarning):
        scores = get_strategy("entropy")(texts, TAGS3, reduction="mean")
    assert scores[1] == pytest.approx(1.0)
    assert np.argmax(scores) == 1


def test_width_mismatch_is_named_error() -> None:
    with pytest.raises(InvalidProbabilitiesError):
        get_strategy("entropy")([np.full((2, 4), 0.25)], TAGS3)


def test_bayesian_strategies_read_mc_samples_and_predict_uses_their_one_pass_stand_in() -> None:
    from uncertainty import Ranking

    agree = np.stack([np.array([[0.6, 0.4, 0.0]])] * 4)  # four identical draws: no disagreement
    disagree = np.stack([np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 1.0, 0.0]])] * 2)
    scores = get_strategy("bald")([agree, disagree, np.zeros((4, 0, 3))], TAGS3, reduction="sum")
    assert scores[0] == pytest.approx(0.0, abs=1e-12) and scores[1] == pytest.approx(math.log(2) / math.log(3))
    assert scores[2] == 0.0
    assert (
        get_strategy("mc_entropy")([agree], TAGS3, reduction="mean")[0] > 0.5
    )  # doubt shared by every draw still counts
    ranking = Ranking("bald", "sum")
    assert ranking.needs_samples and ranking.single_pass() == Ranking("entropy", "sum")
    assert Ranking("entropy").single_pass() == Ranking("entropy")
    assert Ranking().reduction == "sum" == Settings.from_env({}).uncertainty_reduction  # one default reduction
    with pytest.raises(InvalidProbabilitiesError):
        get_strategy("bald")([np.array([[0.5, 0.5, 0.0]])], TAGS3)  # probabilities where samples are needed
