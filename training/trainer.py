"""Fine-tuning: choose the starting model (base checkpoint or warm start), fit its head to the project's labels, train.

A plain torch loop rather than `transformers.Trainer`: on a 2-core CPU it avoids the Trainer's per-step
overhead, and it reports per-epoch loss and validation scores through one `progress(fraction, message)` call.
Batches are padded by `DataCollatorForTokenClassification` and grouped by length so little time goes to padding.

Why `min_train_steps`: a fresh classification head on the small default encoder needs many optimisation steps
before it predicts anything but O. Measured on 50 news-style sentences: 1 epoch gave entity F1 0.00, while
30 epochs at lr 1e-4 (about 150 steps) gave 0.58. So with few annotations the number of epochs is raised until
the run takes at least `min_train_steps` steps; with many annotations `num_train_epochs` governs.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from modeling.base_model import LoadedModel, load_base_model, load_saved_model, match_labels
from modeling.cache import version_kind
from modeling.device import pick_device
from modeling.inference import Predictor
from text.encoding import IGNORE_INDEX, TextEncoder
from text.spans.alignment import AlignmentStats
from text.spans.bio import bio_tags, parse_tag, tag_labels
from training.annotations import Example
from training.dataset import build_dataset
from training.evaluation import evaluate_model, summary

log = logging.getLogger(__name__)

SEED = 13
WARMUP_FRACTION = 0.1
Progress = Callable[[float, str], None]


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite (usually LEARNING_RATE is far too high); no version is saved."""


CANDIDATE_DIR = "candidate"  # in a version fitted on all labels: the same recipe on the training side only


@dataclass
class StartingPoint:
    """The model a new candidate must beat (`current`, scored on the validation split) and where training starts.

    `current` is a model that never trained on the validation tasks: the deployed version's candidate when the
    version was fitted on all labels (FINAL_FIT=all), else the deployed version itself, else the base model.
    """

    current: LoadedModel
    current_version: str | None  # the deployed version, or None when the base model serves
    source: str  # what `current` is: "deployed:<version>", "deployed:<version>/candidate" or "base:<name>"
    train_from_current: bool  # the candidate continues from `current` (warm, or the base model when none deployed)
    served_path: str | None = None  # the deployed version's own weights, where a warm fit on all labels continues
    label_map: dict = field(default_factory=dict)  # the deployed version's labels -> the project's


def base_model_name(settings) -> str:
    return settings.finetuned_model_name or settings.baseline_model_name


def base_source(settings) -> str:
    """How a start from the base checkpoint is recorded in a version's meta and in MLflow."""
    return f"base:{base_model_name(settings) or 'default'}"


def load_starting_point(project: str, config, settings, store) -> StartingPoint:
    """The baseline to beat and whether the candidate trains on from it (see `StartingPoint`).

    With TRAINING_START=warm the candidate continues from the deployed version when that knows at least one of the
    project's labels; a project whose labels all changed starts again from the base checkpoint (and is still
    compared with the deployed one). With TRAINING_START=scratch it always starts from the base checkpoint.
    """
    labels = list(config.labels)
    version = store.deployed(project)
    info = store.get(project, version) if version else None
    if info is not None and version_kind(info.meta) == "choices":  # a classifier holds no NER model to start from
        log.info(
            "project %s: deployed %s is a classification version; NER starts from the base model", project, version
        )
        info = None
    if info is not None:
        label_map = match_labels(info.meta.get("labels", []), labels, config.predicted_values)
        path, source = _unseen_weights(info)
        current = load_saved_model(str(path), label_map)
        warm = settings.training_start == "warm" and bool(label_map)
        return StartingPoint(current, version, source, warm, str(info.path), dict(label_map))
    current = load_base_model(base_model_name(settings), labels, config.predicted_values)
    return StartingPoint(current, None, base_source(settings), train_from_current=True)


def _unseen_weights(info) -> tuple[Path, str]:
    """(path, source) of the version's weights that never trained on validation tasks: its candidate if it kept one."""
    candidate = info.path / CANDIDATE_DIR
    if candidate.is_dir():
        return candidate, f"deployed:{info.name}/{CANDIDATE_DIR}"
    return info.path, f"deployed:{info.name}"


