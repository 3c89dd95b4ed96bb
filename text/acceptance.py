"""How much of a served prediction the annotators kept: Label Studio results compared region by region.

A region is a result item whose `value` has `start`, `end` and `labels` (type "labels", or any `*labels` type);
a choice is an item whose `value` has `choices`. Other items (text areas, ratings, relations) are not counted.
Regions are compared within one control (`from_name`); a region of another control never matches.

For one (prediction, annotation) pair (`compare`):
    kept      predicted regions the annotation has exactly: same from_name, start, end and label set (matched one to
              one, so two identical predicted regions need two identical annotated ones)
    changed   the other predicted regions that overlap an annotated region not kept (boundaries or label changed,
              a region split or merged)
    deleted   the other predicted regions: no annotated region (not kept) overlaps them
    added     annotated regions, not kept, that overlap no predicted region (not kept)
so kept + changed + deleted = predicted regions. A predicted region whose span the annotation kept under another
label counts as changed; a second label the annotator put on a kept span counts as added.
Choices, per control: accepted when the annotation has the same set of choices, changed when it has another set
or none; an annotated control the prediction did not fill is `choices_added`.

Over many records (`summarise`), per model version: the acceptance rate (kept / predicted regions), and the time
per task (Label Studio's `lead_time`, seconds) with and without a prediction. Cancelled (skipped) annotations count
as `cancelled` and nothing else; lead times that are missing (annotations made through the API carry none),
non-finite or negative are left out of the timings.

Pure: standard library only, no Label Studio import.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "Acceptance",
    "AcceptanceRecord",
    "Timing",
    "VersionAcceptance",
    "compare",
    "summarise",
]


@dataclass(frozen=True)
class Acceptance:
    """What the annotation did with one prediction."""

    kept: int = 0
    changed: int = 0
    deleted: int = 0
    added: int = 0
    predicted: int = 0
    annotated: int = 0
    choices_accepted: int = 0
    choices_changed: int = 0
    choices_added: int = 0
    cancelled: bool = False

    @property
    def rate(self) -> float | None:
        """Kept exactly / predicted regions; None when nothing was predicted."""
        return self.kept / self.predicted if self.predicted else None

    def as_dict(self) -> dict:
        return {**asdict(self), "rate": self.rate}


@dataclass(frozen=True)
class _Region:
    control: str
    start: int
    end: int
    labels: tuple[str, ...]

    def overlaps(self, other: _Region) -> bool:
        return self.control == other.control and self.start < other.end and other.start < self.end


def _items(result: Any) -> list[Mapping]:
    """Result items of a result list, or of a prediction / annotation dict holding one under `result`."""
    if result is None:
        return []
    if isinstance(result, Mapping):
        result = result.get("result") or []
    return [item for item in result if isinstance(item, Mapping)]


def _is_cancelled(annotation: Any) -> bool:
    return isinstance(annotation, Mapping) and bool(annotation.get("was_cancelled"))


def _regions(items: list[Mapping], controls: set[str] | None) -> list[_Region]:
    regions = []
    for item in items:
        value = item.get("value")
        if not isinstance(value, Mapping) or "labels" not in value or "start" not in value or "end" not in value:
            continue
        control = str(item.get("from_name", ""))
        if controls is not None and control not in controls:
            continue
        try:
            start, end = int(value["start"]), int(value["end"])
        except (TypeError, ValueError):
            continue
        labels = value.get("labels") or []
        regions.append(_Region(control, start, end, tuple(sorted(str(label) for label in labels))))
    return regions


def _choices(items: list[Mapping], controls: set[str] | None) -> dict[str, frozenset[str]]:
    chosen: dict[str, set[str]] = {}
    for item in items:
        value = item.get("value")
        if not isinstance(value, Mapping) or "choices" not in value:
            continue
        control = str(item.get("from_name", ""))
        if controls is not None and control not in controls:
            continue
        chosen.setdefault(control, set()).update(str(c) for c in value.get("choices") or [])
    return {control: frozenset(values) for control, values in chosen.items()}


def compare(prediction: Any, annotation: Any, controls: Iterable[str] | None = None) -> Acceptance:
    """Count what the annotation kept, changed, deleted and added of the prediction.

    prediction, annotation: result lists, or dicts holding one under `result` (an annotation dict with
    `was_cancelled` true gives `Acceptance(cancelled=True)`). controls: only these from_names (None: all).
    """
    wanted = set(controls) if controls is not None else None
    if _is_cancelled(annotation):
        return Acceptance(cancelled=True)
    predicted_items, annotated_items = _items(prediction), _items(annotation)
    predicted, annotated = _regions(predicted_items, wanted), _regions(annotated_items, wanted)

    # Exact matches, one to one: each annotated region can keep one predicted region.
    unmatched = list(annotated)
    left_predicted = []
    for region in predicted:
        if region in unmatched:
            unmatched.remove(region)
        else:
            left_predicted.append(region)
    kept = len(predicted) - len(left_predicted)
    changed = sum(any(p.overlaps(a) for a in unmatched) for p in left_predicted)
    added = sum(not any(a.overlaps(p) for p in left_predicted) for a in unmatched)

    predicted_choices, annotated_choices = _choices(predicted_items, wanted), _choices(annotated_items, wanted)
    accepted = sum(annotated_choices.get(c) == values for c, values in predicted_choices.items())
    return Acceptance(
        kept=kept,
        changed=changed,
        deleted=len(left_predicted) - changed,
        added=added,
        predicted=len(predicted),
        annotated=len(annotated),
        choices_accepted=accepted,
        choices_changed=len(predicted_choices) - accepted,
        choices_added=sum(c not in predicted_choices for c in annotated_choices),
    )


@dataclass(frozen=True)
class AcceptanceRecord:
    """One annotation of a task and the prediction served for it (None or empty: none was served)."""

    prediction: Any
    annotation: Any
    lead_time: float | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class Timing:
    """Seconds per task over the annotations that carry a usable lead time."""

    tasks: int = 0
    mean: float | None = None
    median: float | None = None

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Timing:
        if not seconds:
            return cls()
        return cls(tasks=len(seconds), mean=statistics.fmean(seconds), median=statistics.median(seconds))


@dataclass
class VersionAcceptance:
    """The records of one model version added up (`model_version` None: tasks served no prediction)."""

    model_version: str | None
    tasks: int = 0
    cancelled: int = 0
    kept: int = 0
    changed: int = 0
    deleted: int = 0
    added: int = 0
    predicted: int = 0
    choices_accepted: int = 0
    choices_changed: int = 0
    with_prediction: Timing = field(default_factory=Timing)
    without_prediction: Timing = field(default_factory=Timing)

    @property
    def rate(self) -> float | None:
        """Kept exactly / predicted regions over the version's tasks; None when it predicted no region."""
        return self.kept / self.predicted if self.predicted else None

    @property
    def choice_rate(self) -> float | None:
        """Accepted / predicted choice controls; None when it predicted no choice."""
        total = self.choices_accepted + self.choices_changed
        return self.choices_accepted / total if total else None

    @property
    def kept_share(self) -> float | None:
        """Kept exactly / predicted over regions and choice controls together: one figure per version for NER,
        classification and combined projects alike; None when it predicted nothing."""
        total = self.predicted + self.choices_accepted + self.choices_changed
        return (self.kept + self.choices_accepted) / total if total else None

    def as_dict(self) -> dict:
        return {**asdict(self), "rate": self.rate, "choice_rate": self.choice_rate, "kept_share": self.kept_share}


