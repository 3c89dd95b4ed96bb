"""Examples to model inputs: a deterministic task-level train/validation split and tokenised, labelled windows.

Windows come from `ner.encoding.TextEncoder`, the encoder prediction uses, so a model is trained on exactly the
inputs it will later see. In each window the first sub-token of every word carries the word's tag id; other
sub-tokens and special tokens carry -100 (ignored by the loss).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

from ner.encoding import IGNORE_INDEX, TextEncoder
from training.alignment import AlignmentStats, align_spans
from training.annotations import Example

SPLIT_SEED = 13
MIN_EXAMPLES_FOR_SPLIT = 5


@dataclass
class Split:
    """Tasks to train on and to validate on; `validation_is_train` when there were too few to hold any out."""

    train: list[Example]
    validation: list[Example]
    validation_is_train: bool
    note: str = ""


def _split_key(example: Example, seed: int) -> str:
    ident = example.task_id if example.task_id is not None else example.text
    return hashlib.sha1(f"{seed}:{ident}".encode("utf-8")).hexdigest()


def split_examples(examples: Sequence[Example], fraction: float, seed: int = SPLIT_SEED) -> Split:
    """Hold out `fraction` of the tasks (at least one), chosen by a hash of the task id.

    Hashing the task id instead of shuffling positions keeps a task on the same side of the split however the
    list is ordered, and mostly so as the project grows. With fewer than 5 examples, or fraction 0, all are
    used for training and the training set doubles as the validation set (the metrics then flatter the model).
    """
    examples = list(examples)
    n = len(examples)
    if n < MIN_EXAMPLES_FOR_SPLIT or fraction <= 0:
        why = f"only {n} examples" if n < MIN_EXAMPLES_FOR_SPLIT else "VALIDATION_SPLIT is 0"
        return Split(examples, examples, True, f"{why}: trained on all and evaluated on the training set")
    n_val = min(n - 1, max(1, round(n * fraction)))
    order = sorted(range(n), key=lambda i: (_split_key(examples[i], seed), i))
    held = set(order[:n_val])
    return Split(
        [e for i, e in enumerate(examples) if i not in held],
        [e for i, e in enumerate(examples) if i in held],
        False,
    )


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
