"""Label Studio tasks to training examples: one annotation per task, its NER regions as character spans.

Pure: works on the task JSON that the SDK and the REST API return; no HTTP, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from text.spans.span import Span


@dataclass(frozen=True)
class Example:
    """One annotated task: its text and the spans of the chosen annotation (may be empty), in (start, end, label)
    order."""

    task_id: object
    text: str
    spans: tuple[Span, ...] = ()


@dataclass
class ExtractionStats:
    """What was skipped while reading annotations, so a user can see why entities went missing."""

    tasks: int = 0
    examples: int = 0
    no_annotation: int = 0  # no annotation left after dropping cancelled ones
    no_text: int = 0  # the task's data has no string under the config's value key
    unknown_label: int = 0  # a region labelled with a label the config does not list
    malformed: int = 0  # a region without int start/end inside the text, or without a label
    other_controls: int = 0  # results of other controls (choices, relations, another Labels)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _time_key(value) -> float:
    """Sort key for Label Studio timestamps ("2024-05-01T10:00:00.123Z"); unparsable ones sort first."""
    if not value:
        return float("-inf")
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("-inf")


def _id_key(value) -> tuple[int, str]:
    try:
        return (int(value), "")
    except (TypeError, ValueError):
        return (-1, str(value))


def pick_annotation(task: dict) -> dict | None:
    """The annotation to learn from: not cancelled; ground truth first; then most recently updated, then highest id.

    Ground truth is the reviewer's choice when annotators disagree; otherwise the latest edit is the most
    considered one.
    """
    candidates = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda a: (
            bool(a.get("ground_truth")),
            _time_key(a.get("updated_at") or a.get("created_at")),
            _id_key(a.get("id")),
        ),
    )


def extract_spans(annotation: dict, config, text: str, stats: ExtractionStats | None = None) -> list[Span]:
    """The regions of `annotation` made with the config's Labels control, as spans sorted by (start, end, label)."""
    stats = stats if stats is not None else ExtractionStats()
    spans: list[Span] = []
    for result in annotation.get("result") or []:
        if not isinstance(result, dict):
            stats.malformed += 1
            continue
        if result.get("from_name") != config.from_name or result.get("to_name", config.to_name) != config.to_name:
            stats.other_controls += 1
            continue
        if str(result.get("type", "labels")).lower() != "labels":
            stats.other_controls += 1
            continue
        value = result.get("value") or {}
        start, end, labels = value.get("start"), value.get("end"), value.get("labels")
        if (
            not isinstance(start, int)
            or isinstance(start, bool)
            or not isinstance(end, int)
            or isinstance(end, bool)
            or not 0 <= start < end <= len(text)
            or not isinstance(labels, list)
            or not labels
            or not isinstance(labels[0], str)
        ):
            stats.malformed += 1
            continue
        if labels[0] not in config.labels:
            stats.unknown_label += 1
            continue
        spans.append(Span(start, end, labels[0]))
    return sorted(set(spans))


def task_to_example(task: dict, config, stats: ExtractionStats | None = None) -> Example | None:
    """An Example from one task, or None when it has no usable annotation or no text.

    An annotation with no regions is kept: it says "no entity here", which the model must learn too.
    """
    stats = stats if stats is not None else ExtractionStats()
    stats.tasks += 1
    text = (task.get("data") or {}).get(config.value_key)
    if not isinstance(text, str) or not text.strip():
        stats.no_text += 1
        return None
    annotation = pick_annotation(task)
    if annotation is None:
        stats.no_annotation += 1
        return None
    stats.examples += 1
    return Example(task.get("id"), text, tuple(extract_spans(annotation, config, text, stats)))


def tasks_to_examples(tasks: Iterable[dict], config) -> tuple[list[Example], ExtractionStats]:
    """Examples for every task that has a usable annotation, and the counts of what was skipped."""
    stats = ExtractionStats()
    examples = [e for e in (task_to_example(t, config, stats) for t in tasks) if e is not None]
    return examples, stats
