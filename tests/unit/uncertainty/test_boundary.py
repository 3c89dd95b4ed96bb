from __future__ import annotations

import numpy as np
import pytest

from uncertainty import get_strategy
from uncertainty.boundary import BOUNDARY_WEIGHT, boundary_flat, flat_weights
from uncertainty.errors import InvalidParameterError, InvalidProbabilitiesError, InvalidTagsError
from uncertainty.tags import entity_columns

TAGS3 = ["O", "B-PER", "I-PER"]
TAGS5 = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]

O, B, I = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]
HALF = [0.5, 0.5, 0.0]
H = np.log(2) / np.log(3)  # normalised entropy of HALF with K = 3


def boundary_probability(probs: np.ndarray, tags: list[str]) -> np.ndarray:
    """b_i of one text."""
    return boundary_flat(probs, np.arange(len(probs)) == len(probs) - 1, tags)


def boundary_weights(probs: np.ndarray, tags: list[str], boundary_weight: float = BOUNDARY_WEIGHT) -> np.ndarray:
    """w_i of one text."""
    return flat_weights(probs, np.arange(len(probs)) == len(probs) - 1, tags, boundary_weight)


def test_entity_columns_parse_names_with_the_bio_reader() -> None:
    cols = entity_columns(["O", "B-PER", "I-PER", "I-LOC", "MISC"])
    assert cols.labels == ("LOC", "MISC", "PER")
    # LOC has no begin column -> the appended zero column (5); a bare label begins a span
    np.testing.assert_array_equal(cols.begin, [[5], [4], [1]])
    np.testing.assert_array_equal(cols.inside, [[3], [5], [2]])
    with pytest.raises(InvalidTagsError):
        entity_columns(["O", "B-PER", "B-PER"])


def test_entity_columns_project_bioes_onto_bio() -> None:
    cols = entity_columns(["O", "B-PER", "I-PER", "E-PER", "S-PER"])
    assert cols.labels == ("PER",)
    np.testing.assert_array_equal(cols.begin, [[1, 4]])
    np.testing.assert_array_equal(cols.inside, [[2, 3]])
    # a BIOES text reads like the BIO text that adds S- into B- and E- into I-
    bioes = np.array([[0.1, 0.5, 0.0, 0.0, 0.4], [0.2, 0.0, 0.3, 0.5, 0.0]])
    bio = np.array([[0.1, 0.9, 0.0], [0.2, 0.0, 0.8]])
    np.testing.assert_allclose(
        boundary_probability(bioes, ["O", "B-PER", "I-PER", "E-PER", "S-PER"]), boundary_probability(bio, TAGS3)
    )


def test_confident_sequences() -> None:
    # O B-PER I-PER O: O before an entity changes tag, B starts, I ends, the final O is interior
    np.testing.assert_array_equal(boundary_probability(np.array([O, B, I, O]), TAGS3), [1, 1, 1, 0])
    np.testing.assert_array_equal(boundary_probability(np.array([O, O, O]), TAGS3), [0, 0, 0])
    # the last word ends any entity it is in
    np.testing.assert_array_equal(boundary_probability(np.array([B, I]), TAGS3), [1, 1])


def test_hand_computed_uncertain_pair() -> None:
    # word 0 = O: s=0, e=0, c = 1 - 1*0.5 = 0.5        -> b = 0.5
    # word 1 (last) = HALF: s=0.5, e=0.5*(1-0) = 0.5, c=0 -> b = 1 - 0.5*0.5 = 0.75
    probs = np.array([O, HALF])
    np.testing.assert_allclose(boundary_probability(probs, TAGS3), [0.5, 0.75], atol=1e-15)
    np.testing.assert_allclose(boundary_weights(probs, TAGS3), [1.5, 1.75], atol=1e-15)
    np.testing.assert_allclose(boundary_weights(probs, TAGS3, 3.0), [2.0, 2.5], atol=1e-15)


def test_hand_computed_two_labels_with_next_inside() -> None:
    probs = np.array([[0.2, 0.6, 0.0, 0.2, 0.0], [0.1, 0.0, 0.6, 0.0, 0.3]])
    # word 0: s = 0.6 + 0.2 = 0.8
    #         e = 0.6 * (1 - 0.6) + 0.2 * (1 - 0.3) = 0.24 + 0.14 = 0.38
    #         c = 1 - 0.2 * 0.1 = 0.98
    #         b = 1 - 0.2 * 0.62 * 0.02 = 0.99752
    # word 1: s = 0, e = 0.6 + 0.3 = 0.9 (last word), c = 0 -> b = 0.9
    np.testing.assert_allclose(boundary_probability(probs, TAGS5), [0.99752, 0.9], atol=1e-12)
    np.testing.assert_allclose(boundary_weights(probs, TAGS5, 2.0), [1.99752, 1.9], atol=1e-12)


def test_weight_one_turns_weighting_off_exactly() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=7)
    np.testing.assert_array_equal(boundary_weights(probs, TAGS5, 1.0), np.ones(7))
    texts = [rng.dirichlet(np.ones(5), size=n) for n in (0, 1, 4, 9)]
    np.testing.assert_array_equal(
        get_strategy("boundary_entropy")(texts, TAGS5, boundary_weight=1.0, reduction="mean"),
        get_strategy("entropy")(texts, TAGS5, reduction="mean"),
    )


def test_weighting_changes_ranking_as_the_docstring_predicts() -> None:
    # A: uncertainty next to confident interior O words (weight 1).
    # B: the same uncertain word after confident one-word entities (weight 2 each).
    text_a = np.array([O, O, O, O, HALF])
    text_b = np.array([B, B, B, HALF])
    np.testing.assert_allclose(boundary_weights(text_a, TAGS3), [1, 1, 1, 1.5, 1.75], atol=1e-15)
    np.testing.assert_allclose(boundary_weights(text_b, TAGS3), [2, 2, 2, 1.75], atol=1e-15)
    strategy = get_strategy("boundary_entropy")
    unweighted = strategy([text_a, text_b], TAGS3, boundary_weight=1.0, reduction="mean")
    weighted = strategy([text_a, text_b], TAGS3, boundary_weight=2.0, reduction="mean")
    np.testing.assert_allclose(unweighted, [H / 5, H / 4], atol=1e-15)
    np.testing.assert_allclose(weighted, [1.75 * H / 6.25, 1.75 * H / 7.75], atol=1e-15)
    assert unweighted[0] < unweighted[1]
    assert weighted[0] > weighted[1]


def test_bad_inputs_are_named_errors() -> None:
    with pytest.raises(InvalidProbabilitiesError):
        get_strategy("boundary_entropy")([np.ones((2, 4)) / 4], TAGS3)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InvalidParameterError):
            boundary_weights(np.array([O]), TAGS3, bad)
    assert boundary_weights(np.zeros((0, 3)), TAGS3).shape == (0,)
