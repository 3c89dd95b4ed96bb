"""Compare two label-efficiency runs of the same protocol: did a change to the code cost anything?

    python -m bench.compare_runs --before bench/results/fair-dense --after bench/results/fair-dense-trainer \
        [--out bench/results/fair-dense-trainer/compare.md]

Both folders are `bench.simulate` outputs of one command (same corpus draw, seeds, budgets and arms) run on two
commits. Each (arm, seed) track of one run is paired with the same track of the other, over the rounds both
finished: AULC per labelled task (mean F1 over the budgets both cover), F1 at the last common budget, and seconds
per training step (the tracks' training seconds over their steps). Differences are after - before: mean over the
paired tracks with its 95% t-interval. The verdict applies the no-loss bounds given (the defaults are issue 23's:
mean AULC difference >= -0.005 with the interval's lower end >= -0.015, F1 at the last budget within 0.01, seconds
per step at most 10% more).

Seconds per step are wall time on whatever else the machine ran: compare them only where both runs had the same
load, and read them as a coarse check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from bench.active.records import FULL_POOL, read_rows
from bench.active.stats import normalised_aulc, paired

METRICS = ("entity_f1", "macro_f1")  # NER runs, classification runs


def _metric(rows: Sequence[dict]) -> str:
    for name in METRICS:
        if rows and all(isinstance(r.get(name), float) and r[name] == r[name] for r in rows):  # not NaN
            return name
    raise SystemExit("rounds.csv has neither entity_f1 nor macro_f1 on every row")


def _tracks(rows: Sequence[dict]) -> dict[tuple[str, int], list[dict]]:
    tracks: dict[tuple[str, int], list[dict]] = {}
    for row in sorted(rows, key=lambda r: (r["arm"], r["seed"], r["round"])):
        if row["arm"] != FULL_POOL:
            tracks.setdefault((row["arm"], row["seed"]), []).append(row)
    return tracks


def _per_step(rows: Sequence[dict]) -> float:
    steps = sum(r["steps"] or 0 for r in rows)
    return sum(r["train_seconds"] for r in rows) / steps if steps else float("nan")


def compare(before: Sequence[dict], after: Sequence[dict]) -> dict:
    """Paired figures of `after` against `before` per arm and over every track (see the module docstring)."""
    metric = _metric([*before, *after])
    old, new = _tracks(before), _tracks(after)
    shared = sorted(set(old) & set(new))
    if not shared:
        raise SystemExit("the two runs share no (arm, seed) track")
    tracks = []
    for key in shared:
        rounds = min(len(old[key]), len(new[key]))
        a, b = old[key][:rounds], new[key][:rounds]
        if [r["labelled_sentences"] for r in a] != [r["labelled_sentences"] for r in b]:
            raise SystemExit(f"{key}: the runs labelled different budgets; they are not the same protocol")
        x = [r["labelled_sentences"] for r in a]
        tracks.append(
            {
                "arm": key[0],
                "seed": key[1],
                "budgets": x,
                "aulc_before": normalised_aulc(x, [r[metric] for r in a]),
                "aulc_after": normalised_aulc(x, [r[metric] for r in b]),
                "last_before": a[-1][metric],
                "last_after": b[-1][metric],
                "per_step_before": _per_step(a),
                "per_step_after": _per_step(b),
            }
        )
    groups = {arm: [t for t in tracks if t["arm"] == arm] for arm in sorted({t["arm"] for t in tracks})}
    groups["all tracks"] = tracks
    summary = {"metric": metric, "tracks": tracks, "groups": {}}
    for name, group in groups.items():
        summary["groups"][name] = {
            "tracks": len(group),
            "aulc": paired([t["aulc_after"] - t["aulc_before"] for t in group]),
            "last": paired([t["last_after"] - t["last_before"] for t in group]),
            "per_step_before": sum(t["per_step_before"] for t in group) / len(group),
            "per_step_after": sum(t["per_step_after"] for t in group) / len(group),
        }
    return summary


def verdict(group: dict, min_mean: float, min_low: float, max_f1_drop: float, max_slowdown: float) -> dict:
    """Each no-loss bound met or not (the interval's lower end counts only where there is one)."""
    aulc, last = group["aulc"], group["last"]
    slowdown = group["per_step_after"] / group["per_step_before"] - 1
    return {
        "aulc_mean": aulc["mean"] >= min_mean,
        "aulc_low": not aulc["low"] < min_low,
        "last_f1": abs(last["mean"]) <= max_f1_drop or last["mean"] > 0,
        "per_step": slowdown <= max_slowdown,
        "slowdown": slowdown,
    }


def _pm(p: dict) -> str:
    interval = "" if p["low"] != p["low"] else f" [{p['low']:+.3f}, {p['high']:+.3f}]"
    return f"{p['mean']:+.3f}{interval}"


def markdown(summary: dict, verdicts: dict, names: tuple[str, str]) -> str:
    lines = [
        f"Before: `{names[0]}`; after: `{names[1]}`; metric `{summary['metric']}`, paired by (arm, seed).",
        "",
        "| tracks | AULC per task, after - before | F1 at the last budget, after - before | s/step before | "
        "s/step after | change | bounds met |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, group in summary["groups"].items():
        v = verdicts[name]
        met = [k for k in ("aulc_mean", "aulc_low", "last_f1", "per_step") if v[k]]
        missed = [k for k in ("aulc_mean", "aulc_low", "last_f1", "per_step") if not v[k]]
        lines.append(
            f"| {name} ({group['tracks']}) | {_pm(group['aulc'])} | {_pm(group['last'])} | "
            f"{group['per_step_before']:.3f} | {group['per_step_after']:.3f} | {v['slowdown']:+.1%} | "
            + ("all" if not missed else f"{len(met)} of 4 (missed: {', '.join(missed)})")
            + " |"
        )
    lines += [
        "",
        "| arm | seed | budgets | AULC before | AULC after | F1 last before | F1 last after |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in summary["tracks"]:
        lines.append(
            f"| {t['arm']} | {t['seed']} | {t['budgets'][0]}-{t['budgets'][-1]} | {t['aulc_before']:.3f} | "
            f"{t['aulc_after']:.3f} | {t['last_before']:.3f} | {t['last_after']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--before", type=Path, required=True, help="a bench.simulate output folder (the older code)")
    p.add_argument("--after", type=Path, required=True, help="the same command's output on the newer code")
    p.add_argument("--min-aulc-diff", type=float, default=-0.005, help="lowest mean AULC difference that passes")
    p.add_argument("--min-aulc-low", type=float, default=-0.015, help="lowest interval lower end that passes")
    p.add_argument("--max-f1-drop", type=float, default=0.01, help="largest F1 loss at the last budget")
    p.add_argument("--max-slowdown", type=float, default=0.10, help="largest relative rise in seconds per step")
    p.add_argument("--out", type=Path, help="write the markdown here (and the figures beside it as .json)")
    args = p.parse_args(argv)
    before, after = read_rows(args.before / "rounds.csv"), read_rows(args.after / "rounds.csv")
    if not before or not after:
        raise SystemExit("each folder needs a rounds.csv with finished rounds")
    summary = compare(before, after)
    bounds = (args.min_aulc_diff, args.min_aulc_low, args.max_f1_drop, args.max_slowdown)
    verdicts = {name: verdict(group, *bounds) for name, group in summary["groups"].items()}
    text = markdown(summary, verdicts, (args.before.as_posix(), args.after.as_posix()))
    sys.stdout.write(text)
    if args.out:
        args.out.write_text(text)
        args.out.with_suffix(".json").write_text(json.dumps({**summary, "verdicts": verdicts}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
