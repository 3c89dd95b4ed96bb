"""How many labelled examples before the first training pays off? Held-out F1 vs initial set size, 5 folds.

    HF_HUB_OFFLINE=1 python -m bench.kfold --subsample 500 --sizes 10 25 50 100 200 --folds 5 --out bench/results

A fixed-seed subsample of the training file is cut into `folds` parts. For each fold, the other parts are the
candidates: the first k of them (one fixed shuffle, so sets are nested) train a fresh model with the service's
own settings and code (`training.trainer`), and the held-out part scores it (`training.evaluation`, seqeval
strict IOB2 entity F1). The curve guides START_TRAINING_EACH_N_UPDATES and the active-learning seed size.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402

from bench.conll import CONLL_DIR, labels_of, read_conll, subsample  # noqa: E402

PREFIX = "kfold_"
FIELDS = [
    "fold",
    "size",
    "entity_f1",
    "entity_precision",
    "entity_recall",
    "train_seconds",
    "steps",
    "epochs",
    "test_size",
    "seqeval_mode",
]


def fold_indices(n: int, folds: int, seed: int) -> list[list[int]]:
    """`folds` disjoint, near-equal parts of range(n) after one seeded shuffle."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [sorted(order[f::folds]) for f in range(folds)]


def conclusion(sizes: Sequence[int], means: Sequence[float], plateau_share: float = 0.8) -> str:
    """The smallest size whose mean F1 reaches `plateau_share` of the largest size's, stated as a guide."""
    best = means[-1] if means else 0.0
    first_useful = next((s for s, m in zip(sizes, means) if m > 0.05), None)
    near = next((s for s, m in zip(sizes, means) if best > 0 and m >= plateau_share * best), None)
    parts = []
    if first_useful is None:
        parts.append("no size gave a useful model (F1 > 0.05)")
    else:
        parts.append(f"the first size with a useful model (mean F1 > 0.05) is {first_useful}")
    if near is not None:
        parts.append(f"{int(plateau_share * 100)}% of the F1 at {sizes[-1]} examples is reached at {near}")
    return "; ".join(parts) + "."


def main(argv: Sequence[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.kfold", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=str(CONLL_DIR))
    p.add_argument("--subsample", type=int, default=500, help="sentences drawn from train.tsv (fixed seed)")
    p.add_argument("--sizes", nargs="+", type=int, default=[10, 25, 50, 100, 200])
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int)
    p.add_argument("--min-steps", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--threads", type=int)
    p.add_argument("--out", default=str(REPO / "bench" / "results"))
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    argv_list = list(sys.argv[1:] if argv is None else argv)

    import torch
    from transformers.utils import logging as hf_logging

    from bench.active.lab import Lab
    from bench.plots import plot_kfold
    from bench.simulate import machine_info, settings_from_args

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.batch_size = None
    settings = settings_from_args(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = subsample(read_conll(Path(args.data_dir) / "train.tsv"), args.subsample, args.seed)
    parts = fold_indices(len(data), args.folds, args.seed)
    sizes = sorted(args.sizes)
    largest = len(data) - max(len(part) for part in parts)
    if sizes[-1] > largest:
        raise SystemExit(f"--sizes up to {sizes[-1]} need more than {largest} training candidates per fold")
    lab = Lab(labels_of(data), settings)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(parts) * len(sizes), desc="k-fold trainings", unit="run", dynamic_ncols=True)
    rows = []
    started_all = time.perf_counter()
    csv_path = out / f"{PREFIX}results.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        for fold, held in enumerate(parts):
            held_set = set(held)
            candidates = [i for i in range(len(data)) if i not in held_set]
            random.Random(args.seed * 100 + fold).shuffle(candidates)
            test = [data[i] for i in held]
            for size in sizes:
                started = time.perf_counter()
                model = lab.fresh()
                trained = lab.train(model, [data[i] for i in candidates[:size]], args.seed * 100 + fold)
                seconds = time.perf_counter() - started
                metrics = lab.evaluate(model, test)
                row = {
                    "fold": fold,
                    "size": size,
                    "entity_f1": metrics["entity_f1"],
                    "entity_precision": metrics["entity_precision"],
                    "entity_recall": metrics["entity_recall"],
                    "train_seconds": round(seconds, 2),
                    "steps": trained.steps,
                    "epochs": trained.epochs,
                    "test_size": len(test),
                    "seqeval_mode": metrics["seqeval_mode"],
                }
                rows.append(row)
                writer.writerow(row)
                handle.flush()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix_str(f"fold {fold} k={size} F1 {metrics['entity_f1']:.3f}")
    if bar is not None:
        bar.close()
    means = [float(np.mean([r["entity_f1"] for r in rows if r["size"] == s])) for s in sizes]
    mins = [float(np.min([r["entity_f1"] for r in rows if r["size"] == s])) for s in sizes]
    maxs = [float(np.max([r["entity_f1"] for r in rows if r["size"] == s])) for s in sizes]
    steps = [float(np.mean([r["steps"] for r in rows if r["size"] == s])) for s in sizes]
    secs = [float(np.mean([r["train_seconds"] for r in rows if r["size"] == s])) for s in sizes]
    plot_kfold(
        sizes,
        means,
        mins,
        maxs,
        out / f"{PREFIX}f1_vs_size.png",
        title=f"{args.folds}-fold held-out entity F1 vs initial labelled examples",
    )
    text = conclusion(sizes, means)
    table = [
        "| labelled examples | mean F1 | min F1 | max F1 | mean steps | mean train s |",
        "|---|---|---|---|---|---|",
    ]
    table += [
        f"| {s} | {m:.3f} | {lo:.3f} | {hi:.3f} | {st:.0f} | {sec:.0f} |"
        for s, m, lo, hi, st, sec in zip(sizes, means, mins, maxs, steps, secs)
    ]
    command = "python -m bench.kfold " + " ".join(argv_list)
    summary = {
        "command": command,
        "sizes": sizes,
        "mean_f1": means,
        "min_f1": mins,
        "max_f1": maxs,
        "mean_steps": steps,
        "mean_train_seconds": secs,
        "folds": args.folds,
        "subsample": len(data),
        "seqeval_mode": rows[0]["seqeval_mode"] if rows else "strict IOB2",
        "conclusion": text,
        "settings": {
            k: getattr(settings, k) for k in ("learning_rate", "num_train_epochs", "min_train_steps", "batch_size")
        },
        "wall_seconds": round(time.perf_counter() - started_all, 1),
        "machine": machine_info(torch.get_num_threads()),
    }
    (out / f"{PREFIX}summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / f"{PREFIX}summary.md").write_text(
        f"# {args.folds}-fold F1 vs initial labelled examples\n\n`{command}`\n\n"
        + "\n".join(table)
        + f"\n\n- Entity F1 = seqeval strict IOB2, on the held-out fold ({len(data) // args.folds} sentences).\n"
        f"- {text}\n"
    )
    print("\n".join(table))
    print(text)
    return summary


if __name__ == "__main__":
    main()
