"""The BIO tag scheme: one O tag, then a B- and an I- tag per entity label, in label order."""

from __future__ import annotations

OUTSIDE = "O"


def bio_tags(labels: list[str]) -> list[str]:
    """Tag names for `labels`: ["O", "B-L1", "I-L1", "B-L2", "I-L2", ...]."""
    tags = [OUTSIDE]
    for label in labels:
        tags += [f"B-{label}", f"I-{label}"]
    return tags


def parse_tag(tag: str) -> tuple[str, str | None]:
    """Split a tag into (prefix, label): ("B", "PER"), ("I", "PER") or ("O", None).

    Tags from other schemes are read leniently: "E-"/"L-"/"S-"/"U-" map onto I/I/B/B, a bare label is a B.
    """
    if tag == OUTSIDE or not tag:
        return OUTSIDE, None
    if len(tag) > 2 and tag[1] in "-_" and tag[0].upper() in "BIELSU":
        prefix = {"B": "B", "S": "B", "U": "B", "I": "I", "E": "I", "L": "I"}[tag[0].upper()]
        return prefix, tag[2:]
    return "B", tag


def tag_labels(tags: list[str]) -> list[str]:
    """Entity labels named by `tags`, in first-seen order."""
    seen: list[str] = []
    for tag in tags:
        label = parse_tag(tag)[1]
        if label is not None and label not in seen:
            seen.append(label)
    return seen
