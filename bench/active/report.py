"""Tables and plots from the recorded rounds: learning curves per labelled task, token, gold entity and estimated
annotator second (bench.active.annotation_time); AULC per seed; paired differences against the baseline arm with
95% intervals, absolute and relative; the per-second figure over the cost model's sensitivity range; the pool share
that reaches 95% and 99% of the full-pool F1. "F1" is the task type's metric (`bench.active.tasks`): entity F1 for
NER, macro-F1 for classification, where accuracy is reported beside it and the per-second view (a cost model of
entity annotation) is left out."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.active.annotation_time import PUBLISHED, sensitivity_models
from bench.active.arms import RANDOM, TRAINING_FACTORS, is_random_arm, with_added_factors
from bench.active.records import FULL_POOL
from bench.active.stats import first_reaching, normalised_aulc, paired
from bench.active.tasks import task_of
from uncertainty import AnnotationTime

AXES = task_of(None).axes  # NER's (bench.active.tasks); a classification run has no entity or second axis
TITLES = {
    "sentences": "labelled sentences",
    "tokens": "labelled tokens",
    "entities": "labelled entities",
    "seconds": "estimated annotator seconds",
}
BASELINE = RANDOM
DEFAULT = "default"  # one-factor arms ("default:factor=value") are also compared with it, paired by seed


class UnfairComparisonError(ValueError):
    """Two arms that train differently were about to be compared as selection against random."""


def training_of(name: str, plan: dict | None) -> tuple:
    """How arm `name` trains: its recorded factors (plan.json's arm_factors), else what its name changes from the
    default's training (`default` and `random` train alike; `random:start=scratch` like `default:start=scratch`)."""
    recorded = (plan or {}).get("arm_factors", {}).get(name)
    if recorded is not None:
        recorded = with_added_factors(recorded)
        return tuple((f, recorded.get(f)) for f in TRAINING_FACTORS)
    _, _, changes = name.partition(":")
    given = dict(change.partition("=")[::2] for change in filter(None, changes.split(",")))
    return tuple((f, given.get(f, "the default's")) for f in TRAINING_FACTORS)


def check_fair(arm: str, baseline: str, plan: dict | None) -> None:
    """Refuse to compare `arm` with a random `baseline` that trains differently: the difference would measure the
    training as well as the selection."""
    if training_of(arm, plan) != training_of(baseline, plan):
        raise UnfairComparisonError(
            f"{arm} ({_training_text(training_of(arm, plan))}) and {baseline} "
            f"({_training_text(training_of(baseline, plan))}) train differently"
        )


def baseline_for(arm: str, arms: Sequence[str], plan: dict | None) -> str | None:
    """The random arm that trains exactly like `arm`, or None when the run has none."""
    for name in arms:
        if is_random_arm(name) and training_of(name, plan) == training_of(arm, plan):
            return name
    return None


def _training_text(training: tuple) -> str:
    return ", ".join(f"{k}={v}" for k, v in training)


def _tracks(rows: Sequence[dict]) -> dict[str, dict[int, list[dict]]]:
    out: dict[str, dict[int, list[dict]]] = {}
    for row in sorted(rows, key=lambda r: (r["arm"], r["seed"], r["round"])):
        if row["arm"] != FULL_POOL:
            out.setdefault(row["arm"], {}).setdefault(row["seed"], []).append(row)
    return out


def _complete(tracks: dict[str, dict[int, list[dict]]]) -> tuple[list[int], int]:
    """Seeds every arm has, and the number of rounds all of them finished (comparisons use only those)."""
    seeds = set.intersection(*(set(t) for t in tracks.values())) if tracks else set()
    rounds = min((len(t[s]) for t in tracks.values() for s in seeds), default=0)
    return sorted(seeds), rounds


def priced(rows: Sequence[dict], time_model: AnnotationTime) -> list[dict]:
    """The rows with `estimated_seconds`: what annotating each labelled set costs under `time_model`."""
    return [
        {
            **r,
            "estimated_seconds": float(
                time_model(r["labelled_sentences"], r["labelled_tokens"], r["labelled_entities"] or 0)
            ),
        }
        for r in rows
    ]


def summarise(
    rows: Sequence[dict],
    pool_size: int,
    plan: dict | None = None,
    time_model: AnnotationTime = PUBLISHED,
    sensitivity: bool = True,
) -> dict:
    kind = task_of(plan)
    metric, axes = kind.metric, kind.axes
    recorded = list(rows)
    rows = priced(recorded, time_model)
    tracks = _tracks(rows)
    seeds, rounds = _complete(tracks)
    full = [r for r in rows if r["arm"] == FULL_POOL]
    full_f1 = float(np.mean([r[metric] for r in full])) if full else None
    full_also = {c: float(np.mean([r[c] for r in full])) for c in kind.also} if full else {}
    ranges = {}
    for axis, column in axes.items():
        starts = [t[s][0][column] for t in tracks.values() for s in seeds]
        ends = [t[s][rounds - 1][column] for t in tracks.values() for s in seeds] if rounds else []
        ranges[axis] = (max(starts), min(ends)) if starts and ends else (math.nan, math.nan)
    arms = {}
    for name, per_seed in tracks.items():
        curve = {axis: [] for axis in axes} | {"f1": [], "f1_min": [], "f1_max": []}
        curve |= {f"{c}{end}": [] for c in kind.also for end in ("", "_min", "_max")}
        for k in range(rounds):
            at = [per_seed[s][k] for s in seeds]
            for axis, column in axes.items():
                curve[axis].append(float(np.mean([r[column] for r in at])))
            for key, column in (("f1", metric), *((c, c) for c in kind.also)):
                values = [r[column] for r in at]
                curve[key].append(float(np.mean(values)))
                curve[f"{key}_min"].append(float(np.min(values)))
                curve[f"{key}_max"].append(float(np.max(values)))
        aulc = {
            axis: {
                s: normalised_aulc(
                    [r[axes[axis]] for r in per_seed[s][:rounds]],
                    [r[metric] for r in per_seed[s][:rounds]],
                    *ranges[axis],
                )
                for s in seeds
            }
            for axis in axes
        }
        entry = {
            "curve": curve,
            "aulc_per_seed": aulc,
            "aulc": {axis: float(np.mean(list(v.values()))) if v else math.nan for axis, v in aulc.items()},
            "train_seconds": float(sum(r["train_seconds"] for s in seeds for r in per_seed[s][:rounds])),
        }
        if full_f1:
            for share in (0.95, 0.99):
                reached = first_reaching(curve["sentences"], curve["f1"], share * full_f1)
                entry[f"share_for_{int(share * 100)}pct"] = None if reached is None else reached / pool_size
        arms[name] = entry

    def aulc_minus(entry: dict, reference: str) -> dict:
        """Per axis, the paired (by seed) AULC difference of an arm against `reference`."""
        return {
            axis: paired([entry["aulc_per_seed"][axis][s] - arms[reference]["aulc_per_seed"][axis][s] for s in seeds])
            for axis in axes
        }

    def f1_minus(name: str, reference: str, k: int, column: str = metric) -> dict:
        """The paired (by seed) F1 (or `column`) difference of arm `name` against `reference` at round k."""
        return paired([tracks[name][s][k][column] - tracks[reference][s][k][column] for s in seeds])

    baseline = BASELINE if BASELINE in arms else None
    if any(is_random_arm(name) for name in arms):
        for name, entry in arms.items():
            own = baseline_for(name, list(arms), plan)
            if own is None:  # refused: no random arm of this run trains like it
                entry["baseline"] = None
                entry["baseline_refused"] = (
                    f"no random arm trains like it ({_training_text(training_of(name, plan))}); "
                    f"add random:{','.join(f'{k}={v}' for k, v in training_of(name, plan))} to --arms"
                )
                continue
            check_fair(name, own, plan)
            entry["baseline"] = own
            entry["vs_baseline"] = aulc_minus(entry, own)
            base = arms[own]["aulc"]["sentences"]
            entry["vs_baseline"]["relative_aulc_sentences"] = (
                entry["aulc"]["sentences"] / base - 1.0 if base > 0 else math.nan
            )
            entry["relative_to_baseline"] = {
                axis: paired([_ratio(entry, arms[own], axis, s) - 1.0 for s in seeds]) for axis in axes
            }
            entry["f1_vs_baseline_at_round"] = [f1_minus(name, own, k) for k in range(rounds)]
            for column in kind.also:
                entry[f"{column}_vs_baseline_at_round"] = [f1_minus(name, own, k, column) for k in range(rounds)]
    if DEFAULT in arms:
        for name, entry in arms.items():
            if name.startswith(DEFAULT + ":"):
                entry["vs_default"] = aulc_minus(entry, DEFAULT)
                entry["f1_vs_default_at_last_round"] = f1_minus(name, DEFAULT, rounds - 1) if rounds else None
    compared = [name for name, entry in arms.items() if entry.get("relative_to_baseline") and entry["baseline"] != name]
    if sensitivity and compared and "seconds" in axes:
        corners = [summarise(recorded, pool_size, plan, m, sensitivity=False) for m in sensitivity_models(time_model)]
        for name in compared:
            per_second = [c["arms"][name]["relative_to_baseline"]["seconds"] for c in corners]
            arms[name]["seconds_sensitivity"] = {
                "corners": len(per_second),
                "lowest": min(p["mean"] for p in per_second),
                "highest": max(p["mean"] for p in per_second),
                "corners_above_zero": sum(p["low"] > 0 for p in per_second),
                "corners_below_zero": sum(p["high"] < 0 for p in per_second),
            }
    return {
        "task": kind.name,
        "metric": metric,
        "annotation_time": time_model.as_dict(),
        "pool_size": pool_size,
        "seeds": seeds,
        "rounds": rounds,
        "baseline": baseline,
        "full_pool_f1": full_f1,
        "full_pool_also": full_also,
        "ranges": ranges,
        "arms": arms,
        "plan": plan or {},
        "ranking_by_aulc": sorted(arms, key=lambda a: -arms[a]["aulc"]["sentences"]),
    }


def _ratio(entry: dict, base: dict, axis: str, seed: int) -> float:
    low = base["aulc_per_seed"][axis][seed]
    return entry["aulc_per_seed"][axis][seed] / low if low > 0 else math.nan


def _num(value, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _interval(p: dict, digits: int = 3) -> str:
    if p["seeds"] < 2:
        return f"{p['mean']:+.{digits}f} (1 seed)"
    return f"{p['mean']:+.{digits}f} [{p['low']:+.{digits}f}, {p['high']:+.{digits}f}]"


def _percent(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:+.1f}%"


def _relative(p: dict) -> str:
    if p["seeds"] < 2:
        return f"{_percent(p['mean'])} (1 seed)"
    return f"{_percent(p['mean'])} [{_percent(p['low'])}, {_percent(p['high'])}]"


def _share(value) -> str:
    return "not reached" if value is None else f"{100 * value:.1f}%"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"] + [
        "| " + " | ".join(row) + " |" for row in rows
    ]


def markdown(summary: dict) -> str:
    arms, order = summary["arms"], summary["ranking_by_aulc"]
    if not arms:
        return "No complete rounds yet.\n"
    kind = task_of(summary.get("plan"))
    f1, axes, named = kind.short, list(kind.axes), kind.axis_text
    budgets = [int(round(b)) for b in next(iter(arms.values()))["curve"]["sentences"]]
    head = [
        "arm",
        *[f"{f1} @{b}" for b in budgets],
        *[f"AULC {named[axis]}" for axis in axes],
        f"95% full {f1} at",
        f"99% full {f1} at",
    ]
    rows = [
        [
            name,
            *[_num(v) for v in arms[name]["curve"]["f1"]],
            *[_num(arms[name]["aulc"][axis]) for axis in axes],
            _share(arms[name].get("share_for_95pct")),
            _share(arms[name].get("share_for_99pct")),
        ]
        for name in order
    ]
    lines = _table(head, rows)
    for column in kind.also:  # e.g. accuracy beside macro-F1
        lines += [""] + _table(
            [f"arm ({column})", *[f"{column} @{b}" for b in budgets]],
            [[name, *[_num(v) for v in arms[name]["curve"][column]]] for name in order],
        )
    priced = "seconds" in axes
    paired_arms = [name for name in order if arms[name].get("vs_baseline") and arms[name]["baseline"] != name]
    if paired_arms:
        head2 = [
            "arm",
            f"AULC {named[axes[0]]} - random",
            *[f"per {named[axis]}" for axis in axes],
            *(["per second, cost range"] if priced else []),
            f"{f1} - random @{budgets[-1]}",
            *[f"{column} - random @{budgets[-1]}" for column in kind.also],
        ]
        rows = []
        for name in paired_arms:
            v = arms[name]["vs_baseline"]
            rel = arms[name]["relative_to_baseline"]
            own = arms[name]["baseline"]
            spread = arms[name].get("seconds_sensitivity")
            rows.append(
                [
                    name if own == RANDOM else f"{name} (vs {own})",
                    _interval(v[axes[0]]),
                    *[_relative(rel[axis]) for axis in axes],
                    *([f"{_percent(spread['lowest'])} to {_percent(spread['highest'])}" if spread else "-"] * priced),
                    _interval(arms[name]["f1_vs_baseline_at_round"][-1]),
                    *[_interval(arms[name][f"{column}_vs_baseline_at_round"][-1]) for column in kind.also],
                ]
            )
        lines += [""] + _table(head2, rows)
    refused = [name for name in order if arms[name].get("baseline_refused")]
    if refused:
        lines += ["", "Not compared with random (only arms that train alike are paired):"]
        lines += [f"- {name}: {arms[name]['baseline_refused']}" for name in refused]
    variants = [name for name in order if "vs_default" in arms[name]]
    if variants:
        counted = [axis for axis in axes if axis != "seconds"]
        head3 = [
            "one change from the default",
            *[f"AULC {named[axis]} - default" for axis in counted],
            f"{f1} - default @{budgets[-1]}",
        ]
        rows = [
            [
                name,
                *[_interval(arms[name]["vs_default"][axis]) for axis in counted],
                _interval(arms[name]["f1_vs_default_at_last_round"]),
            ]
            for name in variants
        ]
        lines += [""] + _table(head3, rows)
    r = summary["ranges"]
    over = {
        "sentences": f"per task over labelled {kind.unit}",
        "tokens": "per token over",
        "entities": "per gold entity over",
        "seconds": "per estimated annotator second over",
    }
    spans = [f"{over[axis]} [{_num(r[axis][0], 0)}, {_num(r[axis][1], 0)}]" for axis in axes]
    full = summary["full_pool_f1"]
    also_full = "".join(f", {c} {_num(summary.get('full_pool_also', {}).get(c))}" for c in kind.also)
    notes = [
        f"Seeds {summary['seeds']}, {summary['rounds']} rounds each; {kind.metric_note}",
        f"AULC = mean {f1} over the budget: {', '.join(spans[:-1])} and {spans[-1]} (the ranges every arm and seed "
        f"covers; {f1} interpolated linearly between rounds).",
        *(
            [
                f"Estimated seconds = {_seconds_formula(summary['annotation_time'])} per labelled set "
                f"({summary['annotation_time']['source']}; bench/active/annotation_time.py). 'Cost range' is the "
                "per-second figure's lowest and highest mean over the sensitivity grid (each coefficient scaled down "
                "and up)."
            ]
            if priced
            else []
        ),
        "Differences are paired by seed (same pool and test set): mean [95% Student-t interval over seeds]; 'per "
        f"{'/'.join(named[axis] for axis in axes)}' are relative (arm AULC / random AULC - 1, per seed). Each arm "
        "is compared with the random arm that trains exactly like it (same start, epochs, steps, seeds): only the "
        "choice of texts differs.",
        (
            f"Full pool ({summary['pool_size']} {kind.unit}): {f1} {_num(full)}{also_full}; '95%/99% full {f1} at' "
            f"is the share of the pool labelled at the first round whose mean {f1} reaches that fraction."
        )
        if full
        else "No full-pool reference yet.",
    ]
    measures = (summary.get("plan") or {}).get("measures")
    if measures:
        notes.append(
            "Selection measure of each arm (`uncertainty.choices.CLASS_MEASURE` of its strategy): "
            + ", ".join(f"{name} {measure}" for name, measure in measures.items() if name in arms)
            + "."
        )
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def _seconds_formula(model: dict) -> str:
    return f"{model['per_text']:g} x texts + {model['per_token']:g} x tokens + {model['per_entity']:g} x gold entities"


def write(out: Path, summary: dict) -> str:
    from bench.plots import plot_learning_curves

    out = Path(out)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    text = markdown(summary)
    command = summary["plan"].get("command", "")
    (out / "summary.md").write_text(f"# Label efficiency\n\n`{command}`\n\n{text}")
    curves = {}
    for name, a in summary["arms"].items():
        c = a["curve"]
        curves[name] = {**c, "seeds": [len(summary["seeds"])] * len(c["f1"])}
    kind = task_of(summary["plan"])
    titles = TITLES | {"sentences": f"labelled {kind.unit}"}  # a labelled task: sentences (NER) or texts
    for axis in kind.axes:
        plot_learning_curves(
            curves,
            summary["full_pool_f1"],
            axis,
            out / f"f1_vs_{axis}.png",
            title=f"{kind.title} vs {titles[axis]}",
            ylabel=kind.plot_label,
            xlabel=f"labelled {kind.unit} (tasks)" if axis == "sentences" else None,
        )
    for column in kind.also:  # e.g. accuracy_vs_sentences.png
        beside = {
            name: {**c, "f1": c[column], "f1_min": c[f"{column}_min"], "f1_max": c[f"{column}_max"]}
            for name, c in curves.items()
        }
        plot_learning_curves(
            beside,
            summary.get("full_pool_also", {}).get(column),
            "sentences",
            out / f"{column}_vs_sentences.png",
            title=f"{column.capitalize()} vs labelled {kind.unit}",
            ylabel=f"{column} of the served choices",
            xlabel=f"labelled {kind.unit} (tasks)",
        )
    return text
