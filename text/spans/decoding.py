"""Word-level BIO tags (or per-word tag probabilities) to character spans. Pure: no model, no I/O.

Rules: B-X always starts a new span; I-X continues an open X span and starts one otherwise (a stray I-);
O and a change of type close the open span. So two adjacent entities of one type stay apart when the second
starts with B-. Offsets are the words' code-point offsets, so a span never starts or ends with whitespace.
Probabilities are first read as the most probable IOB2-valid tag path (`text.spans.viterbi`), not as per-word argmax.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from text.spans.bio import INSIDE, parse_tag
from text.spans.span import Span
from text.spans.viterbi import clean_probs, viterbi_path


def decode_spans(
    words: Sequence[tuple[int, int]],
    word_tags: Sequence[str],
    word_scores: Sequence[float],
    label_map: Mapping[str, str] | None = None,
) -> list[Span]:
    """Group tagged words into spans; `label_map` renames model labels and drops those it does not name."""
    spans: list[Span] = []
    open_label: str | None = None
    first = last = 0
    scores: list[float] = []

    def close() -> None:
        if open_label is None:
            return
        label = open_label if label_map is None else label_map.get(open_label)
        if label is not None:
            spans.append(Span(words[first][0], words[last][1], label, float(sum(scores) / len(scores))))

    for i, (tag, score) in enumerate(zip(word_tags, word_scores)):
        prefix, label = parse_tag(tag)
        if prefix == INSIDE and label == open_label:
            last = i
            scores.append(score)
            continue
        close()
        open_label = label
        first = last = i
        scores = [score]
    close()
    return spans


def decode_probs(
    words: Sequence[tuple[int, int]],
    probs: np.ndarray,
    tags: Sequence[str],
    label_map: Mapping[str, str] | None = None,
) -> list[Span]:
    """The spans a user receives for one text: the IOB2-valid Viterbi path, each word scored by its tag's probability.

    Serving and evaluation both call this, so the scores measure exactly what /predict returns.
    """
    path = viterbi_path(probs, tags)
    if len(path) != len(words):
        raise ValueError(f"{len(words)} words but {len(path)} rows of probabilities")
    word_scores = clean_probs(probs)[np.arange(len(path)), path] if len(path) else np.zeros(0)
    return decode_spans(words, [tags[i] for i in path], word_scores.tolist(), label_map)


def drop_overlapping(spans: Sequence[Span], taken: Sequence[tuple[int, int]]) -> list[Span]:
    """Spans that do not overlap any (start, end) in `taken` (regions an annotator already drew)."""
    return [s for s in spans if all(s.end <= a or s.start >= b for a, b in taken)]
