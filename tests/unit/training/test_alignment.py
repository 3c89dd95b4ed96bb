from text.spans.alignment import AlignmentStats, align_spans
from text.spans.span import Span
from text.words import split_words


def tags_for(text, spans):
    return align_spans(split_words(text), [Span(*s) for s in spans])


def test_exact_spans_give_bio_and_adjacent_entities_stay_apart():
    text = "Scorers: Ann Lee Bo Kim 14"
    tags, stats = tags_for(text, [(9, 16, "PER"), (17, 23, "PER")])
    assert tags == ["O", "O", "B-PER", "I-PER", "B-PER", "I-PER", "O"]
    assert stats == AlignmentStats(spans=2, aligned=2)


def test_a_span_that_cuts_a_word_is_widened_and_counted():
    text = "Visit Berlinale now"
    tags, stats = tags_for(text, [(6, 12, "LOC")])  # "Berlin" inside "Berlinale"
    assert tags == ["O", "B-LOC", "O"] and stats.widened == 1 and stats.aligned == 1
    tags, stats = tags_for("New York", [(1, 6, "LOC")])  # cuts both words
    assert tags == ["B-LOC", "I-LOC"] and stats.widened == 1


def test_overlaps_keep_the_earlier_start_then_the_longer_span():
    text = "the Bank of New York said"
    spans = [(12, 20, "LOC"), (4, 20, "ORG"), (4, 8, "PER")]
    tags, stats = tags_for(text, spans)
    assert tags == ["O", "B-ORG", "I-ORG", "I-ORG", "I-ORG", "O"]
    assert (stats.aligned, stats.overlapping) == (1, 2)
    assert tags_for(text, list(reversed(spans)))[0] == tags  # order of the input does not matter


def test_spans_on_whitespace_or_past_every_word_are_empty():
    tags, stats = tags_for("a  b", [(1, 3, "X"), (4, 4, "X")])
    assert tags == ["O", "O"] and stats.empty == 2 and stats.aligned == 0


def test_cjk_characters_are_words_of_their_own():
    text = "我在北京工作"
    tags, stats = tags_for(text, [(2, 4, "LOC")])
    assert tags == ["O", "O", "B-LOC", "I-LOC", "O", "O"] and stats.widened == 0


def test_emoji_and_offsets_in_code_points():
    text = "🎉 Tokyo 🗼 rocks"
    start = text.index("Tokyo")
    tags, _ = tags_for(text, [(start, start + 5, "LOC")])
    assert tags == ["O", "B-LOC", "O", "O"]


def test_words_dropped_by_the_encoder_are_not_labelled():
    words = [(0, 3), (8, 11)]  # the encoder kept two words of "Ann \u200b\u200b  Lee"
    tags, stats = align_spans(words, [Span(4, 6, "PER"), Span(0, 11, "PER")])
    assert tags == ["B-PER", "I-PER"] and stats.empty == 1
