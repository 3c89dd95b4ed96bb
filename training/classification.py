"""Fine-tuning and scoring a text classifier (Choices) with Hugging Face's `Trainer`.

Classification trains on the path NER shares (`training.hf_training`: `transformers.Trainer` with its linear
warm-up/decay scheduler, length grouping, seeding, the progress callback and the divergence check). What is its
own: the padding collator (`DataCollatorWithPadding`, plus the targets) and the loss, because one head serves
several controls: cross-entropy over each single-choice segment and binary cross-entropy per class of each
multiple-choice segment, each counted only on the examples that label that control (`ChoiceExample.labelled`).

Long texts: every window of a text is one training row with the text's targets (the same windows serve
prediction, where the windows' logits are pooled, see `modeling.classifier`).

Epochs: `num_train_epochs`, raised so a run takes at least `min_train_steps` steps (`training.hf_training.plan_epochs`,
the same rule as NER: a fresh head needs many steps). With held-out tasks to choose on (EPOCH_SELECTION=best), the
macro-F1 of the served decisions is measured after every epoch and the best epoch's weights are kept, as NER keeps
its best entity F1.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np
import torch

from modeling.base_model import LoadedModel
from modeling.classifier import DEFAULT_THRESHOLD, ClassifierPredictor, Segment, class_order
from modeling.device import pick_device
from text.encoding import TextEncoder
from training.classification_data import ChoiceExample
from training.dataset import SPLIT_SEED, Split, _hash_point, split_examples
from training.hf_training import SEED, train_rows, weights_copy

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
THRESHOLD_GRID = tuple(round(t, 2) for t in np.arange(0.05, 0.96, 0.05))


@dataclass
class ClassifierTrainResult:
    history: list[dict] = field(default_factory=list)
    epochs: int = 0
    steps: int = 0
    seconds: float = 0.0
    device: str = "cpu"
    best_epoch: int | None = None  # the epoch whose weights were kept (choose_on), None when the last one is


def encode_rows(examples: Sequence[ChoiceExample], encoder: TextEncoder) -> list[dict]:
    """One row per window: input_ids, targets (float per class), labelled (float per control)."""
    rows = []
    for example, encoded in zip(examples, encoder.encode([e.text for e in examples])):
        for w in encoded.windows:
            rows.append(
                {
                    "input_ids": list(w.input_ids),
                    "attention_mask": [1] * len(w.input_ids),
                    "targets": [float(t) for t in example.targets],
                    "labelled": [float(b) for b in example.labelled],
                }
            )
    return rows


def segment_loss(logits: torch.Tensor, targets: torch.Tensor, labelled: torch.Tensor, segments: list[Segment]):
    """Mean over the labelled (example, control) pairs of each control's loss (see module docstring)."""
    total = logits.new_zeros(())
    count = 0
    for s, (a, b, multiple) in enumerate(segments):
        rows = labelled[:, s] > 0
        if not bool(rows.any()):
            continue
        part, gold = logits[rows, a:b].float(), targets[rows, a:b]
        if multiple:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(part, gold, reduction="sum") / (b - a)
        else:
            loss = torch.nn.functional.cross_entropy(part, gold.argmax(dim=1), reduction="sum")
        total = total + loss
        count += int(rows.sum())
    return total / max(count, 1)