def fresh_start(settings, config) -> LoadedModel:
    return load_base_model(base_model_name(settings), list(config.labels), config.predicted_values)


def final_fit_start(start: StartingPoint, settings, config) -> tuple[LoadedModel, str]:
    """(model, source) the fit on all labels starts from: the candidate's recipe, on the served side.

    Warm from a deployed version: its own weights (the candidate continued from the ones that never saw the
    validation tasks). Otherwise the base checkpoint, as for the candidate.
    """
    if start.train_from_current and start.served_path:
        return load_saved_model(start.served_path, start.label_map), f"deployed:{start.current_version}"
    return fresh_start(settings, config), base_source(settings)


def adapt_head(loaded: LoadedModel, project_labels: Sequence[str], seed: int = SEED) -> list[str]:
    """Rename the model's tags to project labels and add B-/I- rows for labels it lacks; returns the tags.

    Rows the model already has are kept as they are (nothing learnt is lost, including labels the project does
    not use); new rows start small and random, seeded. Modifies `loaded.model` in place.
    """
    model = loaded.model
    rename = loaded.label_map  # model label -> project label
    tags = []
    for tag in loaded.tags:
        prefix, label = parse_tag(tag)
        tags.append(tag if label is None or label not in rename else f"{prefix}-{rename[label]}")
    missing = [t for t in bio_tags(list(project_labels))[1:] if t not in tags]
    if missing:
        head = getattr(model, "classifier", None)
        if not isinstance(head, torch.nn.Linear):
            raise TypeError(f"cannot extend the head of {type(model).__name__}: no Linear `classifier`")
        std = float(getattr(model.config, "initializer_range", 0.02))
        new = torch.nn.Linear(head.in_features, head.out_features + len(missing), bias=head.bias is not None)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            new.weight.normal_(0.0, std, generator=generator)
            new.weight[: head.out_features] = head.weight
            if head.bias is not None:
                new.bias.zero_()
                new.bias[: head.out_features] = head.bias
        model.classifier = new.to(head.weight.device, head.weight.dtype)
        tags += missing
        log.info("extended the classifier head with %s", missing)
    model.num_labels = len(tags)
    model.config.num_labels = len(tags)
    model.config.id2label = dict(enumerate(tags))
    model.config.label2id = {t: i for i, t in enumerate(tags)}
    loaded.tags = tags
    loaded.label_map = {label: label for label in tag_labels(tags) if label in project_labels}
    return tags


@dataclass
class TrainResult:
    """What a fine-tuning run did: per-epoch history, step counts, timing and the alignment of its data."""

    history: list[dict] = field(default_factory=list)
    epochs: int = 0
    steps: int = 0
    seconds: float = 0.0
    seconds_per_step: float = 0.0
    alignment: AlignmentStats = field(default_factory=AlignmentStats)
    device: str = "cpu"
    best_epoch: int | None = None  # the epoch whose weights were kept (keep_best), None when the last one is


def plan_epochs(rows: int, batch_size: int, num_train_epochs: int, min_train_steps: int) -> tuple[int, int]:
    """(epochs, steps per epoch): `num_train_epochs`, raised so the run takes at least `min_train_steps` steps."""
    per_epoch = max(1, math.ceil(rows / batch_size))
    epochs = max(num_train_epochs, math.ceil(min_train_steps / per_epoch))
    return epochs, per_epoch


