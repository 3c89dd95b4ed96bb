"""Bench: fine-tune the default base model on generated tasks and report held-out F1 and time per step.

    HF_HUB_OFFLINE=1 python -m bench.training_time --train 50 --test 200 [--lr 1e-4 --epochs 10 ...]
    HF_HUB_OFFLINE=1 python -m bench.training_time --conll ../shared/data/conll2003 --train 1000 --epochs 1

`--conll DIR` reads CoNLL-2003 style `token<TAB>tag` files (train.tsv, test.tsv) from DIR at run time instead of
the generated corpus: real news sentences are longer, so this gives the realistic time per step. The data is
read from where it lies and never copied into the project.

Prints the held-out strict-IOB2 entity F1, the measured seconds per optimisation step, and the extrapolated
time to retrain on 1,000 annotations with the same settings (steps for 800 training tasks x seconds per step).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def read_conll(path: Path, limit: int):
    """The first `limit` sentences of an IOB2 `token<TAB>tag` file as Examples (the benchmark's reader)."""
    from bench.conll import read_conll as read_all

    return read_all(path)[:limit]


def main() -> None:
    from bench.corpus import LABEL_CONFIG, make_tasks
    from modeling.inference import Predictor
    from settings import Settings
    from text.label_config import parse_ner_config
    from training.annotations import tasks_to_examples
    from training.dataset import split_examples
    from training.evaluation import evaluate_model
    from training.trainer import adapt_head, fine_tune, fresh_start, plan_epochs

    p = argparse.ArgumentParser()
    p.add_argument("--train", type=int, default=50)
    p.add_argument("--test", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float)
    p.add_argument("--epochs", type=int)
    p.add_argument("--min-steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--conll", help="directory with train.tsv/test.tsv (token<TAB>tag, blank line between sentences)")
    a = p.parse_args()
    env = {"MODEL_DIR": "/tmp/nerb-bench"}
    for key, value in (
        ("LEARNING_RATE", a.lr),
        ("NUM_TRAIN_EPOCHS", a.epochs),
        ("MIN_TRAIN_STEPS", a.min_steps),
        ("BATCH_SIZE", a.batch_size),
    ):
        if value is not None:
            env[key] = str(value)
    settings = Settings.from_env(env)
    config = parse_ner_config(LABEL_CONFIG)
    if a.conll:
        examples = read_conll(Path(a.conll) / "train.tsv", a.train)
        test = read_conll(Path(a.conll) / "test.tsv", a.test)
    else:
        examples, _ = tasks_to_examples(make_tasks(a.train, seed=a.seed), config)
        test, _ = tasks_to_examples(make_tasks(a.test, seed=a.seed + 1000, start_id=100_000), config)
    split = split_examples(examples, settings.validation_split)
    loaded = fresh_start(settings, config)
    adapt_head(loaded, config.labels)
    t0 = time.perf_counter()
    result = fine_tune(
        loaded,
        split.train,
        split.validation,
        settings,
        progress=lambda f, m: print(m) if m.startswith("epoch") and ":" in m else None,
    )
    seconds = time.perf_counter() - t0
    predictor = Predictor(loaded.model, loaded.tokenizer, settings.max_sequence_length)
    scores = evaluate_model(predictor, loaded.tags, test, loaded.label_map)
    rows_1000 = int(1000 * (1 - settings.validation_split))
    epochs, per_epoch = plan_epochs(rows_1000, settings.batch_size, settings.num_train_epochs, settings.min_train_steps)
    print(
        f"settings: lr={settings.learning_rate} epochs={settings.num_train_epochs} "
        f"min_steps={settings.min_train_steps} batch={settings.batch_size}"
    )
    print(
        f"trained {len(split.train)} tasks: {result.epochs} epochs, {result.steps} steps, {seconds:.1f} s "
        f"({result.seconds_per_step:.3f} s/step)"
    )
    print(f"held-out entity F1 (strict IOB2) on {len(test)} tasks: {scores['entity_f1']:.3f}")
    print(scores["report_text"])
    print(
        f"1,000 annotations -> {rows_1000} training tasks, {epochs} x {per_epoch} = {epochs * per_epoch} steps, "
        f"about {epochs * per_epoch * result.seconds_per_step / 60:.1f} min at the measured s/step"
    )


if __name__ == "__main__":
    main()
