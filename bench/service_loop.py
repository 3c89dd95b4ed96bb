"""The loop as users run it: one track of the label-efficiency benchmark that goes through the service itself.

    python -m bench.service_loop --data-dir ../shared/data/conll2003 --data-seed 1 --pool 4000 --test 2000 \
        --budget 400 --out bench/results/service-loop-dense

`bench.simulate` idealises the loop: a seed set of 1.25% of the pool, then rounds that double the labelled set, each
trained on every labelled text and always used. Here the simulated annotators work as a team does with the service:

- they ask `/select_samples` (`services.select.select_samples`, the route's own code: cold start while the project
  has no trained version, then the deployed version at its serving precision) for START_TRAINING_EACH_N_UPDATES
  tasks, and label them (their gold spans are revealed);
- those annotations start a training job (`training.pipeline.run_training`, the job's own code): the validation
  split, the candidate, the deploy gate of DEPLOY_POLICY on that split, FINAL_FIT, the precision parity gate, a
  stored version that is deployed or kept aside;
- the test F1 is that of the model the service serves after the job (the served precision), and, when the gate
  kept the previous version, also that of the version it refused (fp32), so the run says what the gate cost or
  saved.

Jobs are taken to finish before the next N annotations arrive (a team labelling slower than the service trains).
Every setting is the service's (Settings.from_env): set e.g. START_TRAINING_EACH_N_UPDATES in the environment to
change it. Each job appends one row to <out>/rounds.csv; the same command resumes after the last one (the store
under <out>/models holds the versions, at most KEEP_VERSIONS of them; git ignores it). Compare with an idealised
run on the same draw (`--data-seed`, `--pool`, `--test`) by `--compare <its out folder>`.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.active.records import read_rows  # noqa: E402
from bench.active.stats import normalised_aulc  # noqa: E402
from bench.conll import CONLL_DIR, labels_of, read_conll, subsample, token_count  # noqa: E402
from bench.corpus import label_config  # noqa: E402

log = logging.getLogger("bench.service_loop")
PROJECT = "1"
FIELDS = [
    "job",
    "labelled_sentences",
    "labelled_tokens",
    "labelled_entities",
    "version",
    "deployed",
    "reason",
    "validation_size",
    "validation_f1_new",
    "validation_f1_current",
    "served_version",
    "served_precision",
    "entity_f1",
    "refused_f1",
    "train_seconds",
    "select_seconds",
    "picked",
]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.service_loop",
        description="One benchmark track through the service's own /select_samples, training job and deploy gate.",
    )
    p.add_argument("--data-dir", default=str(CONLL_DIR), help="folder with train.tsv and test.tsv")
    p.add_argument("--train", help="a CoNLL-format file to draw the pool from (instead of <data-dir>/train.tsv)")
    p.add_argument("--test-file", help="a CoNLL-format file to draw the test set from")
    p.add_argument("--pool", type=int, default=4000)
    p.add_argument("--test", type=int, default=2000)
    p.add_argument("--data-seed", type=int, default=0, help="the draw of pool and test set (as bench.simulate)")
    p.add_argument("--budget", type=int, default=400, help="labelled tasks at which the run stops")
    p.add_argument("--compare", type=Path, help="a bench.simulate output folder on the same draw, for the summary")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--out", type=Path, default=Path("bench/results/service-loop"))
    return p


def _read_jobs(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("picked") is not None]


def _append(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)
        handle.flush()
        os.fsync(handle.fileno())


def summarise(jobs: Sequence[dict], compare: Path | None) -> dict:
    """Served F1 against labelled tasks, the gate's refusals and what they cost (+) or saved (-) in test F1, and
    the idealised arms' F1 at the same budgets when `compare` names a bench.simulate run on the same draw."""
    x = [int(j["labelled_sentences"]) for j in jobs]
    f1 = [float(j["entity_f1"]) for j in jobs]
    refused = [j for j in jobs if j["deployed"] == "False"]
    gate = [float(j["refused_f1"]) - float(j["entity_f1"]) for j in refused if j["refused_f1"] not in ("", "nan")]
    out = {
        "jobs": len(jobs),
        "labelled": x[-1] if x else 0,
        "served_f1": dict(zip(x, f1)),
        "refused": len(refused),
        "refused_reasons": [j["reason"] for j in refused],
        "gate_cost_f1_mean": sum(gate) / len(gate) if gate else None,
        "gate_cost_f1_max": max(gate) if gate else None,
    }
    if compare is not None and jobs:
        rows = read_rows(compare / "rounds.csv")
        by_arm: dict[str, dict[int, list[tuple[int, float]]]] = {}
        for r in rows:
            by_arm.setdefault(r["arm"], {}).setdefault(r["seed"], []).append((r["labelled_sentences"], r["entity_f1"]))
        ideal = {}
        for arm, seeds in by_arm.items():
            curves = [sorted(points) for points in seeds.values()]
            budgets = [b for b, _ in curves[0] if b <= x[-1]]
            if len(budgets) < 2:
                continue
            low, high = budgets[0], budgets[-1]
            served = normalised_aulc(x, f1, low, high) if x[0] <= low else float("nan")
            ideal[arm] = {
                "budgets": budgets,
                "f1_mean": [sum(dict(c)[b] for c in curves) / len(curves) for b in budgets],
                "served_f1_at_budgets": [_f1_at(x, f1, b) for b in budgets],
                "aulc_mean": sum(normalised_aulc(*zip(*c), low, high) for c in curves) / len(curves),
                "served_aulc": served,
                "range": [low, high],
            }
        out["idealised"] = ideal
    return out


