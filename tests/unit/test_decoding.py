import numpy as np
import pytest

from text.spans.decoding import decode_probs, decode_spans, drop_overlapping
from text.spans.span import Span

TEXT = "Alice Bob met Carol Dee in Paris"
WORDS = [(0, 5), (6, 9), (10, 13), (14, 19), (20, 23), (24, 26), (27, 32)]


def spans(tags, scores=None, label_map=None):
    return decode_spans(WORDS, tags, scores or [1.0] * len(tags), label_map)


def test_b_always_starts_a_new_span_so_adjacent_same_type_entities_stay_apart():
    got = spans(["B-PER", "B-PER", "O", "B-PER", "I-PER", "O", "B-LOC"])
    assert [(TEXT[s.start : s.end], s.label) for s in got] == [
        ("Alice", "PER"),
        ("Bob", "PER"),
        ("Carol Dee", "PER"),
        ("Paris", "LOC"),
    ]


def test_stray_i_starts_a_span():
    got = spans(["I-PER", "I-PER", "O", "O", "I-LOC", "O", "O"])
    assert [(TEXT[s.start : s.end], s.label) for s in got] == [("Alice Bob", "PER"), ("Dee", "LOC")]


def test_type_change_inside_i_run_splits():
    got = spans(["B-PER", "I-LOC", "O", "O", "O", "O", "O"])
    assert [(s.start, s.end, s.label) for s in got] == [(0, 5, "PER"), (6, 9, "LOC")]


def test_span_score_is_mean_of_word_scores():
    got = spans(["B-PER", "I-PER", "O", "O", "O", "O", "O"], [0.9, 0.5, 1, 1, 1, 1, 1])
    assert got == [Span(0, 9, "PER", 0.7)]


def test_label_map_renames_and_drops_unmapped_labels():
    got = spans(["B-PER", "O", "O", "B-ORG", "O", "O", "B-LOC"], label_map={"PER": "Person", "LOC": "Place"})
    assert [(s.label, s.start) for s in got] == [("Person", 0), ("Place", 27)]


def test_entity_at_end_of_text_is_closed():
    assert spans(["O"] * 6 + ["I-LOC"]) == [Span(27, 32, "LOC", 1.0)]


def test_drop_overlapping_keeps_spans_clear_of_drawn_regions():
    candidates = [Span(0, 5, "PER", 1), Span(6, 9, "PER", 1), Span(27, 32, "LOC", 1)]
    assert drop_overlapping(candidates, [(4, 7)]) == [Span(27, 32, "LOC", 1)]
    assert drop_overlapping(candidates, [(5, 6)]) == candidates


PROB_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def one_hot_rows(*rows):
    """Per-word probabilities from (tag, p) pairs: p on that tag, the rest spread evenly."""
    out = np.zeros((len(rows), len(PROB_TAGS)))
    for i, (tag, p) in enumerate(rows):
        out[i] = (1 - p) / (len(PROB_TAGS) - 1)
        out[i, PROB_TAGS.index(tag)] = p
    return out


def test_decode_probs_serves_the_viterbi_path_not_a_stray_i():
    probs = one_hot_rows(("O", 0.9), ("I-PER", 0.6), ("I-PER", 0.8), ("O", 0.9), ("O", 0.9), ("O", 0.9), ("B-LOC", 0.7))
    probs[1, PROB_TAGS.index("B-PER")] = 0.3  # the runner-up: argmax says I-PER after O
    probs[1] /= probs[1].sum()
    got = decode_probs(WORDS, probs, PROB_TAGS)
    assert [(TEXT[s.start : s.end], s.label) for s in got] == [("Bob met", "PER"), ("Paris", "LOC")]
    assert got[0].score == pytest.approx((probs[1, 1] + probs[2, 2]) / 2)  # each word scores its chosen tag
    assert got[1].score == pytest.approx(0.7)


def test_decode_probs_applies_the_label_map_and_handles_empty_texts():
    probs = one_hot_rows(("B-PER", 0.9), ("O", 0.9), ("O", 0.9), ("O", 0.9), ("O", 0.9), ("O", 0.9), ("B-LOC", 0.9))
    assert [s.label for s in decode_probs(WORDS, probs, PROB_TAGS, {"LOC": "Place"})] == ["Place"]
    assert decode_probs([], np.zeros((0, len(PROB_TAGS))), PROB_TAGS) == []


def test_decode_probs_refuses_words_and_rows_that_differ_in_number():
    with pytest.raises(ValueError):
        decode_probs(WORDS[:2], one_hot_rows(("O", 0.9)), PROB_TAGS)


def test_decode_probs_scores_a_non_finite_word_as_uniform_not_nan():
    probs = one_hot_rows(("B-PER", 0.9), ("I-PER", 0.9), ("I-PER", 0.9), ("O", 0.9), ("O", 0.9), ("O", 0.9), ("O", 0.9))
    probs[1] = np.nan
    got = decode_probs(WORDS, probs, PROB_TAGS)
    assert all(np.isfinite(s.score) for s in got)
    assert sum(s.score * len(TEXT[s.start : s.end].split()) for s in got) == pytest.approx(0.9 + 1 / 5 + 0.9)
