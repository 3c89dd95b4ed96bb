"""What a labelled set costs in annotator seconds, for the benchmark's per-second view.

seconds = per_text * texts + per_token * tokens + per_entity * entities    (uncertainty.AnnotationTime)

Central coefficients: the hourly cost model of Ringger et al. (2008, "Assessing the costs of machine-assisted
corpus annotation through a user study", LREC), as Haertel et al. (2008, "Assessing the costs of sampling methods
in active learning for annotation", ACL short papers) apply it to price selected sentences: 12.57 s per sentence,
3.795 s per token and 5.387 s per tag the annotator must set, fitted on part-of-speech annotation with
pre-annotation. Here a tag to set is a gold entity (every entity is a region to draw and label). These are the
figures as that literature reports them; they could not be re-read against the papers in this offline workplace,
and they come from another task, so every per-second figure is also given over SENSITIVITY: each coefficient
scaled down and up (reading a news sentence for entities is faster than tagging each word's part of speech, hence
per-token factors down to 0.1). A team replaces them with a fit on its own lead times
(`python -m bench.fit_annotation_time`, docs/benchmarks.md).
"""

from __future__ import annotations

from itertools import product

from uncertainty import AnnotationTime

PUBLISHED = AnnotationTime(12.57, 3.795, 5.387, "Ringger et al. 2008 via Haertel et al. 2008")

# factors applied to (per_text, per_token, per_entity) of the central model
SENSITIVITY = tuple(product((0.25, 1.0, 4.0), (0.1, 1.0), (0.0, 1.0, 2.0)))


def from_text(spec: str) -> AnnotationTime:
    """`a,b,c` (seconds per text, per token, per entity) as given on the command line."""
    try:
        a, b, c = (float(v) for v in spec.split(","))
    except ValueError:
        raise ValueError(f"{spec!r}: give seconds per text, per token and per entity as a,b,c (e.g. 8,0.4,2)")
    if min(a, b, c) < 0 or a + b + c <= 0:
        raise ValueError(f"{spec!r}: the coefficients must be >= 0 and not all 0")
    return AnnotationTime(a, b, c, "given on the command line")


def sensitivity_models(central: AnnotationTime) -> list[AnnotationTime]:
    return [central.scaled(*factors) for factors in SENSITIVITY]
