"""The stop rule on synthetic learning curves (uncertainty/stopping.py)."""

from __future__ import annotations

import numpy as np
import pytest

from uncertainty.errors import InvalidParameterError
from uncertainty.stopping import (
    CURVE_FLAT,
    PREDICTIONS_STABLE,
    STILL_LEARNING,
    TOO_FEW,
    StopRule,
    fit_learning_curve,
    recent_slope,
)

POOL = 4000
BUDGETS = [50, 100, 200, 400, 800, 1200, 1600, 2000, 2400, 2800, 3200, 3600, 4000]


def ipl(a: float, b: float, c: float):
    return lambda n: a - b * np.power(float(n), -c)


def replay(f1s, budgets=BUDGETS, agreement=None, rule=None, pool_size=POOL):
    """Verdicts after each version, fed only the points up to it (as the service sees them)."""
    rule = rule or StopRule()
    verdicts = []
    for m in range(1, len(f1s) + 1):
        agree = list(zip(budgets[:m], agreement[:m])) if agreement is not None else []
        verdicts.append(rule.judge(list(zip(budgets[:m], f1s[:m])), agree, pool_size=pool_size))
    return verdicts


def first_stop(verdicts):
    return next((k for k, v in enumerate(verdicts) if v.stop), None)


def test_saturating_curve_fires_after_the_plateau_and_not_before():
    # rises to 800, then flat at 0.85 (an exponential saturation the power law can only approximate)
    f = lambda n: 0.85 * (1 - np.exp(-n / 250.0))
    f1s = [f(n) for n in BUDGETS]
    verdicts = replay(f1s)
    k = first_stop(verdicts)
    assert k is not None
    assert BUDGETS[k] >= 1200  # not while still rising
    assert f1s[-1] - f1s[k] < 0.02
    assert all(not v.stop for v in verdicts[:k])
    assert verdicts[k].reason in (CURVE_FLAT, PREDICTIONS_STABLE)


def test_still_rising_linear_curve_never_fires():
    f1s = [0.3 + 0.5 * n / POOL for n in BUDGETS]
    verdicts = replay(f1s, agreement=[0.995] * len(BUDGETS), pool_size=None)
    assert not any(v.stop for v in verdicts)
    assert verdicts[-1].reason == STILL_LEARNING


def test_noisy_plateau_fires_near_the_reference():
    truth = ipl(0.86, 3.0, 0.6)
    reference = truth(POOL)
    fired_gaps = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        f1s = [truth(n) + rng.normal(0, 0.008) for n in BUDGETS]
        k = first_stop(replay(f1s))
        assert k is not None, f"seed {seed}: never fired"
        fired_gaps.append(reference - truth(BUDGETS[k]))
    assert max(fired_gaps) < 0.02


def test_one_outlier_does_not_move_the_fit_much():
    truth = ipl(0.85, 3.0, 0.6)
    points = [(n, truth(n)) for n in BUDGETS[:8]]
    points[5] = (points[5][0], points[5][1] - 0.08)  # one bad version
    fit = fit_learning_curve(points)
    assert abs(fit.a - 0.85) < 0.02
    assert abs(fit(POOL) - truth(POOL)) < 0.01


def test_too_few_points_says_how_many_more_versions():
    verdict = StopRule().judge([(50, 0.5), (100, 0.6)], [(100, 1.0)])
    assert not verdict.stop and verdict.reason == TOO_FEW
    assert verdict.versions_needed == 2
    assert "needs 2 more model versions" in verdict.sentence
    assert StopRule().judge([]).versions_needed == 4
    assert "1 more model version to judge" in StopRule().judge([(1, 0.1), (2, 0.2), (3, 0.3)]).sentence


def test_high_agreement_while_the_curve_still_rises_does_not_stop():
    f = ipl(0.95, 2.0, 0.3)  # far from its asymptote (no pool size: any number of further labels counts)
    f1s = [f(n) for n in BUDGETS]
    verdicts = replay(f1s, agreement=[1.0] * len(BUDGETS), pool_size=None)
    assert not any(v.stop for v in verdicts)
    assert all(v.stable_versions >= 3 for v in verdicts[3:])
    # with the pool: no stop while the rest of the pool still adds 2 points or more
    for budget, verdict in zip(BUDGETS, replay(f1s, agreement=[1.0] * len(BUDGETS))):
        if f(POOL) - f(budget) >= 0.02:
            assert not verdict.stop, budget


