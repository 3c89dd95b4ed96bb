"""Label-efficiency benchmark: how many annotated tasks does the service's selection need, against random?

    python -m bench.simulate --data-dir ../shared/data/conll2003 --pool 4000 --test 2000 --seeds 0 1 2 \
        --arms default random --out bench/results/final
    python -m bench.simulate --data-dir ../shared/data/trec6 --dev 500 --pool 4000 --seeds 0 1 2 \
        --arms default random --out bench/results/trec6-dev

Two task types, told apart by the training file (`--task` overrides the guess): NER on any CoNLL-format corpus
(`token ... tag` lines, blank lines between sentences, any BIO label set; scored by entity F1), and text
classification (`<Choices>`) on any `label<TAB>text` corpus (one text per line, any label set; scored by macro-F1,
with accuracy beside it). `--train FILE --test-file FILE`, or `--data-dir` holding train.tsv and test.tsv; `--dev N`
carves a dev set out of the training file, disjoint from the pool. The annotator is simulated: the gold spans or
choice of the texts an arm picks are revealed. Every step runs the service's own code and, for the `default` arm,
its own defaults (see `bench.active`). A run is resumable: rounds are appended to <out>/rounds.csv as they finish,
and the same command continues where it stopped.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]

from bench.active import records, report  # noqa: E402
from bench.active.annotation_time import PUBLISHED, from_text  # noqa: E402
from bench.active.arms import parse_arm, with_baselines  # noqa: E402
from bench.active.tasks import CHOICES, NER  # noqa: E402
from bench.conll import CONLL_DIR, carve, labels_of, load_hub_dataset, read_conll, subsample  # noqa: E402

log = logging.getLogger("bench.simulate")

BUDGET_SHARES = (0.0125, 0.025, 0.05, 0.1, 0.15, 0.2)  # of the pool: the seed set, then each round's total
PLAN_IDENTITY = (
    "data",
    "train_file",
    "test_file",
    "pool_size",
    "test_size",
    "data_seed",
    "budgets",
    "labels",
    "settings",
    "task",
    "dev",
)
DEV_SEED_OFFSET = 2  # the dev carve draws with data_seed + 2 (the pool with data_seed, the evaluation set + 1)
UNUSED_FOR_CHOICES = ("reduction", "top_k")  # word scores to a task's: one decision per text has no words to reduce


def default_budgets(pool_size: int) -> list[int]:
    return sorted({max(1, int(round(share * pool_size))) for share in BUDGET_SHARES})


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.simulate", description=__doc__.split("\n\n")[0])
    data = p.add_argument_group("data")
    data.add_argument("--data-dir", default=str(CONLL_DIR), help="folder with train.tsv and test.tsv")
    data.add_argument(
        "--train", help="a CoNLL or label<TAB>text file to draw the pool from (instead of <data-dir>/train.tsv)"
    )
    data.add_argument("--test-file", help="a file of the same format to draw the test set from")
    data.add_argument("--dataset", help="a hub dataset name instead of files (NER only; needs a reachable hub)")
    data.add_argument(
        "--task",
        choices=("auto", NER, CHOICES),
        default="auto",
        help="ner (CoNLL token<TAB>tag lines, entity F1) or choices (label<TAB>text lines, any label set, "
        "macro-F1 and accuracy); auto: choices when a line of the training file has a space after its first tab",
    )
    data.add_argument("--pool", type=int, default=4000, help="texts drawn from the training file as the pool")
    data.add_argument("--test", type=int, default=2000, help="texts drawn from the evaluation set (test file or dev)")
    data.add_argument(
        "--dev",
        type=int,
        metavar="N",
        help="carve N texts out of the training file (drawn with --data-seed) before the pool is drawn: the pool "
        "never holds them, and they are the evaluation set unless --evaluate test",
    )
    data.add_argument(
        "--evaluate",
        choices=("dev", "test"),
        help="score every round on the dev carve or on the test file (default: dev with --dev, else test); "
        "--dev N --evaluate test keeps the dev run's pool and confirms on the test file",
    )
    data.add_argument("--data-seed", type=int, default=0)
    al = p.add_argument_group("active learning")
    al.add_argument(
        "--arms",
        nargs="+",
        default=["default", "random"],
        help="default, random, or default:factor=value,... (factors: strategy, reduction, top_k, "
        "diversity=on|off, start=scratch|warm, seed_set=random|typical|stratified|rare, epochs=last|best, "
        "EPOCH_SELECTION as the service runs it); for classification the strategy picks the measure (margin, "
        "entropy, least_confidence; the shipped default maps to least_confidence) and reduction and top_k do not "
        "apply",
    )
    al.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    al.add_argument(
        "--budgets",
        nargs="+",
        type=int,
        help="labelled sentences after each round, the first being the seed set "
        f"(default: {', '.join(f'{100 * s:g}%%' for s in BUDGET_SHARES)} of the pool)",
    )
    al.add_argument("--no-full-pool", action="store_true", help="skip the full-pool reference")
    al.add_argument("--full-pool-epochs", type=int, help="epochs of the full-pool reference (default: the service's)")
    al.add_argument("--agreement-sample", type=int, default=500, help="pool sentences the agreement is measured on")
    hp = p.add_argument_group("training (default: the service's settings, Settings.from_env)")
    hp.add_argument("--epochs", type=int, help="NUM_TRAIN_EPOCHS")
    hp.add_argument("--min-steps", type=int, help="MIN_TRAIN_STEPS")
    hp.add_argument("--lr", type=float, help="LEARNING_RATE")
    hp.add_argument("--batch-size", type=int, help="BATCH_SIZE")
    hp.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    out = p.add_argument_group("output")
    out.add_argument("--out", default=str(REPO / "bench" / "results" / "run"))
    out.add_argument("--fresh", action="store_true", help="discard the rounds already in --out and start over")
    out.add_argument("--no-progress", action="store_true", help="no progress bar (the log file still has every round)")
    out.add_argument("--summarise-only", action="store_true", help="rebuild summary and plots from <out>/rounds.csv")
    out.add_argument(
        "--annotation-time",
        type=_annotation_time,
        default=PUBLISHED,
        metavar="A,B,C",
        help="seconds per text, per token and per gold entity that price the per-second view (default: the "
        "published figures in bench/active/annotation_time.py; a team's own from bench.fit_annotation_time)",
    )
    return p


def settings_from_args(args):
    from settings import Settings

    changes = {
        k: v
        for k, v in (
            ("num_train_epochs", args.epochs),
            ("min_train_steps", args.min_steps),
            ("learning_rate", args.lr),
            ("batch_size", args.batch_size),
        )
        if v is not None
    }
    return Settings.from_env().replace(**changes)


def train_path(args) -> Path:
    return Path(args.train) if args.train else Path(args.data_dir) / "train.tsv"


def test_path(args) -> Path:
    return Path(args.test_file) if args.test_file else Path(args.data_dir) / "test.tsv"


def task_of_args(args) -> str:
    """The task type: --task, else guessed from the training file (see bench.choices.looks_like_choices)."""
    from bench.choices import looks_like_choices

    if args.task != "auto":
        task = args.task
    elif args.dataset:
        task = NER
    else:
        path = train_path(args)
        if not path.is_file():
            raise SystemExit(f"no training file at {portable(str(path))}: pass --train or --data-dir")
        task = CHOICES if looks_like_choices(path) else NER
    if task == CHOICES and args.dataset:
        raise SystemExit("--dataset reads NER hub datasets only: pass a label<TAB>text file with --train")
    return task


def evaluation_of(args) -> str:
    if args.evaluate == "dev" and not args.dev:
        raise SystemExit("--evaluate dev needs --dev N (the texts to carve out of the training file)")
    return args.evaluate or ("dev" if args.dev else "test")


def _read(task: str, args):
    """(training examples, a reader of the test file, labels) of the task type."""
    if task == CHOICES:
        from bench.choices import ChoiceCorpusError, labels_of_rows, read_rows, to_examples

        try:
            rows = read_rows(train_path(args))
            labels = labels_of_rows(rows)
            train = to_examples(rows, labels, portable(str(train_path(args))))
        except ChoiceCorpusError as exc:
            raise SystemExit(str(exc)) from None
        if len(labels) < 2:
            raise SystemExit(f"the training file has {len(labels)} label(s): a classifier needs two or more")

        def read_test():
            try:
                return to_examples(read_rows(test_path(args)), labels, portable(str(test_path(args))))
            except ChoiceCorpusError as exc:
                raise SystemExit(str(exc)) from None

        return train, read_test, labels
    if args.dataset:
        train, labels = load_hub_dataset(args.dataset, "train")
        return train, lambda: load_hub_dataset(args.dataset, "test")[0], labels
    train = read_conll(train_path(args))
    labels = labels_of(train)
    if not labels:
        raise SystemExit("the training file holds no entity: nothing to learn")
    return train, lambda: read_conll(test_path(args)), labels


def load_data(args, task: str = NER):
    """(pool, evaluation set, labels): the pool drawn from the training file (less the dev carve, when --dev), the
    evaluation set from the test file or the dev carve."""
    train, read_test, labels = _read(task, args)
    evaluation = evaluation_of(args)
    dev = []
    if args.dev:
        try:
            dev, train = carve(train, args.dev, args.data_seed + DEV_SEED_OFFSET)
        except ValueError as exc:
            raise SystemExit(f"--dev {args.dev}: {exc}") from None
    held_out = dev if evaluation == "dev" else read_test()
    return subsample(train, args.pool, args.data_seed), subsample(held_out, args.test, args.data_seed + 1), labels


def refuse_span_factors(arm_texts: Sequence[str]) -> None:
    """A classification arm changes no span factor: one decision per text has no word scores to reduce, and two
    arms that differ only there would be the same arm under two names."""
    for text in arm_texts:
        _, _, changes = text.partition(":")
        for change in filter(None, changes.split(",")):
            factor = change.partition("=")[0]
            if factor in UNUSED_FOR_CHOICES:
                raise SystemExit(
                    f"arm {text!r}: {factor} is a span factor (word scores to a task's), unused for classification; "
                    "change strategy (margin, entropy, least_confidence), diversity, start or seed_set"
                )


def setup_logging(path: Path) -> None:
    """A run's progress lines in `path`: every `bench.*` logger's (this module's and `bench.service_loop`'s)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    runs = logging.getLogger("bench")
    for old in list(runs.handlers):
        runs.removeHandler(old)
        old.close()
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    runs.addHandler(handler)
    runs.setLevel(logging.INFO)


