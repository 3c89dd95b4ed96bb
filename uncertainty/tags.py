"""Reads per-label B/I column indices out of a BIO tag list (index 0 is usually "O").

Only "B-<label>" and "I-<label>" count as entity tags; every other name is treated as outside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidTagsError

__all__ = ["EntityColumns", "entity_columns"]


@dataclass(frozen=True)
class EntityColumns:
    """Column indices per label; a missing B or I column points at ``n_tags`` (a zero column appended
    by callers), so vectorised code never special-cases IO-only or B-only label sets."""

    labels: tuple[str, ...]
    begin: np.ndarray
    inside: np.ndarray
    n_tags: int


def entity_columns(tags: list[str]) -> EntityColumns:
    """Parse the names once so every measure derives B/I positions the same way from the same list."""
    if len(set(tags)) != len(tags):
        raise InvalidTagsError(f"tag names must be unique, got {list(tags)!r}")
    n_tags = len(tags)
    begin: dict[str, int] = {}
    inside: dict[str, int] = {}
    for index, name in enumerate(tags):
        prefix, sep, label = str(name).partition("-")
        if not sep or not label:
            continue
        if prefix == "B":
            begin[label] = index
        elif prefix == "I":
            inside[label] = index
    labels = tuple(sorted(set(begin) | set(inside)))
    return EntityColumns(
        labels=labels,
        begin=np.array([begin.get(lab, n_tags) for lab in labels], dtype=np.intp),
        inside=np.array([inside.get(lab, n_tags) for lab in labels], dtype=np.intp),
        n_tags=n_tags,
    )
