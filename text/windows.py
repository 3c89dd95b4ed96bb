"""Overlapping windows over a text's words, so texts longer than the model's limit are labelled in full.

Pure: works on per-word sub-token counts. Each window owns a disjoint run of words; every word is owned by
exactly one window, the one where it sits furthest from the window's edges (the overlap is split in the middle).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """Words [start, end) are fed to the model; words [own_start, own_end) take their labels from it."""

    start: int
    end: int
    own_start: int
    own_end: int


def plan_windows(token_counts: list[int], max_tokens: int, overlap_tokens: int) -> list[Window]:
    """Cover all words with windows of at most `max_tokens` sub-tokens overlapping by about `overlap_tokens`.

    A single word longer than `max_tokens` gets a window of its own (it is truncated by the caller, but its
    label comes from its first sub-token, so it is still labelled).
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be >= 1")
    n = len(token_counts)
    if n == 0:
        return []
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        end, used = start, 0
        while end < n and (end == start or used + token_counts[end] <= max_tokens):
            used += token_counts[end]
            end += 1
        spans.append((start, end))
        if end >= n:
            break
        # Step back from `end` while the tail stays within the overlap budget, but always move forward.
        next_start, tail = end, 0
        while next_start - 1 > start and tail + token_counts[next_start - 1] <= overlap_tokens:
            next_start -= 1
            tail += token_counts[next_start]
        start = next_start
    windows = []
    for i, (s, e) in enumerate(spans):
        own_s = s if i == 0 else (s + spans[i - 1][1]) // 2
        own_e = e if i == len(spans) - 1 else (spans[i + 1][0] + e) // 2
        windows.append(Window(s, e, own_s, own_e))
    return windows
