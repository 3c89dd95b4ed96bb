"""`span_confidence`: each predicted entity counts once, with the chance that its exact span is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from uncertainty import get_strategy

spans = get_strategy("span_confidence")
TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]


def word(**probs: float) -> list[float]:
    """One word's probabilities by tag name (B_PER for B-PER); the rest goes to O."""
    row = [0.0] * len(TAGS)
    for name, p in probs.items():
        row[TAGS.index(name.replace("_", "-"))] = p
    row[0] = 1.0 - sum(row)
    return row


def score(*words: list[float], reduction: str = "sum") -> float:
    return float(spans([np.array(words)], TAGS, reduction=reduction)[0])


def test_a_confident_model_scores_zero_with_and_without_entities() -> None:
    assert score(word(), word(B_PER=1.0), word(I_PER=1.0), word(), word(B_ORG=1.0)) == 0.0
    assert score(word(), word()) == 0.0


def test_an_entity_counts_once_whatever_its_length() -> None:
    one_word = score(word(B_PER=0.512, B_ORG=0.488), word())
    three_words = score(word(B_PER=0.8, B_ORG=0.2), word(I_PER=0.8, I_ORG=0.2), word(I_PER=0.8, I_ORG=0.2), word())
    assert three_words == pytest.approx(one_word) == pytest.approx(1 - 0.512)
    # per word, the three-word entity would count three times: least confidence sums 0.2 * 3 against 0.488
    least = get_strategy("least_confidence")
    long_entity = np.array([word(B_PER=0.8, B_ORG=0.2), word(I_PER=0.8, I_ORG=0.2), word(I_PER=0.8, I_ORG=0.2)])
    assert least([long_entity], TAGS, reduction="sum")[0] > least([np.array([word(B_PER=0.512, B_ORG=0.488)])], TAGS)[0]


def test_a_missed_entity_counts_where_it_would_start_not_on_every_word() -> None:
    # predicted O O; an entity may start at word 1 (0.3) and go on over word 2 (0.3): one entity, 0.3
    assert score(word(B_PER=0.3), word(I_PER=0.3)) == pytest.approx(0.3)
    # two unsure starts are two entities; the start mass of several labels adds up
    assert score(word(B_PER=0.3), word(), word(B_ORG=0.2)) == pytest.approx(0.5)
    assert score(word(B_PER=0.3, B_ORG=0.3)) == pytest.approx(0.6)


def test_a_span_that_may_go_on_is_less_certain() -> None:
    closed = score(word(B_PER=0.9), word())
    may_go_on = score(word(B_PER=0.9), word(I_PER=0.4))
    assert closed == pytest.approx(0.1)
    assert may_go_on == pytest.approx(1 - 0.9 * 0.6)
    # the last word of a text ends its entity: nothing after it to go on into
    assert score(word(), word(B_PER=0.9)) == pytest.approx(0.1)


def test_adjacent_entities_and_a_type_change_are_separate_spans() -> None:
    # B-PER B-PER: two entities; I-ORG after PER starts an ORG entity, as decoding repairs it
    assert score(word(B_PER=0.9), word(B_PER=0.8)) == pytest.approx(0.1 + 0.2)
    assert score(word(B_PER=0.9), word(I_ORG=0.7)) == pytest.approx((1 - 0.9 * (1 - 0.0)) + (1 - 0.7))
    # an I-X at a text's start (or after O) starts an entity too
    assert score(word(I_PER=0.6), word()) == pytest.approx(0.4)


def test_texts_are_scored_alone_whatever_their_neighbours() -> None:
    rng = np.random.default_rng(5)
    texts = [rng.dirichlet(np.full(len(TAGS), 0.3), size=n) for n in (7, 1, 0, 4, 12)]
    together = spans(texts, TAGS, reduction="sum")
    alone = [spans([t], TAGS, reduction="sum")[0] for t in texts]
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-12)
    # the first word of a text never continues the previous text's entity
    ends_in_per = np.array([word(B_PER=1.0)])
    starts_inside = np.array([word(I_PER=0.6)])
    assert spans([ends_in_per, starts_inside], TAGS, reduction="sum")[1] == pytest.approx(0.4)


def test_bounded_reductions_stay_in_range() -> None:
    rng = np.random.default_rng(6)
    texts = [rng.dirichlet(np.full(len(TAGS), 0.2), size=n) for n in (1, 3, 30)]
    for reduction in ("mean", "max", "top_k"):
        values = spans(texts, TAGS, reduction=reduction)
        assert np.all((values >= 0) & (values <= 1)), reduction