def fine_tune_classifier(
    loaded: LoadedModel,
    train: Sequence[ChoiceExample],
    segments: list[Segment],
    settings,
    progress: Progress | None = None,
    seed: int = SEED,
    choose_on: Sequence[ChoiceExample] = (),
    config=None,
    stop_after: int | None = None,
) -> ClassifierTrainResult:
    """Train `loaded.model` in place with `transformers.Trainer` (`training.hf_training`, the path NER shares); the
    head's classes are the project's, in order.

    choose_on (with the project's `config`): score macro-F1 on these tasks after every epoch and end with the weights
    of the best epoch (the later one on a tie), recorded as `best_epoch`. stop_after: run the planned schedule but
    stop after that many epochs (a fit on all labels repeating a candidate that kept an earlier epoch)."""
    from transformers import DataCollatorWithPadding

    device = pick_device()
    encoder = TextEncoder(loaded.tokenizer, settings.max_sequence_length)
    rows = encode_rows(train, encoder)
    result = ClassifierTrainResult(device=str(device))
    if not rows:
        return result
    pad = DataCollatorWithPadding(loaded.tokenizer)

    def collate(features: list[dict]) -> dict:
        batch = pad([{"input_ids": f["input_ids"], "attention_mask": f["attention_mask"]} for f in features])
        batch["targets"] = torch.tensor([f["targets"] for f in features], dtype=torch.float32)
        batch["labelled"] = torch.tensor([f["labelled"] for f in features], dtype=torch.float32)
        return batch

    def loss_of(model, inputs: dict):
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        return segment_loss(outputs.logits, inputs["targets"], inputs["labelled"], segments), outputs

    best: dict = {}

    def score(epoch: int, entry: dict) -> str:
        if not choose_on:
            return ""
        scored = score_classifier(classifier_predictor(loaded, config, settings), choose_on, config)
        entry["val_macro_f1"] = scored["macro_f1"]
        if not best or scored["macro_f1"] >= best["f1"]:
            best.update(f1=scored["macro_f1"], epoch=epoch, weights=weights_copy(loaded.model))
        return f", validation macro-F1 {scored['macro_f1']:.3f}"

    run = train_rows(loaded.model, rows, collate, loss_of, settings, device, progress, seed, stop_after, score)
    if best:
        result.best_epoch = best["epoch"]
        if best["epoch"] != run.epochs:
            loaded.model.load_state_dict(best["weights"])
    loaded.model.eval()
    result.history, result.epochs, result.steps, result.seconds = run.history, run.epochs, run.steps, run.seconds
    return result


def stratified_split(examples: Sequence[ChoiceExample], fraction: float, seed: int = SPLIT_SEED) -> Split:
    """The task-hash split of `training.dataset.split_examples`, then every class with at least two examples but
    none held out gets its lowest-hash training example moved to the validation side, so rare classes are scored.

    Membership stays a function of the task (its hash) except for those moved tasks, which go back to training
    once their class has a held-out task of its own; a moved task the deployed model trained on can only favour
    the deployed model in the comparison, never the candidate.
    """
    split = split_examples(examples, fraction, seed)
    if split.validation_is_train:
        return split
    train, validation = list(split.train), list(split.validation)
    for c in range(len(examples[0].targets) if examples else 0):
        holders = [e for e in train if e.targets[c] > 0]
        if any(e.targets[c] > 0 for e in validation) or len(holders) < 2:
            continue
        moved = min(holders, key=lambda e: _hash_point(e, seed))
        train.remove(moved)
        validation.append(moved)
    if not train:
        return split
    return replace(split, train=train, validation=validation)


def classifier_predictor(loaded: LoadedModel, config, settings, thresholds: dict[int, float] | None = None):
    """The predictor /predict would build for this model (same windows, pooling and class order)."""
    segments = [(a, b, control.multiple) for control, a, b in config.segments()]
    order = class_order(loaded.tags, loaded.label_map, list(config.labels))
    return ClassifierPredictor(
        loaded.model,
        loaded.tokenizer,
        settings.max_sequence_length,
        settings.inference_batch_size,
        order,
        segments,
        dict(thresholds or {}),
    )


