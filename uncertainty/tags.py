"""Per-label begin/continue column indices of a tag list, read with the one BIO reader (`text.spans.bio.parse_tag`).

A tag that begins a span of X (B-X, and S-X/U-X of BIOES/BILOU) is a begin column of X; one that continues it (I-X,
E-X/L-X) an inside column; O is neither. The boundary weights sum a label's begin (inside) columns, so a BIO tag set
has one column of each per label and another scheme is projected onto BIO the way decoding reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from text.spans.bio import BEGIN, INSIDE, parse_tag

from .errors import InvalidTagsError

__all__ = ["EntityColumns", "entity_columns"]


@dataclass(frozen=True)
class EntityColumns:
    """Column indices per label, (n_labels, width): row j lists label j's begin (inside) columns, padded with
    ``n_tags`` (a zero column appended by callers), so vectorised code never special-cases IO-only or B-only
    label sets, and a sum over a row is the label's begin (inside) probability."""

    labels: tuple[str, ...]
    begin: np.ndarray
    inside: np.ndarray
    n_tags: int


def _rows(columns: dict[str, list[int]], labels: tuple[str, ...], n_tags: int) -> np.ndarray:
    width = max([len(columns.get(label, ())) for label in labels] + [1])
    rows = np.full((len(labels), width), n_tags, dtype=np.intp)
    for row, label in enumerate(labels):
        found = columns.get(label, [])
        rows[row, : len(found)] = found
    return rows


def entity_columns(tags: list[str]) -> EntityColumns:
    """Parse the names once so every measure derives begin/inside positions the same way from the same list."""
    if len(set(tags)) != len(tags):
        raise InvalidTagsError(f"tag names must be unique, got {list(tags)!r}")
    n_tags = len(tags)
    begin: dict[str, list[int]] = {}
    inside: dict[str, list[int]] = {}
    for index, name in enumerate(tags):
        prefix, label = parse_tag(str(name))
        if prefix == BEGIN:
            begin.setdefault(label, []).append(index)
        elif prefix == INSIDE:
            inside.setdefault(label, []).append(index)
    labels = tuple(sorted(set(begin) | set(inside)))
    return EntityColumns(
        labels=labels, begin=_rows(begin, labels, n_tags), inside=_rows(inside, labels, n_tags), n_tags=n_tags
    )
