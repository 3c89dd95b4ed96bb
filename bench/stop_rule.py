"""Validate the stop rule (uncertainty/stopping.py) on recorded runs of the label-efficiency benchmark.

    python -m bench.stop_rule --rounds bench/results/final/rounds.csv [--arm default] \
        [--reference F1 | --reference-from bench/results/final/summary.json] [--pool-size N] [--out FILE.md]

Each (arm, seed) track is replayed round by round as the service would see it: after each round the rule gets the
learning curve (labelled sentences, test entity F1) and the agreement of successive models up to that round only,
and the pool size. Per track the table gives the budget where the rule first fires (or "never"), F1 there, the
full-pool reference, whether F1 there is within 2 points of it, whether the rule fired at any round (first or later)
with F1 below 90% of it, and the labels saved (pool - budget at the first firing).

Reads both shapes of rounds.csv: the benchmark's (`arm` column, bench/active/records.py) and the older
bench/results/sim_* one (`strategy` and `diversity` columns: the arm is `strategy`, plus `+div` with diversity).
The pool size comes from --pool-size, else plan.json / sim_plan.json / summary.json / sim_summary.json beside the
CSV; the reference from --reference, --reference-from (a summary's `full_pool_f1`, or a full_pool_history.json's
last epoch `val_entity_f1`), else the CSV's `full_pool` row, else the summary beside the CSV.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from bench.active.records import FULL_POOL
from uncertainty.stopping import StopRule, StopVerdict

WITHIN = 0.02  # the target: F1 where the rule fires within 2 points of the full-pool F1
FLOOR_SHARE = 0.9  # ... and never fires below 90% of it


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def read_tracks(path: Path) -> tuple[dict[tuple[str, int], list[dict]], float | None]:
    """Rows per (arm, seed) in budget order, and the F1 of a `full_pool` row when the CSV has one."""
    tracks: dict[tuple[str, int], list[dict]] = {}
    full_pool = None
    with Path(path).open(newline="") as handle:
        for raw in csv.DictReader(handle):
            arm = raw.get("arm")
            if not arm:
                strategy = raw.get("strategy")
                if not strategy:
                    continue
                arm = strategy + ("+div" if str(raw.get("diversity", "")).lower() == "true" else "")
            budget, f1 = _float(raw.get("labelled_sentences")), _float(raw.get("entity_f1"))
            if not (math.isfinite(budget) and math.isfinite(f1)):
                continue  # a torn or incomplete line
            if arm == FULL_POOL:
                full_pool = f1
                continue
            seed = int(_float(raw.get("seed")))
            row = {"round": int(_float(raw.get("round"))), "budget": budget, "f1": f1}
            row["agreement"] = _float(raw.get("agreement"))
            tracks.setdefault((arm, seed), []).append(row)
    for rows in tracks.values():
        rows.sort(key=lambda r: (r["budget"], r["round"]))
    return tracks, full_pool


def reference_from(path: Path) -> float:
    """The full-pool F1 in a summary (`full_pool_f1`) or a full-pool training history (last `val_entity_f1`)."""
    data = json.loads(Path(path).read_text())
    if isinstance(data, dict) and data.get("full_pool_f1") is not None:
        return float(data["full_pool_f1"])
    if isinstance(data, list) and data and "val_entity_f1" in data[-1]:
        return float(data[-1]["val_entity_f1"])
    raise ValueError(f"{path} holds no full-pool F1 (`full_pool_f1`, or a history of `val_entity_f1`)")


def _beside(rounds: Path, names: Sequence[str]) -> list[dict]:
    found = []
    for name in names:
        candidate = rounds.parent / name
        if candidate.exists():
            try:
                found.append(json.loads(candidate.read_text()))
            except ValueError:
                continue
    return [d for d in found if isinstance(d, dict)]


def pool_size_beside(rounds: Path) -> int | None:
    for data in _beside(rounds, ("plan.json", "sim_plan.json", "summary.json", "sim_summary.json")):
        if data.get("pool_size"):
            return int(data["pool_size"])
    return None


def reference_beside(rounds: Path) -> float | None:
    for data in _beside(rounds, ("summary.json", "sim_summary.json")):
        if data.get("full_pool_f1") is not None:
            return float(data["full_pool_f1"])
    return None


@dataclass
class TrackResult:
    arm: str
    seed: int
    rounds: int
    last_budget: float
    last_f1: float
    fired_at: float | None = None
    reason: str | None = None
    f1_at_fire: float | None = None
    reference: float | None = None
    within: bool | None = None
    fired_below_floor: bool | None = None
    labels_saved: float | None = None
    last_verdict: StopVerdict | None = None
    fired_budgets: list[float] = field(default_factory=list)


def replay(rows: list[dict], rule: StopRule, pool_size: int | None, reference: float | None) -> dict:
    """The rule's verdict after each round, fed only the rounds up to it; and the first and every firing."""
    curve, agreement = [], []
    fired, fired_all, last = None, [], None
    for row in rows:
        curve.append((row["budget"], row["f1"]))
        if math.isfinite(row["agreement"]):
            agreement.append((row["budget"], row["agreement"]))
        last = rule.judge(curve, agreement, pool_size=pool_size)
        if last.stop:
            fired_all.append(row)
            if fired is None:
                fired = (row, last)
    return {"first": fired, "all": fired_all, "last": last}