def choose_thresholds(probs: np.ndarray, examples: Sequence[ChoiceExample], config) -> dict[str, float]:
    """Per multiple-choice control, the threshold on THRESHOLD_GRID with the best micro-F1 over its classes on the
    examples that label it (on a tie the one nearest 0.5; 0.5 when no example labels the control)."""
    from sklearn.metrics import f1_score

    chosen = {}
    for s, (control, a, b) in enumerate(config.segments()):
        if not control.multiple:
            continue
        rows = [i for i, e in enumerate(examples) if e.labelled[s]]
        if not rows:
            chosen[control.from_name] = DEFAULT_THRESHOLD
            continue
        gold = np.array([examples[i].targets[a:b] for i in rows]) > 0.5
        best = (-1.0, 0.0, DEFAULT_THRESHOLD)
        for t in THRESHOLD_GRID:
            f1 = f1_score(gold, probs[rows, a:b] >= t, average="micro", zero_division=0)
            best = max(best, (float(f1), -abs(t - DEFAULT_THRESHOLD), t))
        chosen[control.from_name] = best[2]
    return chosen


def score_classifier(predictor: ClassifierPredictor, examples: Sequence[ChoiceExample], config) -> dict:
    """Metrics (scikit-learn) of the served decisions on `examples`.

    Per control: accuracy (exact set match for multiple choice), macro-F1 and, for multiple choice, micro-F1;
    per class precision/recall/F1/support; a confusion matrix for single choice. `macro_f1` and `accuracy` at the
    top are the means over the controls: `macro_f1` is what DEPLOY_POLICY=if_better compares.
    """
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

    outputs = predictor.predict([e.text for e in examples]) if examples else []
    n = len(config.labels)
    probs = np.array([o.probs if o.probs.size else np.zeros(n) for o in outputs]).reshape(-1, n)
    controls, per_type, reports = {}, {}, []
    for s, (control, a, b) in enumerate(config.segments()):
        rows = [i for i, e in enumerate(examples) if e.labelled[s]]
        if not rows:
            continue
        names = list(control.choices)
        gold = np.array([examples[i].targets[a:b] for i in rows]) > 0.5
        decided = [predictor.decide(probs[i])[s] for i in rows]
        pred = np.zeros_like(gold)
        for r, picked in enumerate(decided):
            pred[r, [p - a for p in picked]] = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if control.multiple:
                figures = {
                    "accuracy": float(accuracy_score(gold, pred)),
                    "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
                    "micro_f1": float(f1_score(gold, pred, average="micro", zero_division=0)),
                    "threshold": predictor.thresholds.get(s, DEFAULT_THRESHOLD),
                }
                y_true, y_pred = gold, pred
                labels_arg = {}
            else:
                y_true, y_pred = gold.argmax(axis=1), pred.argmax(axis=1)
                labels_arg = {"labels": list(range(len(names)))}
                figures = {
                    "accuracy": float(accuracy_score(y_true, y_pred)),
                    "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0, **labels_arg)),
                    "confusion_matrix": confusion_matrix(y_true, y_pred, **labels_arg).tolist(),
                }
            report = classification_report(
                y_true, y_pred, target_names=names, output_dict=True, zero_division=0, **labels_arg
            )
            reports.append(
                f"{control.from_name}:\n"
                + classification_report(y_true, y_pred, target_names=names, digits=3, zero_division=0, **labels_arg)
            )
        figures["examples"] = len(rows)
        controls[control.from_name] = figures
        prefix = "" if len(config.controls) == 1 else f"{control.from_name}:"
        per_type.update(
            {
                prefix + name: {
                    "precision": float(report[name]["precision"]),
                    "recall": float(report[name]["recall"]),
                    "f1": float(report[name]["f1-score"]),
                    "support": int(report[name]["support"]),
                }
                for name in names
            }
        )
    scored = list(controls.values())
    return {
        "accuracy": float(np.mean([c["accuracy"] for c in scored])) if scored else 0.0,
        "macro_f1": float(np.mean([c["macro_f1"] for c in scored])) if scored else 0.0,
        "examples": len(examples),
        "controls": controls,
        "per_type": per_type,
        "report_text": "\n".join(reports) or "no labelled examples\n",
        "probs": probs,
    }
