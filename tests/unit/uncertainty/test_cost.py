"""The annotation-cost model of cost-aware selection, c(x) = a + b * words(x), and the benchmark's annotation-time
model, per text + per token + per entity: both fitted from Label Studio lead times."""

from __future__ import annotations

import numpy as np
import pytest

from uncertainty import TOKEN_COUNT, Ranking, fit_annotation_time, fit_cost
from uncertainty.cost import MIN_TIMED, cost_adjusted
from uncertainty.errors import InvalidParameterError


def test_too_few_timed_annotations_fall_back_to_token_counts():
    assert fit_cost([10] * (MIN_TIMED - 1), [30.0] * (MIN_TIMED - 1)) is TOKEN_COUNT
    # null, zero and non-finite lead times (SDK-made or converted annotations) are not observations
    words = [10] * MIN_TIMED
    assert fit_cost(words, [0.0] + [30.0] * (MIN_TIMED - 1)) is TOKEN_COUNT
    assert fit_cost(words, [np.nan] + [30.0] * (MIN_TIMED - 1)) is TOKEN_COUNT
    assert TOKEN_COUNT(np.array([4, 10])).tolist() == [4.0, 10.0]


def test_fit_recovers_a_fixed_cost_plus_a_cost_per_word():
    rng = np.random.default_rng(0)
    words = rng.integers(3, 60, size=200)
    seconds = 8.0 + 1.5 * words + rng.normal(0, 1.0, size=200)
    model = fit_cost(words, seconds)
    assert model.a == pytest.approx(8.0, abs=0.6) and model.b == pytest.approx(1.5, abs=0.05)
    assert model.observations == 200 and model.source.startswith("lead times")


def test_an_annotator_who_left_the_tab_open_does_not_skew_the_fit():
    words = np.arange(1, 41)
    seconds = 5.0 + 2.0 * words
    spoiled = seconds.copy()
    spoiled[3] = 36_000.0  # ten hours
    clean, robust = fit_cost(words, seconds), fit_cost(words, spoiled)
    assert robust.b == pytest.approx(clean.b, rel=0.5) and robust.a >= 0


def test_coefficients_are_never_negative():
    words = np.arange(1, 41)
    assert fit_cost(words, 100.0 - words).b >= 0  # longer texts faster: b held at 0, a constant cost
    assert fit_cost(words, 3.0 * words - 20).a >= 0  # negative intercept: a line through the origin


def test_cost_aware_ranking_divides_uncertainty_by_cost_and_scores_stay_ordered():
    model = fit_cost(np.arange(1, 41), 10.0 + np.arange(1, 41))
    u = np.array([2.0, 2.0, 0.0])
    words = np.array([5, 40, 0])
    values = cost_adjusted(u, words, model)
    assert values[0] > values[1] and values[2] == 0.0
    ranking = Ranking("entropy", "sum", cost=model)
    confidences = ranking.confidences(values)
    assert not ranking.bounded and list(np.argsort(confidences)) == list(np.argsort(-values))


def test_annotation_time_fit_recovers_seconds_per_text_token_and_entity_despite_a_tab_left_open():
    rng = np.random.default_rng(1)
    tokens = rng.integers(3, 50, size=300)
    entities = rng.integers(0, 6, size=300)
    seconds = 6.0 + 0.4 * tokens + 3.0 * entities + rng.normal(0, 0.5, size=300)
    seconds[7] = 36_000.0  # ten hours in one task
    model = fit_annotation_time(tokens, entities, seconds)
    assert model.per_text == pytest.approx(6.0, abs=0.5)
    assert model.per_token == pytest.approx(0.4, abs=0.03)
    assert model.per_entity == pytest.approx(3.0, abs=0.2)
    assert model.observations == 300
    # linear: a whole labelled set is priced as the sum of its texts
    assert float(model(3, 30, 4)) == pytest.approx(3 * model.per_text + 30 * model.per_token + 4 * model.per_entity)


def test_annotation_time_fit_needs_enough_timed_texts_and_keeps_coefficients_non_negative():
    assert fit_annotation_time([10] * (MIN_TIMED - 1), [1] * (MIN_TIMED - 1), [30.0] * (MIN_TIMED - 1)) is None
    tokens = np.arange(1, 41)
    faster_with_entities = 20.0 + tokens - 2.0 * (tokens % 3)
    model = fit_annotation_time(tokens, tokens % 3, faster_with_entities)
    assert min(model.per_text, model.per_token, model.per_entity) >= 0 and model.per_entity == 0
    with pytest.raises(InvalidParameterError, match="2 token counts, 3 entity counts"):
        fit_annotation_time([1, 2], [0, 0, 1], [3.0, 4.0])
