"""Label Studio tasks to classification examples: each task's chosen annotation as class targets per control.

Pure: the task JSON only. One annotation per task (`training.annotations.pick_annotation`, as for NER). A control
the annotation leaves without a usable choice is masked out of that example (the others still train); a task
with no usable control is skipped and counted, never an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable

from training.annotations import pick_annotation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChoiceExample:
    """One annotated task: its text, a 0/1 target per class (project order) and which controls it labels."""

    task_id: object
    text: str
    targets: tuple[float, ...]
    labelled: tuple[bool, ...]  # per control (`ClassificationConfig.segments` order)


@dataclass
class ChoiceStats:
    """What was skipped while reading annotations, so a user can see why a task did not train."""

    tasks: int = 0
    examples: int = 0
    no_annotation: int = 0
    no_text: int = 0
    no_choice: int = 0  # a control's result with no choice selected (or no result for any control)
    unknown_choice: int = 0  # a choice the config does not list (e.g. after a config edit)
    several_on_single: int = 0  # more than one choice on a single-choice control
    other_controls: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def task_to_choice_example(task: dict, config, stats: ChoiceStats) -> ChoiceExample | None:
    stats.tasks += 1
    task_id = task.get("id") if isinstance(task, dict) else None
    text = ((task.get("data") if isinstance(task, dict) else None) or {}).get(config.value_key)
    if not isinstance(text, str) or not text.strip():
        stats.no_text += 1
        log.info("task %.60r: no text in data[%r], skipped", task_id, config.value_key)
        return None
    annotation = pick_annotation(task)
    if annotation is None:
        stats.no_annotation += 1
        return None
    skipped = False  # a result of a served control was skipped (and counted) for a reason of its own
    segments = config.segments()
    by_name = {control.from_name: s for s, (control, _, _) in enumerate(segments)}
    targets = [0.0] * (segments[-1][2] if segments else 0)
    labelled = [False] * len(segments)
    for result in annotation.get("result") or []:
        if not isinstance(result, dict) or result.get("from_name") not in by_name:
            stats.other_controls += 1
            continue
        s = by_name[result["from_name"]]
        control, a, _ = segments[s]
        choices = (result.get("value") or {}).get("choices")
        if not isinstance(choices, list) or not choices:
            stats.no_choice += 1
            skipped = True
            continue
        unknown = [c for c in choices if c not in control.choices]
        if unknown:
            stats.unknown_choice += 1
            skipped = True
            log.warning(
                "task %.60r: choices %.200r are not in <Choices name=%r>, skipped", task_id, unknown, control.from_name
            )
            continue
        if len(set(choices)) > 1 and not control.multiple:
            stats.several_on_single += 1
            skipped = True
            log.warning("task %.60r: several choices on single-choice %r, skipped", task_id, control.from_name)
            continue
        for choice in choices:
            targets[a + control.choices.index(choice)] = 1.0
        labelled[s] = True
    if not any(labelled):
        if not skipped:  # no result for any served control
            stats.no_choice += 1
        return None
    stats.examples += 1
    return ChoiceExample(task_id, text, tuple(targets), tuple(labelled))


def tasks_to_choice_examples(tasks: Iterable[dict], config) -> tuple[list[ChoiceExample], ChoiceStats]:
    stats = ChoiceStats()
    examples = [e for e in (task_to_choice_example(t, config, stats) for t in tasks) if e is not None]
    return examples, stats


def read_label_tsv(path) -> list[tuple[str, str]]:
    """(label, text) rows of a `label<TAB>text` file (the benchmark's classification corpora, e.g. TREC-6)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            label, sep, text = line.partition("\t")
            if not sep or not label or not text.strip():
                raise ValueError(f"{path}:{number}: expected label<TAB>text")
            rows.append((label, text))
    return rows


def tasks_from_rows(
    rows: list[tuple[str, str]], from_name: str = "label", to_name: str = "text", start_id: int = 1
) -> list[dict]:
    """Annotated Label Studio tasks (single choice) from `read_label_tsv` rows, for a simulation: the text under
    data["text"], the label as the choice of `from_name`."""
    return [
        {
            "id": start_id + i,
            "data": {"text": text},
            "annotations": [
                {
                    "id": start_id + i,
                    "result": [
                        {"from_name": from_name, "to_name": to_name, "type": "choices", "value": {"choices": [label]}}
                    ],
                }
            ],
        }
        for i, (label, text) in enumerate(rows)
    ]
