"""Examples to model inputs: a stable task-level train/validation split and tokenised, labelled windows.

Windows come from `text.encoding.TextEncoder`, the encoder prediction uses, so a model is trained on exactly the
inputs it will later see. In each window the first sub-token of every word carries the word's tag id; other
sub-tokens and special tokens carry -100 (ignored by the loss).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Sequence

from text.encoding import IGNORE_INDEX, TextEncoder
from text.spans.alignment import AlignmentStats, align_spans
from training.annotations import Example

SPLIT_SEED = 13
MIN_EXAMPLES_FOR_SPLIT = 5


@dataclass
class Split:
    """Tasks to train on and to validate on; `validation_is_train` when there were too few to hold any out."""

    train: list[Example]
    validation: list[Example]  # the tasks the deploy decision scores both models on
    validation_is_train: bool
    note: str = ""
    epoch_choice: list[Example] = field(default_factory=list)  # held-out tasks that choose the epoch (may be empty)


def _hash_point(example: Example, seed: int) -> float:
    """The task's place in [0, 1): a hash of its id (its text when it has none), so it never changes."""
    ident = example.task_id if example.task_id is not None else example.text
    digest = hashlib.sha1(f"{seed}:{ident}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_validation(example: Example, fraction: float, seed: int = SPLIT_SEED) -> bool:
    """True when the task belongs to the held-out side: its hash falls in the first `fraction` of the hash space.

    A fixed cut-off in hash space, not a rank among the project's tasks: membership depends on the task alone, so a task
    trained on never turns into a validation task as the project grows (which would let the deploy comparison
    score a model on data it learnt), and a validation task is never trained on by the candidate.
    """
    return _hash_point(example, seed) < fraction


def split_examples(examples: Sequence[Example], fraction: float, seed: int = SPLIT_SEED) -> Split:
    """Hold out the tasks `is_validation` picks (about `fraction` of them).

    With fewer than 5 examples, fraction 0, or a split that leaves one side empty, all are used for training
    and the training set doubles as the validation set (the metrics then flatter the model); `note` says why.
    """
    examples = list(examples)
    n = len(examples)
    if n < MIN_EXAMPLES_FOR_SPLIT or fraction <= 0:
        why = f"only {n} examples" if n < MIN_EXAMPLES_FOR_SPLIT else "VALIDATION_SPLIT is 0"
        return _train_on_all(examples, why)
    held = [is_validation(e, fraction, seed) for e in examples]
    if not any(held) or all(held):
        side = "training" if all(held) else "validation"
        return _train_on_all(examples, f"none of the {n} tasks falls on the {side} side")
    return Split(
        [e for e, h in zip(examples, held) if not h],
        [e for e, h in zip(examples, held) if h],
        False,
    )


def is_epoch_choice(example: Example, fraction: float, seed: int = SPLIT_SEED) -> bool:
    """True for the held-out tasks in the first half of the validation hash range: they choose the best epoch.

    Same fixed cut-off rule as `is_validation`: as the project grows a held-out task never becomes a training
    task, and one that chose an epoch never judges a model later (while a half is still empty every held-out task
    decides, see `with_epoch_choice`; the only move is from deciding to choosing, which biases nothing).
    """
    return _hash_point(example, seed) < fraction / 2


def with_epoch_choice(split: Split, fraction: float, seed: int = SPLIT_SEED) -> Split:
    """The split with its validation side halved: `epoch_choice` picks the best epoch of the candidate and
    `validation` (the other half) decides new-versus-current, so the decision scores no model on the tasks that
    chose its epoch (choosing and judging on one set would favour the candidate).

    Unchanged, with a note, when the training set doubles as validation or a half would be empty.
    """
    if split.validation_is_train:
        return split
    choice = [e for e in split.validation if is_epoch_choice(e, fraction, seed)]
    decision = [e for e in split.validation if not is_epoch_choice(e, fraction, seed)]
    if not choice or not decision:
        note = (
            f"the {len(split.validation)} validation tasks do not fill both halves (epoch choice and "
            f"decision): the last epoch is kept"
        )
        return replace(split, note="; ".join(n for n in (split.note, note) if n))
    return replace(split, validation=decision, epoch_choice=choice)


def _train_on_all(examples: list[Example], why: str) -> Split:
    return Split(examples, examples, True, f"{why}: trained on all and evaluated on the training set")


def encode_examples(
    examples: Sequence[Example], encoder: TextEncoder, tag_ids: dict[str, int]
) -> tuple[dict[str, list], AlignmentStats]:
    """Columns input_ids / attention_mask / labels / example (row's example index), one row per window."""
    stats = AlignmentStats()
    columns: dict[str, list] = {"input_ids": [], "attention_mask": [], "labels": [], "example": []}
    content_end = len(encoder.prefix) + encoder.max_content
    for index, (example, encoded) in enumerate(zip(examples, encoder.encode([e.text for e in examples]))):
        tags, s = align_spans(encoded.words, example.spans)
        stats.add(s)
        for w in encoded.windows:
            labels = [IGNORE_INDEX] * len(w.input_ids)
            for k, position in enumerate(w.first_positions):
                if position < min(content_end, len(w.input_ids) - len(encoder.suffix)):
                    labels[position] = tag_ids[tags[w.window.start + k]]
            columns["input_ids"].append(list(w.input_ids))
            columns["attention_mask"].append([1] * len(w.input_ids))
            columns["labels"].append(labels)
            columns["example"].append(index)
    return columns, stats


def build_dataset(examples: Sequence[Example], encoder: TextEncoder, tag_ids: dict[str, int]):
    """A `datasets.Dataset` of labelled windows (see `encode_examples`) and the alignment counts."""
    from datasets import Dataset

    columns, stats = encode_examples(examples, encoder, tag_ids)
    return Dataset.from_dict(columns), stats
