"""The parity figures and the choice of the served precision: exact, hand-checked numbers."""

from __future__ import annotations

import pytest

from modeling.parity import ParityBounds, choice_agreement, choose_precision, parity_verdict, span_agreement
from text.spans.span import Span

BOUNDS = ParityBounds(max_f1_drop=0.005, min_agreement=0.98)


def figures(**changes) -> dict:
    return {"precision": "int8", "examples": 40, "f1_drop": 0.001, "span_agreement": 0.995, **changes}


def test_span_agreement_is_the_jaccard_overlap_of_exact_spans_per_text_ignoring_scores():
    a = [[Span(0, 5, "PER", 0.9), Span(10, 15, "LOC", 0.8)], [Span(0, 3, "ORG", 0.7)]]
    same_but_scores = [[Span(0, 5, "PER", 0.1), Span(10, 15, "LOC", 0.2)], [Span(0, 3, "ORG", 0.3)]]
    assert span_agreement(a, same_but_scores) == 1.0
    # One label changed, one boundary moved: 1 shared of 5 distinct (text, start, end, label).
    b = [[Span(0, 5, "PER", 0.9), Span(10, 15, "ORG", 0.8)], [Span(0, 4, "ORG", 0.7)]]
    assert span_agreement(a, b) == pytest.approx(1 / 5)
    # The same span in another text is not the same span.
    assert span_agreement([[Span(0, 3, "ORG", 1)], []], [[], [Span(0, 3, "ORG", 1)]]) == 0.0
    assert span_agreement([[], []], [[], []]) == 1.0
    with pytest.raises(ValueError):
        span_agreement([[]], [[], []])


def test_choice_agreement_is_the_jaccard_overlap_of_chosen_classes_per_text_and_control():
    # Two texts, two controls (a single choice, then a multiple choice).
    a = [[[0], [3, 4]], [[1], []]]
    assert choice_agreement(a, [[[0], [3, 4]], [[1], []]]) == 1.0
    # The first text's multiple choice lost class 4, the second text's single choice moved: 2 shared of 5 distinct.
    assert choice_agreement(a, [[[0], [3]], [[2], []]]) == pytest.approx(2 / 5)
    # The same class under another control, or in another text, is not the same choice.
    assert choice_agreement([[[0], []]], [[[], [0]]]) == 0.0
    assert choice_agreement([[[0]], [[]]], [[[]], [[0]]]) == 0.0
    assert choice_agreement([[[]], [[]]], [[[]], [[]]]) == 1.0
    with pytest.raises(ValueError):
        choice_agreement([[[0]]], [[[0]], [[0]]])


def test_a_classifiers_verdict_reads_its_choice_agreement_and_names_macro_f1():
    choices = {"precision": "bf16", "examples": 12, "f1_drop": 0.0, "choice_agreement": 1.0}
    passed, why = parity_verdict(choices, BOUNDS)
    assert passed and "macro-F1" in why and "choice agreement" in why
    passed, why = parity_verdict({**choices, "f1_drop": 0.02}, BOUNDS)
    assert not passed and "loses 0.0200 macro-F1" in why
    passed, why = parity_verdict({**choices, "choice_agreement": 0.9}, BOUNDS)
    assert not passed and "agrees on 0.9000 of fp32's choices" in why
    assert choose_precision("bf16", False, choices, BOUNDS)[0] == "bf16"


def test_parity_verdict_fails_on_either_bound_and_without_held_out_texts():
    assert parity_verdict(figures(), BOUNDS)[0]
    assert parity_verdict(figures(f1_drop=0.005), BOUNDS)[0]  # the bound itself passes
    passed, why = parity_verdict(figures(f1_drop=0.0051), BOUNDS)
    assert not passed and "F1" in why and "0.0051" in why
    passed, why = parity_verdict(figures(span_agreement=0.97), BOUNDS)
    assert not passed and "agrees on 0.9700" in why
    assert parity_verdict(figures(f1_drop=-0.01), BOUNDS)[0]  # better than fp32 is no failure
    assert not parity_verdict(figures(examples=0), BOUNDS)[0]


def test_a_version_is_served_reduced_only_with_passing_figures_for_that_precision():
    assert choose_precision("int8", False, figures(), BOUNDS)[0] == "int8"
    assert choose_precision("int8", False, figures(f1_drop=0.02), BOUNDS)[0] == "fp32"
    assert choose_precision("int8", False, figures(passed=True, f1_drop=0.02), BOUNDS)[0] == "fp32"  # today's bounds
    assert choose_precision("bf16", False, figures(), BOUNDS) == (
        "fp32",
        "parity was measured for int8, not bf16: fp32",
    )
    precision, why = choose_precision("int8", False, None, BOUNDS)
    assert precision == "fp32" and "no parity figures" in why
    assert choose_precision("fp32", False, figures(), BOUNDS)[0] == "fp32"


def test_force_serves_the_setting_without_figures_or_despite_failing_ones():
    assert choose_precision("int8", True, None, BOUNDS)[0] == "int8"
    assert choose_precision("bf16", True, figures(f1_drop=0.5), BOUNDS)[0] == "bf16"
    assert choose_precision("fp32", True, None, BOUNDS)[0] == "fp32"