def validate(
    tracks: dict[tuple[str, int], list[dict]],
    rule: StopRule,
    pool_size: int | None,
    reference: float | None,
    arms: Sequence[str] | None = None,
) -> list[TrackResult]:
    results = []
    for (arm, seed), rows in sorted(tracks.items()):
        if arms and arm not in arms:
            continue
        played = replay(rows, rule, pool_size, reference)
        result = TrackResult(arm, seed, len(rows), rows[-1]["budget"], rows[-1]["f1"], reference=reference)
        result.last_verdict = played["last"]
        result.fired_budgets = [r["budget"] for r in played["all"]]
        if played["first"] is not None:
            row, verdict = played["first"]
            result.fired_at, result.reason, result.f1_at_fire = row["budget"], verdict.reason, row["f1"]
            if pool_size is not None:
                result.labels_saved = pool_size - row["budget"]
            if reference is not None:
                result.within = row["f1"] >= reference - WITHIN
        if reference is not None:
            result.fired_below_floor = any(r["f1"] < FLOOR_SHARE * reference for r in played["all"])
        results.append(result)
    return results


def _share(budget: float, pool_size: int | None) -> str:
    return f"{budget:.0f}" + (f" ({budget / pool_size:.0%})" if pool_size else "")


def _yes(value: bool | None) -> str:
    return "n/a" if value is None else ("yes" if value else "no")


