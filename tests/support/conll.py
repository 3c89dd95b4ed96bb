"""Authored corpus tasks written as a CoNLL file, for the benchmark tests that run a simulation on it."""

from __future__ import annotations


def write_conll(path, tasks) -> None:
    """The tasks' words as tokens, one per line with its aligned BIO tag, a blank line after each task."""
    from text.spans.alignment import align_spans
    from text.spans.span import Span
    from text.words import split_words

    lines = []
    for task in tasks:
        text = task["data"]["text"]
        spans = [
            Span(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0])
            for r in task["annotations"][0]["result"]
        ]
        words = split_words(text)
        tags, _ = align_spans(words, spans)
        lines += [f"{text[s:e]}\t{t}" for (s, e), t in zip(words, tags)] + [""]
    path.write_text("\n".join(lines) + "\n")
