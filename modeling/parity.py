"""Parity of a reduced-precision model with fp32, and the choice of the precision a version is served at. Pure.

A version is served at a reduced precision (SERVING_PRECISION, see `modeling.precision`) only when its training job
measured it against fp32 on held-out texts (`training.parity`, stored in meta.json as `parity`; a combined
version's classifier has its own, in `choices`) and it stayed within the bounds; otherwise, and for versions
without figures (base models), it is served fp32, unless SERVING_PRECISION_FORCE says to skip the gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from text.spans.span import Span

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8")
FULL = "fp32"
# SERVING_PRECISION=auto: bf16 where the serving device computes it natively, else fp32 (modeling.precision)
AUTO = "auto"


@dataclass(frozen=True)
class ParityBounds:
    """How far a reduced-precision model may stray from fp32: the drop (absolute) of the F1 its decisions are
    judged by (entity F1 for spans, macro-F1 for choices) and the floor of agreement on what it serves."""

    max_f1_drop: float
    min_agreement: float


def span_agreement(reference: Sequence[Sequence[Span]], other: Sequence[Sequence[Span]]) -> float:
    """Jaccard overlap of two models' served spans, (text, start, end, label) exactly: 1.0 when both serve the
    same spans (or none at all); scores are ignored, they are what precision is allowed to move."""
    if len(reference) != len(other):
        raise ValueError(f"{len(reference)} texts against {len(other)}")
    a = {(i, s.start, s.end, s.label) for i, spans in enumerate(reference) for s in spans}
    b = {(i, s.start, s.end, s.label) for i, spans in enumerate(other) for s in spans}
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def choice_agreement(reference: Sequence[Sequence[Sequence[int]]], other: Sequence[Sequence[Sequence[int]]]) -> float:
    """Jaccard overlap of two classifiers' served choices, (text, control, class) exactly: 1.0 when both choose the
    same classes (or none at all). Each text holds the chosen class indices of each control, as
    `ClassifierPredictor.decide` gives them; probabilities are ignored, they are what precision may move."""
    if len(reference) != len(other):
        raise ValueError(f"{len(reference)} texts against {len(other)}")
    a = {(i, s, c) for i, controls in enumerate(reference) for s, chosen in enumerate(controls) for c in chosen}
    b = {(i, s, c) for i, controls in enumerate(other) for s, chosen in enumerate(controls) for c in chosen}
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def parity_verdict(figures: dict, bounds: ParityBounds) -> tuple[bool, str]:
    """(within bounds?, why) for the figures `training.parity` records: f1_drop, examples and span_agreement (NER)
    or choice_agreement (classification)."""
    precision = figures.get("precision", "?")
    if not figures.get("examples"):
        return False, f"{precision}: no held-out texts to compare with fp32"
    served = "choices" if "choice_agreement" in figures else "spans"
    metric = "macro-F1" if served == "choices" else "entity F1"
    drop, agreement = float(figures["f1_drop"]), float(figures[served[:-1] + "_agreement"])
    if drop > bounds.max_f1_drop:
        return False, f"{precision} loses {drop:.4f} {metric} against fp32 (bound {bounds.max_f1_drop})"
    if agreement < bounds.min_agreement:
        return False, f"{precision} agrees on {agreement:.4f} of fp32's {served} (floor {bounds.min_agreement})"
    return True, f"{precision} within bounds: {metric} drop {drop:.4f}, {served[:-1]} agreement {agreement:.4f}"


def choose_precision(wanted: str, force: bool, parity: dict | None, bounds: ParityBounds) -> tuple[str, str]:
    """(precision to serve, why) for a version whose meta.json holds `parity` (None: no figures, a base model).

    `wanted` is SERVING_PRECISION; `force` (SERVING_PRECISION_FORCE) serves it without looking at the figures.
    Figures measured for another precision do not count: that precision was never compared.
    """
    if wanted == FULL:
        return FULL, "SERVING_PRECISION=fp32"
    if force:
        return wanted, f"SERVING_PRECISION_FORCE: {wanted} without the parity gate"
    if not parity:
        return FULL, f"no parity figures for {wanted} (base model or older version): fp32"
    if parity.get("precision") != wanted:
        return FULL, f"parity was measured for {parity.get('precision')}, not {wanted}: fp32"
    passed, why = parity_verdict(parity, bounds)
    return (wanted, why) if passed else (FULL, why + ": fp32")
