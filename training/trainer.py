"""Fine-tuning: choose the starting model (base checkpoint or warm start), fit its head to the project's labels, train.

Training goes through Hugging Face's `Trainer`, on the path classification shares (`training.hf_training`: the
epoch plan, the `TrainingArguments` built from the settings, seeding, length-grouped batches, the progress callback
and the divergence check). What is NER's own is here: the rows (`training.dataset`), the padding collator
(`DataCollatorForTokenClassification`), the per-token loss, and the validation after every epoch that
EPOCH_SELECTION=best uses to keep the best epoch's weights.

This replaced a hand-written torch loop that was kept to avoid the `Trainer`'s per-step overhead. Measured on a
busy 2-core CPU, one thread, both versions run side by side (`bench.simulate`, CoNLL-2003, pool 300, seeds 0 and
1, budgets 50 and 100, six fits of 154-156 steps each): 0.609 s per step with `Trainer` against 0.651 s for the
loop (wall time of the fit), and entity F1 0.568 against 0.552 on average over the rows (higher in every row);
one epoch on 470 CoNLL-2003 sentences (`bench.training_time`, 59 steps, twice): 0.43 s per step against 0.60 s.
No per-step overhead shows next to the default encoder's forward and backward passes (the `Trainer`'s default
fused AdamW is a likely reason it is faster, not measured apart).

Why `min_train_steps`: a fresh classification head on the small default encoder needs many optimisation steps
before it predicts anything but O. Measured on 50 news-style sentences: 1 epoch gave entity F1 0.00, while
30 epochs at lr 1e-4 (about 150 steps) gave 0.58. So with few annotations the number of epochs is raised until
the run takes at least `min_train_steps` steps; with many annotations `num_train_epochs` governs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

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
from training.hf_training import SEED, Progress, TrainingDivergedError, plan_epochs, train_rows, weights_copy

__all__ = ["SEED", "Progress", "TrainingDivergedError", "plan_epochs"]  # re-exported: callers import them from here

log = logging.getLogger(__name__)

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

    device = pick_device()
    model, tokenizer, tags = loaded.model.to(device), loaded.tokenizer, loaded.tags
    encoder = TextEncoder(tokenizer, settings.max_sequence_length)
    dataset, alignment = build_dataset(train, encoder, {t: i for i, t in enumerate(tags)})
    result = TrainResult(alignment=alignment, device=str(device))
    if len(dataset) == 0:
        return result
    rows = [{key: r[key] for key in ("input_ids", "attention_mask", "labels")} for r in dataset]
    collate = DataCollatorForTokenClassification(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX)
    best: dict = {}

    def score(epoch: int, entry: dict) -> str:
        """Validation scores of the epoch's weights; with keep_best, a copy of the best weights so far."""
        if not validation:
            return ""
        predictor = Predictor(model, tokenizer, settings.max_sequence_length, settings.inference_batch_size)
        scores = evaluate_model(predictor, tags, validation, loaded.label_map)
        entry.update({f"val_{k}": v for k, v in summary(scores).items() if k not in ("examples", "words")})
        if keep_best and (not best or entry["val_entity_f1"] >= best["f1"]):
            best.update(f1=entry["val_entity_f1"], epoch=epoch, weights=weights_copy(model))
        return f", validation F1 {entry['val_entity_f1']:.3f}"

    run = train_rows(model, rows, collate, token_loss, settings, device, progress, seed, stop_after, score)
    if best:
        result.best_epoch = best["epoch"]
        if best["epoch"] != run.epochs:
            model.load_state_dict(best["weights"])
    model.eval()
    result.history, result.epochs, result.steps, result.seconds = run.history, run.epochs, run.steps, run.seconds
    result.seconds_per_step = run.train_seconds / max(1, run.steps)
    return result


def token_loss(model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, object]:
    """Cross-entropy per token over the tags, padding and continuation pieces (IGNORE_INDEX) left out."""
    outputs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    logits = outputs.logits
    loss = torch.nn.functional.cross_entropy(
        logits.view(-1, logits.shape[-1]).float(), batch["labels"].view(-1), ignore_index=IGNORE_INDEX
    )
    return loss, outputs
