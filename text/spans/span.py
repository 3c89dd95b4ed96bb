"""The one span type: annotated spans (Label Studio regions, CoNLL entities), predicted spans and the spans aligned to
words are all `Span`s."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Span:
    """An entity: characters [start, end) of a text (code points) and its label; `score` is the model's confidence
    in a predicted span, None for an annotated one. Spans sort by (start, end, label)."""

    start: int
    end: int
    label: str
    score: float | None = None