def _f1_at(x: Sequence[int], f1: Sequence[float], budget: int) -> float | None:
    """The served F1 once `budget` tasks were labelled: the last job at or below it."""
    at = [v for n, v in zip(x, f1) if n <= budget]
    return at[-1] if at else None


def markdown(summary: dict, command: str) -> str:
    lines = [
        "# The loop as users run it",
        "",
        f"`{command}`",
        "",
        f"{summary['jobs']} jobs to {summary['labelled']} labelled tasks; the gate kept the previous version "
        f"{summary['refused']} times.",
    ]
    if summary["gate_cost_f1_mean"] is not None:
        lines.append(
            f"Where it did, the refused version's test F1 minus the served one's: mean "
            f"{summary['gate_cost_f1_mean']:+.3f}, worst {summary['gate_cost_f1_max']:+.3f} "
            "(positive: the gate cost F1)."
        )
    for arm, v in summary.get("idealised", {}).items():
        lines += [
            "",
            f"Against `{arm}` (idealised, mean over its seeds), AULC over [{v['range'][0]}, {v['range'][1]}] labelled: "
            f"{v['aulc_mean']:.3f} idealised, {v['served_aulc']:.3f} served.",
            "",
            "| labelled | " + " | ".join(str(b) for b in v["budgets"]) + " |",
            "|---|" + "---|" * len(v["budgets"]),
            f"| {arm} F1 | " + " | ".join(f"{f:.3f}" for f in v["f1_mean"]) + " |",
            "| served F1 | " + " | ".join("-" if f is None else f"{f:.3f}" for f in v["served_f1_at_budgets"]) + " |",
        ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    import torch

    from bench.simulate import setup_logging
    from infra.lead_times import AnnotationTimes
    from modeling.base_model import load_saved_model, match_labels
    from modeling.cache import ModelCache
    from modeling.inference import Predictor
    from services.predict import ProjectRankings
    from services.select import ScoreCache, SelectRequest, select_samples
    from settings import Settings
    from store.local import LocalStore
    from text.label_config import parse_project_config
    from training.evaluation import evaluate_model
    from training.pipeline import run_training

    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    setup_logging(out / "log.txt")
    data = Path(args.data_dir)
    pool = subsample(read_conll(args.train or data / "train.tsv"), args.pool, args.data_seed)
    test = subsample(read_conll(args.test_file or data / "test.tsv"), args.test, args.data_seed + 1)
    labels = labels_of(pool)
    xml = label_config(labels)
    config = parse_project_config(xml).served
    settings = Settings.from_env().replace(model_dir=str(out / "models"))
    store = LocalStore(out / "models")
    models = ModelCache(settings, store)
    rankings = ProjectRankings(settings, AnnotationTimes(store))
    scores = ScoreCache()
    batch = settings.start_training_each_n_updates or 10
    command = "python -m bench.service_loop " + " ".join(sys.argv[1:] if argv is None else argv)
    jobs_csv = out / "rounds.csv"
    jobs = _read_jobs(jobs_csv)
    labelled = [int(i) for j in jobs for i in j["picked"].split()]
    log.info("start: %s (%d jobs already recorded)", command, len(jobs))
    (out / "plan.json").write_text(
        json.dumps(
            {
                "command": command,
                "pool_size": len(pool),
                "test_size": len(test),
                "data_seed": args.data_seed,
                "labels": list(labels),
                "batch": batch,
                "settings": {
                    k: getattr(settings, k)
                    for k in (
                        "deploy_policy",
                        "validation_split",
                        "final_fit",
                        "epoch_selection",
                        "serving_precision",
                        "training_start",
                        "num_train_epochs",
                        "min_train_steps",
                        "learning_rate",
                        "uncertainty_strategy",
                        "uncertainty_reduction",
                        "selection_diversity",
                    )
                },
            },
            indent=2,
        )
        + "\n"
    )
    while len(labelled) < min(args.budget, len(pool)):
        started = time.perf_counter()
        taken = set(labelled)
        open_tasks = [{"id": i, "data": {"text": pool[i].text}} for i in range(len(pool)) if i not in taken]
        request = SelectRequest(
            PROJECT,
            min(batch, args.budget - len(labelled)),
            settings.uncertainty_strategy,
            settings.uncertainty_reduction,
            settings.uncertainty_top_k,
            False,
            None,
            settings.selection_diversity,
            open_tasks,
            xml,
        )
        answer = select_samples(
            request, settings=settings, models=models, scores=scores, rankings=rankings, store=store
        )
        picked = [int(i) for i in answer["task_ids"]]
        select_seconds = time.perf_counter() - started
        labelled += picked
        started = time.perf_counter()
        outcome = run_training(PROJECT, [pool[i] for i in labelled], config, settings, store)
        train_seconds = time.perf_counter() - started
        served = models.get(PROJECT, config, wait=True)
        f1 = evaluate_model(served.predictor, served.tags, test, served.label_map)["entity_f1"]
        refused_f1 = float("nan")
        if not outcome.deployed:
            info = store.get(PROJECT, outcome.version)
            loaded = load_saved_model(str(info.path), match_labels(info.meta.get("labels", []), list(labels), {}))
            predictor = Predictor(
                loaded.model, loaded.tokenizer, settings.max_sequence_length, settings.inference_batch_size
            )
            refused_f1 = evaluate_model(predictor, loaded.tags, test, loaded.label_map)["entity_f1"]
        examples = [pool[i] for i in labelled]
        row = {
            "job": len(jobs) + 1,
            "labelled_sentences": len(labelled),
            "labelled_tokens": sum(token_count(e) for e in examples),
            "labelled_entities": sum(len(e.spans) for e in examples),
            "version": outcome.version,
            "deployed": outcome.deployed,
            "reason": outcome.reason,
            "validation_size": outcome.validation_size,
            "validation_f1_new": outcome.metrics.get("entity_f1"),
            "validation_f1_current": outcome.current_metrics.get("entity_f1"),
            "served_version": served.version,
            "served_precision": served.precision,
            "entity_f1": f1,
            "refused_f1": refused_f1,
            "train_seconds": round(train_seconds, 2),
            "select_seconds": round(select_seconds, 3),
            "picked": " ".join(str(i) for i in picked),
        }
        _append(jobs_csv, row)
        jobs.append({k: str(v) for k, v in row.items()})
        log.info(
            "job %d: %d labelled, %s %s -> served %s F1 %.3f%s",
            row["job"],
            len(labelled),
            outcome.version,
            "deployed" if outcome.deployed else "kept aside",
            served.version,
            f1,
            "" if outcome.deployed else f" (refused version: F1 {refused_f1:.3f})",
        )
    summary = summarise(jobs, args.compare)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    text = markdown(summary, command)
    (out / "summary.md").write_text(text)
    print(text)
    return summary


if __name__ == "__main__":
    main()