def markdown(
    results: list[TrackResult], rule: StopRule, pool_size: int | None, reference: float | None, command: str
) -> str:
    ref = f"{reference:.3f}" if reference is not None else "n/a"
    lines = [
        "| arm | seed | rounds (last budget) | F1 at last | fires at | reason | F1 there | full-pool F1 "
        "| within 2 pt | fired below 90% | labels saved | last verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        fired = _share(r.fired_at, pool_size) if r.fired_at is not None else "never"
        f1_there = f"{r.f1_at_fire:.3f}" if r.f1_at_fire is not None else "-"
        within = _yes(r.within) if r.fired_at is not None else "-"
        saved = f"{r.labels_saved:.0f}" if r.labels_saved is not None else "-"
        sentence = r.last_verdict.sentence.replace("|", "/") if r.last_verdict else ""
        lines.append(
            f"| {r.arm} | {r.seed} | {r.rounds} ({_share(r.last_budget, pool_size)}) | {r.last_f1:.3f} | {fired} "
            f"| {r.reason or '-'} | {f1_there} | {ref} | {within} | {_yes(r.fired_below_floor)} | {saved} "
            f"| {sentence} |"
        )
    fired = [r for r in results if r.fired_at is not None]
    lines += [
        "",
        f"- `{command}`",
        f"- pool {pool_size if pool_size else 'unknown'} sentences; full-pool reference F1 {ref}; "
        f"rule StopRule({', '.join(f'{k}={v}' for k, v in asdict(rule).items())})",
        f"- fires in {len(fired)} of {len(results)} tracks"
        + (
            f"; within 2 points where it fires: {sum(bool(r.within) for r in fired)} of {len(fired)}"
            if reference is not None
            else ""
        )
        + (
            f"; tracks where it ever fired below 90% of the reference: "
            f"{sum(bool(r.fired_below_floor) for r in results)}"
            if reference is not None
            else ""
        ),
    ]
    return "\n".join(lines) + "\n"


# Inverse power laws (a, b, c) for --synthetic: the 5-point fits of the recorded default and warm tracks of
# bench/results/final (pool 4000), and slower and faster curves around them.
SYNTHETIC_TRUTHS = (
    (0.867, 4.43, 0.66),
    (0.895, 2.72, 0.54),
    (0.885, 3.74, 0.60),
    (0.899, 4.08, 0.62),
    (0.850, 5.58, 0.76),
    (0.850, 2.0, 0.40),
    (0.860, 1.2, 0.30),
    (0.900, 1.5, 0.30),
    (0.800, 20.0, 1.00),
)
SYNTHETIC_BUDGETS = (50, 100, 200, 400, 800, *range(1200, 4001, 400))


def synthetic_check(rule: StopRule, noise: float = 0.01, repeats: int = 20, seed: int = 0) -> str:
    """Replay noisy draws of SYNTHETIC_TRUTHS to the whole pool (4000): where the rule fires, and how far under the
    true full-pool F1 the true curve is there (the noise-free gap), as a Markdown table."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pool = SYNTHETIC_BUDGETS[-1]
    lines = [
        "| curve a - b n^-c | F1(800) | F1(pool) | fires at (share of pool) | never | worst gap (pt) |",
        "|---|---|---|---|---|---|",
    ]
    for a, b, c in SYNTHETIC_TRUTHS:
        truth = lambda n: a - b * float(n) ** -c
        fired = []
        for _ in range(repeats):
            rows = [
                {"round": k, "budget": float(n), "f1": truth(n) + rng.normal(0, noise), "agreement": math.nan}
                for k, n in enumerate(SYNTHETIC_BUDGETS)
            ]
            first = replay(rows, rule, pool, None)["first"]
            fired.append(first[0]["budget"] if first else None)
        hits = [f for f in fired if f is not None]
        shares = f"{min(hits) / pool:.0%}-{max(hits) / pool:.0%}" if hits else "-"
        gap = f"{(truth(pool) - min(truth(f) for f in hits)) * 100:.1f}" if hits else "-"
        lines.append(
            f"| {a} - {b} n^-{c} | {truth(800):.3f} | {truth(pool):.3f} | {shares} | {fired.count(None)} | {gap} |"
        )
    lines += ["", f"- noise {noise} F1 (Gaussian) on every point, {repeats} draws per curve, seed {seed}"]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=Path, help="a benchmark rounds.csv (or sim_rounds.csv)")
    parser.add_argument(
        "--synthetic", action="store_true", help="instead: replay noisy synthetic curves to the whole pool"
    )
    parser.add_argument("--noise", type=float, default=0.01, help="--synthetic: F1 noise per point")
    parser.add_argument("--arm", action="append", help="only this arm (repeatable); default: every arm")
    ref = parser.add_mutually_exclusive_group()
    ref.add_argument("--reference", type=float, help="the full-pool F1 to judge against")
    ref.add_argument("--reference-from", type=Path, help="summary.json or full_pool_history.json holding it")
    parser.add_argument("--pool-size", type=int, help="labelled + unlabelled sentences (default: the plan's)")
    parser.add_argument("--out", type=Path, help="also write the Markdown table to this file")
    args = parser.parse_args(argv)
    if args.synthetic:
        text = synthetic_check(StopRule(), noise=args.noise)
        sys.stdout.write(text)
        if args.out:
            args.out.write_text(text)
        return 0
    if args.rounds is None:
        parser.error("--rounds is required (or --synthetic)")

    tracks, full_pool_row = read_tracks(args.rounds)
    if args.reference is not None:
        reference = args.reference
    elif args.reference_from is not None:
        reference = reference_from(args.reference_from)
    else:
        reference = full_pool_row if full_pool_row is not None else reference_beside(args.rounds)
    pool_size = args.pool_size or pool_size_beside(args.rounds)
    if not tracks:
        print(f"{args.rounds}: no rounds", file=sys.stderr)
        return 1
    rule = StopRule()
    results = validate(tracks, rule, pool_size, reference, args.arm)
    if not results:
        print(f"{args.rounds}: no track of arm(s) {', '.join(args.arm)}", file=sys.stderr)
        return 1
    command = "python -m bench.stop_rule " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(results, rule, pool_size, reference, command)
    sys.stdout.write(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