def test_stable_predictions_stop_with_a_looser_curve_bound_than_the_curve_alone():
    f = lambda n: 0.85 * (1 - np.exp(-n / 250.0))
    f1s = [f(n) for n in BUDGETS]
    stable = first_stop(replay(f1s, agreement=[0.995] * len(BUDGETS)))
    flat = first_stop(replay(f1s, agreement=[0.5] * len(BUDGETS)))
    assert stable is not None and flat is not None and stable <= flat
    verdict = replay(f1s, agreement=[0.995] * len(BUDGETS))[stable]
    if stable < flat:
        assert verdict.reason == PREDICTIONS_STABLE
        assert verdict.sentence.startswith("Predictions have stopped changing: further labels add little")


def test_agreement_below_threshold_in_the_window_breaks_the_run():
    rule = StopRule()
    curve = [(n, 0.8) for n in BUDGETS[:6]]
    verdict = rule.judge(curve, [(n, a) for n, a in zip(BUDGETS, [0.0, 0.995, 0.995, 0.98, 0.995, 0.995])])
    assert verdict.stable_versions == 2
    # agreement measured after the latest curve point is not used
    assert rule.judge(curve[:3] + [(400, 0.8)], [(n, 0.995) for n in BUDGETS]).stable_versions == 4


def test_sentence_numbers_for_a_known_power_law():
    truth = ipl(0.85, 3.0, 0.6)
    budgets = BUDGETS[:8]  # to 2000 of 4000
    verdict = StopRule().judge([(n, truth(n)) for n in budgets], pool_size=POOL)
    assert verdict.next_annotations == 2000
    assert verdict.next_gain == pytest.approx(truth(4000) - truth(2000), abs=0.002)
    assert verdict.remaining_gain == pytest.approx(truth(4000) - truth(2000), abs=0.002)
    assert verdict.remaining_bound >= verdict.remaining_gain
    assert verdict.fit["a"] == pytest.approx(0.85, abs=0.01)
    assert verdict.fit["c"] == pytest.approx(0.6, abs=0.05)
    x = round((truth(4000) - truth(2000)) * 100, 1)
    assert f"About 2000 more annotations would add about {x:.1f} F1 points" in verdict.sentence or (
        f"about {x - 0.1:.1f}" in verdict.sentence or f"about {x + 0.1:.1f}" in verdict.sentence
    )
    # without a pool size: the step doubles the labels and the remaining gain is what the curve has left
    open_ended = StopRule().judge([(n, truth(n)) for n in budgets])
    assert open_ended.next_annotations == 2000
    assert open_ended.remaining_gain == pytest.approx(0.85 - truth(2000), abs=0.005)


def test_the_step_is_capped_at_the_rest_of_the_pool():
    truth = ipl(0.85, 3.0, 0.6)
    verdict = StopRule().judge([(n, truth(n)) for n in BUDGETS[:11]], pool_size=POOL)
    assert verdict.next_annotations == 800
    done = StopRule().judge([(n, truth(n)) for n in BUDGETS], pool_size=POOL)
    assert done.next_annotations == 0 and done.remaining_gain == 0.0


def test_recent_slope_is_the_median_of_pairwise_slopes():
    assert recent_slope([(100, 0.5), (200, 0.6), (300, 0.6), (400, 0.7)], window=3) == pytest.approx(0.0005)
    assert recent_slope([(100, 0.5)]) is None


def test_fit_needs_three_points_and_keeps_its_constraints():
    assert fit_learning_curve([(10, 0.1), (20, 0.2)]) is None
    falling = fit_learning_curve([(100, 0.8), (200, 0.75), (400, 0.7), (800, 0.65)])
    assert falling.b == 0.0  # a non-decreasing curve: flat at the mean
    steep = fit_learning_curve([(100, 0.5), (200, 0.7), (400, 0.9), (800, 1.0)])
    assert steep.a <= 1.0
    # non-finite points and points at zero annotations are ignored; the last of duplicates wins
    fit = fit_learning_curve([(0, 0.0), (100, float("nan")), (100, 0.5), (200, 0.6), (400, 0.7), (400, 0.65)])
    assert fit.points == 3


def test_verdict_is_serialisable():
    verdict = StopRule().judge([(n, 0.8 - 1 / n) for n in BUDGETS[:5]], [(100, 0.9)], pool_size=POOL)
    d = verdict.as_dict()
    assert d["stop"] is True and d["reason"] == CURVE_FLAT and d["parameters"]["agreement_threshold"] == 0.99
    assert "The learning curve has flattened" in d["sentence"]
    assert set(d["fit"]) >= {"a", "b", "c", "c_range"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_versions": 2},
        {"window": 1},
        {"agreement_threshold": 0.0},
        {"agreement_threshold": 1.5},
        {"max_gain_flat": 0},
        {"step": 0},
    ],
)
def test_invalid_parameters(kwargs):
    with pytest.raises(InvalidParameterError):
        StopRule(**kwargs)


def test_malformed_points():
    with pytest.raises(InvalidParameterError):
        StopRule().judge([(1, 2, 3)])
