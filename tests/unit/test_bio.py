"""The one BIO reader (`text.spans.bio.parse_tag`) and everything that reads tags through it."""

from __future__ import annotations

import numpy as np
import pytest

from bench.conll import tokens_to_example
from text.spans.bio import bio_tags, parse_tag, tag_labels
from text.spans.decoding import decode_spans
from text.spans.span import Span
from uncertainty.tags import entity_columns


@pytest.mark.parametrize(
    "tag, parsed",
    [
        ("O", ("O", None)),
        ("B-PER", ("B", "PER")),
        ("I-PER", ("I", "PER")),
        ("b-PER", ("B", "PER")),  # prefixes in either case
        ("I_PER", ("I", "PER")),  # "_" separates like "-"
        ("B-Person-Name", ("B", "Person-Name")),  # the label is everything after the separator
    ],
)
def test_bio_tags(tag, parsed):
    assert parse_tag(tag) == parsed


@pytest.mark.parametrize(
    "tag, parsed",
    [
        ("S-PER", ("B", "PER")),  # BIOES single: begins (and ends) a span
        ("U-PER", ("B", "PER")),  # BILOU unit
        ("E-PER", ("I", "PER")),  # BIOES end: continues the open span
        ("L-PER", ("I", "PER")),  # BILOU last
    ],
)
def test_other_schemes_are_projected_onto_bio(tag, parsed):
    assert parse_tag(tag) == parsed


@pytest.mark.parametrize(
    "tag, parsed",
    [
        ("", ("O", None)),  # an empty name is outside
        ("PER", ("B", "PER")),  # a bare label (IO-scheme models) begins a span of it
        ("X-PER", ("B", "X-PER")),  # an unknown prefix: the whole name is the label
        ("B-", ("B", "B-")),  # a prefix with no label: likewise
        ("O-PER", ("B", "O-PER")),
    ],
)
def test_malformed_tags_read_as_a_label_that_begins_a_span(tag, parsed):
    assert parse_tag(tag) == parsed


def test_bio_tags_round_trip_and_labels_in_first_seen_order():
    tags = bio_tags(["PER", "LOC"])
    assert tags == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    assert [parse_tag(t) for t in tags] == [("O", None), ("B", "PER"), ("I", "PER"), ("B", "LOC"), ("I", "LOC")]
    assert tag_labels(["O", "S-LOC", "B-PER", "E-LOC", "MISC"]) == ["LOC", "PER", "MISC"]


BIOES = ["B-PER", "E-PER", "O", "S-LOC", "U-ORG", "B-ORG", "L-ORG"]
BIO = ["B-PER", "I-PER", "O", "B-LOC", "B-ORG", "B-ORG", "I-ORG"]


def test_decoding_and_the_conll_reader_read_every_scheme_alike():
    tokens = ["Ann", "Lee", "in", "Oslo", "Acme", "Big", "Corp"]
    words = []
    position = 0
    for token in tokens:
        words.append((position, position + len(token)))
        position += len(token) + 1
    expected = [Span(0, 7, "PER"), Span(11, 15, "LOC"), Span(16, 20, "ORG"), Span(21, 29, "ORG")]
    for tags in (BIO, BIOES):
        assert [Span(s.start, s.end, s.label) for s in decode_spans(words, tags, [1.0] * len(tags))] == expected
        assert list(tokens_to_example("t", tokens, tags).spans) == expected


def test_boundary_columns_read_every_scheme_alike():
    columns = entity_columns(["O", "B-PER", "I-PER", "E-PER", "S-PER", "LOC"])
    assert columns.labels == ("LOC", "PER")
    np.testing.assert_array_equal(columns.begin, [[5, 6], [1, 4]])  # LOC: its bare tag, padded with the zero column
    np.testing.assert_array_equal(columns.inside, [[6, 6], [2, 3]])