def _seconds(lead_time: Any) -> float | None:
    try:
        value = float(lead_time)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _as_record(record: Any) -> AcceptanceRecord:
    if isinstance(record, AcceptanceRecord):
        return record
    if isinstance(record, Mapping):
        return AcceptanceRecord(
            record.get("prediction"), record.get("annotation"), record.get("lead_time"), record.get("model_version")
        )
    return AcceptanceRecord(*record)


def summarise(records: Iterable[Any], controls: Iterable[str] | None = None) -> dict[str | None, VersionAcceptance]:
    """Acceptance and time per task, per model version, over (prediction, annotation, lead_time, model_version)
    records (AcceptanceRecord, dicts with those keys, or tuples in that order).

    A record whose prediction has a model_version but no `model_version` field of its own takes the prediction's.
    "With a prediction": the served prediction had at least one result item.
    """
    wanted = list(controls) if controls is not None else None
    versions: dict[str | None, VersionAcceptance] = {}
    timings: dict[str | None, tuple[list[float], list[float]]] = {}
    for raw in records:
        record = _as_record(raw)
        version = record.model_version
        if version is None and isinstance(record.prediction, Mapping):
            version = record.prediction.get("model_version") or None
        total = versions.setdefault(version, VersionAcceptance(version))
        total.tasks += 1
        result = compare(record.prediction, record.annotation, wanted)
        if result.cancelled:
            total.cancelled += 1
            continue
        for name in ("kept", "changed", "deleted", "added", "predicted", "choices_accepted", "choices_changed"):
            setattr(total, name, getattr(total, name) + getattr(result, name))
        seconds = _seconds(record.lead_time)
        if seconds is not None:
            with_, without = timings.setdefault(version, ([], []))
            (with_ if _items(record.prediction) else without).append(seconds)
    for version, (with_, without) in timings.items():
        versions[version].with_prediction = Timing.of(with_)
        versions[version].without_prediction = Timing.of(without)
    return versions