def length_grouped_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar lengths: shuffle, sort within chunks of 50 batches, shuffle batch order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for c in range(0, len(order), chunk):
        part = sorted(order[c : c + chunk], key=lambda i: lengths[i], reverse=True)
        batches += [part[b : b + batch_size] for b in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fine_tune(
    loaded: LoadedModel,
    train: Sequence[Example],
    validation: Sequence[Example],
    settings,
    progress: Progress | None = None,
    seed: int = SEED,
    keep_best: bool = False,
    stop_after: int | None = None,
) -> TrainResult:
    """Train `loaded.model` in place on `train`; score `validation` after every epoch (entity F1 of served spans).

    keep_best: end with the weights of the epoch with the highest validation F1 (the later one on a tie: more
    training at equal score), recorded as `best_epoch`. stop_after: run the planned schedule (learning rate
    included) but stop after that many epochs, to repeat a run that kept an earlier epoch on more data.
    """
    from transformers import DataCollatorForTokenClassification

    progress = progress or (lambda fraction, message: None)
    seed_everything(seed)
    device = pick_device()
    model, tokenizer, tags = loaded.model.to(device), loaded.tokenizer, loaded.tags
    tag_ids = {t: i for i, t in enumerate(tags)}
    encoder = TextEncoder(tokenizer, settings.max_sequence_length)
    dataset, alignment = build_dataset(train, encoder, tag_ids)
    result = TrainResult(alignment=alignment, device=str(device))
    if len(dataset) == 0:
        return result
    planned, per_epoch = plan_epochs(
        len(dataset), settings.batch_size, settings.num_train_epochs, settings.min_train_steps
    )
    total = planned * per_epoch
    epochs = min(planned, stop_after) if stop_after else planned
    result.epochs = epochs
    run_steps = epochs * per_epoch  # what progress counts; the schedule spans the planned `total`
    best: tuple[float, dict] | None = None
    collator = DataCollatorForTokenClassification(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX)
    features = [
        {"input_ids": r["input_ids"], "attention_mask": r["attention_mask"], "labels": r["labels"]} for r in dataset
    ]
    lengths = [len(f["input_ids"]) for f in features]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n or "norm" in n.lower()]
    decay = [
        p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n or "norm" in n.lower())
    ]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings.learning_rate,
    )
    warmup = max(1, int(total * WARMUP_FRACTION))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
    )
    rng = random.Random(seed)
    started = time.perf_counter()
    train_seconds = 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        epoch_start = time.perf_counter()
        losses = []
        for batch_rows in length_grouped_batches(lengths, settings.batch_size, rng):
            batch = collator([features[i] for i in batch_rows])
            batch = {k: v.to(device) for k, v in batch.items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            loss = torch.nn.functional.cross_entropy(
                logits.view(-1, logits.shape[-1]).float(), batch["labels"].view(-1), ignore_index=IGNORE_INDEX
            )
            if not torch.isfinite(loss):
                raise TrainingDivergedError(
                    f"loss became {loss.item()} at epoch {epoch}: lower LEARNING_RATE (now {settings.learning_rate})"
                )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            result.steps += 1
            progress(result.steps / run_steps * 0.95, f"epoch {epoch}/{epochs}, step {result.steps}/{run_steps}")
        train_seconds += time.perf_counter() - epoch_start
        entry = {"epoch": epoch, "loss": float(np.mean(losses)), "steps": result.steps}
        if validation:
            predictor = Predictor(model, tokenizer, settings.max_sequence_length, settings.inference_batch_size)
            scores = evaluate_model(predictor, tags, validation, loaded.label_map)
            entry.update({f"val_{k}": v for k, v in summary(scores).items() if k not in ("examples", "words")})
        result.history.append(entry)
        if keep_best and validation and (best is None or entry["val_entity_f1"] >= best[0]):
            best = (entry["val_entity_f1"], _weights_copy(model))
            result.best_epoch = epoch
        progress(
            result.steps / run_steps * 0.95,
            f"epoch {epoch}/{epochs}: loss {entry['loss']:.4f}"
            + (f", validation F1 {entry['val_entity_f1']:.3f}" if "val_entity_f1" in entry else ""),
        )
    if best is not None and result.best_epoch != epochs:
        model.load_state_dict(best[1])
    model.eval()
    result.seconds = time.perf_counter() - started
    result.seconds_per_step = train_seconds / max(1, result.steps)
    progress(1.0, f"trained {result.steps} steps in {result.seconds:.0f} s")
    return result


def _weights_copy(model: torch.nn.Module) -> dict:
    """A CPU copy of the model's weights (the best epoch's, kept while training goes on)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
