"""Character spans to word-level BIO tags, over the same words that prediction labels.

Pure: works on (start, end) word offsets from `text.words.split_words` (or the subset a TextEncoder keeps).
Annotations rarely line up with words perfectly, so every adjustment is counted rather than hidden.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, fields
from typing import Sequence

from text.spans.bio import BEGIN, INSIDE, OUTSIDE
from text.spans.span import Span


@dataclass
class AlignmentStats:
    """Counts over all aligned spans: kept as-is, widened to whole words, dropped for overlap or for no word."""

    spans: int = 0
    aligned: int = 0
    widened: int = 0  # a span boundary fell inside a word; the span now covers the whole word
    overlapping: int = 0  # a span shared a word with an earlier-starting (or longer) span and was dropped
    empty: int = 0  # a span covered only whitespace, or only characters no word keeps

    def add(self, other: AlignmentStats) -> AlignmentStats:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def span_word_range(words: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """Indices [first, last) of the words that share at least one character with [start, end)."""
    ends = [e for _, e in words]
    starts = [s for s, _ in words]
    first = bisect_right(ends, start)  # first word ending after `start`
    last = bisect_left(starts, end)  # words starting before `end`
    return first, max(first, last)


def align_spans(words: Sequence[tuple[int, int]], spans: Sequence[Span]) -> tuple[list[str], AlignmentStats]:
    """One BIO tag per word for `spans`; overlaps are settled deterministically (earlier start, then longer).

    A span that cuts a word is widened to the whole word, since a word carries one tag. Adjacent spans of one
    label stay apart because each starts with B-.
    """
    stats = AlignmentStats(spans=len(spans))
    candidates = []
    for order, span in enumerate(spans):
        first, last = span_word_range(words, span.start, span.end)
        if first >= last:
            stats.empty += 1
            continue
        widened = words[first][0] < span.start or words[last - 1][1] > span.end
        candidates.append((first, -(last - first), order, last, span.label, widened))
    tags = [OUTSIDE] * len(words)
    taken = [False] * len(words)
    for first, _, _, last, label, widened in sorted(candidates):
        if any(taken[first:last]):
            stats.overlapping += 1
            continue
        for k in range(first, last):
            taken[k] = True
            tags[k] = f"{BEGIN if k == first else INSIDE}-{label}"
        stats.aligned += 1
        stats.widened += int(widened)
    return tags, stats
