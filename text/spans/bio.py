"""The BIO tag scheme, and the one reader of tag names every part of the service and the benchmark uses.

The service writes BIO (IOB2): one O tag, then a B- and an I- tag per entity label, in label order (`bio_tags`).
It reads any scheme with `parse_tag`, projected onto BIO:

  O, or an empty name              outside                         -> ("O", None)
  B-X, S-X, U-X                    begins a span of X              -> ("B", "X")
  I-X, E-X, L-X                    continues a span of X           -> ("I", "X")
  anything else (a bare label X,   the whole name is a label that  -> ("B", name)
  an unknown prefix as in Z-X,     begins a span (IO-scheme models
  a prefix without a label "B-")   name their tags by label alone)

Prefixes are read in either case and may be followed by "-" or "_". Span ends (E-, L-, S-, U-) are not enforced:
a continuing tag after an end continues the span, and a continuing tag with no open span of its label begins one
(a stray I-, read as IOB1 would), in decoding (`text.spans.decoding`), the Viterbi constraints
(`text.spans.viterbi`), the boundary weights (`uncertainty.tags`) and the CoNLL reader of the benchmark alike.
"""

from __future__ import annotations

OUTSIDE = "O"
BEGIN = "B"
INSIDE = "I"

_PREFIXES = {"B": BEGIN, "S": BEGIN, "U": BEGIN, "I": INSIDE, "E": INSIDE, "L": INSIDE}


def bio_tags(labels: list[str]) -> list[str]:
    """Tag names for `labels`: ["O", "B-L1", "I-L1", "B-L2", "I-L2", ...]."""
    tags = [OUTSIDE]
    for label in labels:
        tags += [f"{BEGIN}-{label}", f"{INSIDE}-{label}"]
    return tags


def parse_tag(tag: str) -> tuple[str, str | None]:
    """(prefix, label) of a tag name: ("B", "PER"), ("I", "PER") or ("O", None); see the module docstring."""
    if tag == OUTSIDE or not tag:
        return OUTSIDE, None
    if len(tag) > 2 and tag[1] in "-_" and tag[0].upper() in _PREFIXES:
        return _PREFIXES[tag[0].upper()], tag[2:]
    return BEGIN, tag


def tag_labels(tags: list[str]) -> list[str]:
    """Entity labels named by `tags`, in first-seen order."""
    seen: list[str] = []
    for tag in tags:
        label = parse_tag(tag)[1]
        if label is not None and label not in seen:
            seen.append(label)
    return seen
