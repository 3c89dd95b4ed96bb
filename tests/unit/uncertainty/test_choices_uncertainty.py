import numpy as np
import pytest

from uncertainty.choices import choice_uncertainty, choices_uncertainties, combined_confidences

CONFIDENT = np.array([0.97, 0.02, 0.01])
UNSURE = np.array([0.4, 0.35, 0.25])


@pytest.mark.parametrize("measure", ["margin", "entropy", "least_confidence"])
def test_a_confident_text_is_less_uncertain_than_an_unsure_one(measure):
    assert choice_uncertainty(CONFIDENT, False, measure) < 0.2 < 0.5 < choice_uncertainty(UNSURE, False, measure)


def test_the_measures_match_their_definitions():
    p = np.array([0.5, 0.3, 0.2])
    assert choice_uncertainty(p, False, "margin") == pytest.approx(1 - (0.5 - 0.3))
    assert choice_uncertainty(p, False, "least_confidence") == pytest.approx((1 - 0.5) * 3 / 2)
    entropy = -(p * np.log(p)).sum() / np.log(3)
    assert choice_uncertainty(p, False, "entropy") == pytest.approx(entropy)
    assert choice_uncertainty(np.ones(4) / 4, False, "entropy") == pytest.approx(1.0)


def test_multiple_choice_is_as_uncertain_as_its_least_sure_class():
    sure = np.array([0.99, 0.01, 0.98])
    one_in_doubt = np.array([0.99, 0.5, 0.98])
    assert choice_uncertainty(sure, True, "margin") == pytest.approx(1 - (0.98 - 0.02))  # the 0.98 class
    assert choice_uncertainty(one_in_doubt, True, "margin") == pytest.approx(1.0)


def test_several_controls_take_the_least_sure_and_an_empty_text_scores_zero():
    segments = [(0, 3, False), (3, 5, True)]
    sure = np.concatenate([CONFIDENT, [0.99, 0.01]])
    second_unsure = np.concatenate([CONFIDENT, [0.99, 0.45]])
    u = choices_uncertainties([sure, second_unsure, np.zeros(0)], segments, "margin")
    assert u[0] < 0.1 and u[1] == pytest.approx(choice_uncertainty(np.array([0.99, 0.45]), True, "margin"))
    assert u[2] == 0.0


def test_the_default_ranks_single_choices_by_least_confidence_not_by_margin():
    """Two classes tied at the top (margin's most uncertain) against a flatter row whose top class is weaker (least
    confidence's most uncertain): the shipped default, chosen on TREC-6's dev split, asks for the flatter one."""
    segments = [(0, 3, False)]
    tied, flat = np.array([0.5, 0.5, 0.0]), np.array([0.4, 0.3, 0.3])
    by_margin = choices_uncertainties([tied, flat], segments, "margin")
    assert by_margin[0] > by_margin[1]
    default = choices_uncertainties([tied, flat], segments, "boundary_entropy")
    assert default[1] > default[0] and default[1] == pytest.approx((1 - 0.4) * 3 / 2)
    # A multiple-choice class is one yes/no decision: there the two measures are the same number.
    multiple = [(0, 3, True)]
    for row in (tied, flat, CONFIDENT):
        assert choices_uncertainties([row], multiple, "boundary_entropy") == pytest.approx(
            choices_uncertainties([row], multiple, "margin")
        )


def test_span_strategy_names_map_to_a_class_measure_and_random_is_keyed():
    segments = [(0, 3, False)]
    default = choices_uncertainties([UNSURE], segments, "boundary_entropy")
    assert default == pytest.approx(choices_uncertainties([UNSURE], segments, "least_confidence"))
    a = choices_uncertainties([UNSURE, CONFIDENT], segments, "random", keys=["x", "y"])
    b = choices_uncertainties([CONFIDENT], segments, "random", keys=["y"])
    assert a[1] == b[0] and 0 <= a[0] < 1


def test_probabilities_out_of_range_are_refused():
    from uncertainty.errors import InvalidProbabilitiesError

    with pytest.raises(InvalidProbabilitiesError):
        choice_uncertainty(np.array([1.5, -0.5]), False)


def test_a_combined_task_is_as_sure_as_its_least_sure_trained_part():
    spans, choices = np.array([0.9, 0.2, 0.6]), np.array([0.3, 0.8, 0.6])
    assert combined_confidences([(spans, True), (choices, True)]) == pytest.approx([0.3, 0.2, 0.6])
    # An untrained part (a fresh, near-uniform head) does not hide the trained part's order...
    assert combined_confidences([(spans, True), (choices, False)]) == pytest.approx(spans)
    # ...and while no part is trained, every part still orders the tasks.
    assert combined_confidences([(spans, False), (choices, False)]) == pytest.approx([0.3, 0.2, 0.6])
    assert combined_confidences([(choices, True)]) == pytest.approx(choices)
