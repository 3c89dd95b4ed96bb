"""The one training path of both task types: Hugging Face's `Trainer`, set up from our settings.

NER (`training.trainer.fine_tune`) and classification (`training.classification.fine_tune_classifier`) both call
`train_rows`; each passes only what is its own: the rows, the collator and the loss. What they share is here:

- the epoch plan (`plan_epochs`): `NUM_TRAIN_EPOCHS`, raised so the run takes at least `MIN_TRAIN_STEPS` steps;
- the `TrainingArguments` built from the settings: learning rate, batch size, weight decay, AdamW, a linear
  warm-up over `WARMUP_FRACTION` of the planned steps then linear decay, gradient clipping at 1.0, batches grouped
  by length (`group_by_length`), the seed;
- a `TrainerCallback` that reports `progress(fraction, message)` after every step and every epoch (the job's
  heartbeat and progress; fractions only rise, up to 0.95), keeps a per-epoch history (mean loss, steps), lets the
  caller score the epoch (`on_epoch`) and stops early after `stop_after` epochs while the learning-rate schedule
  still spans the planned ones;
- the divergence check: a loss that is NaN or infinite raises `TrainingDivergedError` at once.
"""

from __future__ import annotations

import math
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

SEED = 13
WARMUP_FRACTION = 0.1
Progress = Callable[[float, str], None]
LossOf = Callable[[torch.nn.Module, dict], tuple[torch.Tensor, object]]  # (model, batch) -> (loss, model outputs)
OnEpoch = Callable[[int, dict], str]  # (epoch, history entry) -> text added to the epoch's progress message


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite (usually LEARNING_RATE is far too high); no version is saved."""


def weights_copy(model: torch.nn.Module) -> dict:
    """A CPU copy of the model's weights (EPOCH_SELECTION=best keeps the best epoch's while training goes on)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def plan_epochs(rows: int, batch_size: int, num_train_epochs: int, min_train_steps: int) -> tuple[int, int]:
    """(epochs, steps per epoch): `num_train_epochs`, raised so the run takes at least `min_train_steps` steps."""
    per_epoch = max(1, math.ceil(rows / batch_size))
    epochs = max(num_train_epochs, math.ceil(min_train_steps / per_epoch))
    return epochs, per_epoch


def check_finite(loss: torch.Tensor, epoch: int, learning_rate: float) -> None:
    if not torch.isfinite(loss):
        raise TrainingDivergedError(
            f"loss became {loss.item()} at epoch {epoch}: lower LEARNING_RATE (now {learning_rate})"
        )


@dataclass
class Run:
    """What `train_rows` did: per-epoch history, epochs and steps run, seconds in total and in the training steps."""

    history: list[dict] = field(default_factory=list)
    epochs: int = 0
    steps: int = 0
    seconds: float = 0.0
    train_seconds: float = 0.0  # the epochs' steps only, not the setup nor the per-epoch scoring


def training_arguments(settings, output_dir: str, epochs: int, seed: int, device: torch.device):
    """Our settings as `TrainingArguments`: the same for NER and classification."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=epochs,
        per_device_train_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        warmup_steps=WARMUP_FRACTION,  # below 1: a fraction of the planned steps
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        seed=seed,
        data_seed=seed,
        train_sampling_strategy="group_by_length",
        length_column_name="length",
        remove_unused_columns=False,
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",  # the callback keeps the history and reports progress
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        use_cpu=device.type == "cpu",
    )


def train_rows(
    model: torch.nn.Module,
    rows: Sequence[dict],
    collate: Callable[[list[dict]], dict],
    loss_of: LossOf,
    settings,
    device: torch.device,
    progress: Progress | None = None,
    seed: int = SEED,
    stop_after: int | None = None,
    on_epoch: OnEpoch | None = None,
) -> Run:
    """Train `model` in place on `rows` (dicts with `input_ids`, batched by `collate`) with `transformers.Trainer`.

    The schedule is planned by `plan_epochs`; with `stop_after` the run stops after that many epochs (the learning
    rate still follows the planned schedule). `on_epoch(epoch, entry)` runs after each epoch's steps, may add to the
    history entry (e.g. validation scores) and returns text for the epoch's progress message.
    """
    from datasets import Dataset
    from transformers import PrinterCallback, Trainer, TrainerCallback

    report = progress or (lambda fraction, message: None)
    run = Run()
    if not rows:
        return run
    planned, per_epoch = plan_epochs(
        len(rows), settings.batch_size, settings.num_train_epochs, settings.min_train_steps
    )
    run.epochs = min(planned, stop_after) if stop_after else planned
    run_steps = run.epochs * per_epoch  # what progress counts; the schedule spans the planned epochs
    losses: list[torch.Tensor] = []

    class LossTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, **kwargs):
            loss, outputs = loss_of(model, inputs)
            check_finite(loss, len(run.history) + 1, settings.learning_rate)
            losses.append(loss.detach())
            return (loss, outputs) if return_outputs else loss

    class Report(TrainerCallback):
        epoch_started = 0.0

        def on_epoch_begin(self, args, state, control, **kwargs):
            self.epoch_started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            step, epoch = state.global_step, len(run.history) + 1
            report(step / run_steps * 0.95, f"epoch {epoch}/{run.epochs}, step {step}/{run_steps}")

        def on_epoch_end(self, args, state, control, **kwargs):
            run.train_seconds += time.perf_counter() - self.epoch_started
            epoch = len(run.history) + 1
            entry = {"epoch": epoch, "loss": float(torch.stack(losses).mean()), "steps": state.global_step}
            losses.clear()
            extra = on_epoch(epoch, entry) if on_epoch else ""
            run.history.append(entry)
            report(state.global_step / run_steps * 0.95, f"epoch {epoch}/{run.epochs}: loss {entry['loss']:.4f}{extra}")
            if epoch >= run.epochs:
                control.should_training_stop = True

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        trainer = LossTrainer(
            model=model,
            args=training_arguments(settings, out, planned, seed, device),
            train_dataset=Dataset.from_list([{**row, "length": len(row["input_ids"])} for row in rows]),
            data_collator=collate,
            callbacks=[Report()],
        )
        trainer.remove_callback(PrinterCallback)  # progress goes through `progress`, not stdout
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = trainer.train()
    model.eval()
    run.steps = int(output.global_step)
    run.seconds = time.perf_counter() - started
    report(1.0, f"trained {run.steps} steps in {run.seconds:.0f} s")
    return run