def machine_info(threads: int | None = None) -> dict:
    from bench.common import machine_info as common_info

    return common_info(threads)


def _annotation_time(spec: str):
    try:
        return from_text(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def portable(value: str | None) -> str | None:
    """A path as results may record it: relative to the working directory (the repository root), never the
    machine's absolute path; anything else unchanged."""
    if not value or not os.path.isabs(value):
        return value
    return os.path.relpath(value)


def main(argv: Sequence[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rounds_csv, plan_json = out / "rounds.csv", out / "plan.json"
    if args.summarise_only:
        return summarise_folder(out, args.annotation_time)

    import torch
    from transformers.utils import logging as hf_logging

    from bench.active.lab import Lab
    from bench.active.loop import Plan, Simulation

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.fresh:
        for stale in (rounds_csv, plan_json, out / "full_pool_history.json"):
            stale.unlink(missing_ok=True)
    setup_logging(out / "log.txt")
    settings = settings_from_args(args)
    task = task_of_args(args)
    pool, test, labels = load_data(args, task)
    budgets = args.budgets or default_budgets(len(pool))
    if task == CHOICES:
        refuse_span_factors(args.arms)
    arms = with_baselines([parse_arm(a, settings) for a in args.arms], settings)
    plan = Plan(
        arms,
        list(args.seeds),
        list(budgets),
        full_pool=not args.no_full_pool,
        full_pool_epochs=args.full_pool_epochs,
        agreement_sample=args.agreement_sample,
    )
    command = "python -m bench.simulate " + " ".join(portable(a) for a in (sys.argv[1:] if argv is None else argv))
    plan_info = {
        "command": command,
        "data": None if (args.train or args.dataset) else portable(args.data_dir),
        "train_file": portable(args.train),
        "test_file": portable(args.test_file),
        "dataset": args.dataset,
        "pool_size": len(pool),
        "test_size": len(test),
        "data_seed": args.data_seed,
        "labels": list(labels),
        "budgets": list(budgets),
        "arms": [a.name for a in arms],
        "arm_factors": {a.name: a.__dict__ for a in arms},
        "seeds": plan.seeds,
        "settings": {
            k: getattr(settings, k)
            for k in (
                "learning_rate",
                "num_train_epochs",
                "min_train_steps",
                "batch_size",
                "max_sequence_length",
                "boundary_weight",
            )
        },
        "machine": machine_info(torch.get_num_threads()),
        # a plan without "task" is NER (every run before classification); "dev" is None without --dev
        "dev": {"size": args.dev, "seed": args.data_seed + DEV_SEED_OFFSET, "evaluate": evaluation_of(args)}
        if args.dev
        else None,
    }
    if task == CHOICES:
        from bench.active.choice_lab import measure_of

        plan_info["task"] = CHOICES
        plan_info["measures"] = {a.name: measure_of(a.strategy) for a in arms}
    records.check_plan(plan_json, plan_info, PLAN_IDENTITY)
    rows = records.read_rows(rounds_csv)
    recorded = records.resume_state(rows)
    full_rows = [r for r in rows if r["arm"] == records.FULL_POOL]
    done = sum(min(len(recorded.get((a.name, s), [])), len(budgets)) for a in arms for s in plan.seeds)
    log.info("start: %s (%d rounds already recorded)", command, done)
    log.info("%s: pool %d texts, evaluation %d, labels %s, budgets %s", task, len(pool), len(test), labels, budgets)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(
            total=plan.trainings(), initial=done + len(full_rows), desc="trainings", unit="run", dynamic_ncols=True
        )

    def tick(message: str) -> None:
        log.info(message)
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(message[:60])

    started = time.perf_counter()
    if task == CHOICES:
        from bench.active.choice_lab import ChoiceLab

        lab = ChoiceLab(labels, settings)
    else:
        lab = Lab(labels, settings)
    Simulation(pool, test, lab, plan, records.RoundLog(rounds_csv), tick).run(recorded, full_rows, out)
    if bar is not None:
        bar.close()
    log.info("done in %.0f s", time.perf_counter() - started)
    return summarise_folder(out, args.annotation_time)


def summarise_folder(out: Path, annotation_time=PUBLISHED) -> dict:
    """Summary and plots of every round in `out`, read with the folder's plan.json: the arms of earlier commands
    that were resumed into it (their factors are recorded there, not in this command's plan) are paired too."""
    import json

    plan_info = json.loads((out / "plan.json").read_text())
    summary = report.summarise(
        records.read_rows(out / "rounds.csv"), plan_info["pool_size"], plan_info, annotation_time
    )
    print(report.write(out, summary))
    return summary


if __name__ == "__main__":
    main()
