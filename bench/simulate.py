"""Label-efficiency simulation: how much annotation does each query strategy need to reach full-pool F1?

    HF_HUB_OFFLINE=1 python -m bench.simulate --pool 2000 --test 1000 --seeds 0 1 \
        --strategies random boundary_entropy+div entropy+div --seed-size 50 --batch 50 --rounds 6 --out bench/results

The annotator is simulated: gold spans of a CoNLL-style corpus are revealed for the sentences a strategy picks.
Every step goes through the project's own code: `training.trainer` (fresh_start, adapt_head, fine_tune) to
train, `ner.inference.Predictor` for per-word probabilities and pooled embeddings, `uncertainty` (get_strategy,
select, select_cold_start) to choose, `training.evaluation.evaluate_model` (seqeval, strict IOB2 entity F1
of the spans /predict serves) to score on a fixed test set. One round = score the unlabelled pool -> pick `batch` sentences -> reveal their
gold spans -> retrain (warm start from the previous model, or from scratch) -> evaluate.

Stopping signal (per round, see `stop_signal`): the test-F1 gain over the previous round and the prediction
agreement of consecutive models on the still-unlabelled pool (the share of its sentences whose served spans,
as word tags, are identical; Bloodgood & Vijay-Shanker 2009, "stabilizing predictions"). A round is flagged `stop` when
gain < GAIN_THRESHOLD and 1 - agreement < DISAGREEMENT_THRESHOLD held for PATIENCE consecutive rounds. In a
real project only agreement is observable (there is no test set); the gain is there to check the signal.
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import logging
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from bench.conll import (  # noqa: E402
    CONLL_DIR, load_hub_dataset, labels_of, read_conll, subsample, token_count,
)
from training.annotations import Example  # noqa: E402

log = logging.getLogger("bench.simulate")

GAIN_THRESHOLD = 0.005  # absolute entity F1 (0.5 points)
DISAGREEMENT_THRESHOLD = 0.05  # at most 5% of the remaining pool changes its decoded tags between rounds
PATIENCE = 2  # consecutive rounds
PREFIX = "sim_"
CSV_FIELDS = [
    "strategy", "diversity", "seed", "round", "labelled_sentences", "labelled_tokens", "entity_f1",
    "entity_precision", "entity_recall", "agreement", "f1_gain", "stop_signal", "stop", "train_seconds",
    "steps", "epochs", "warm", "seqeval_mode",
]


# ---------------------------------------------------------------------------------------------- pure parts

@dataclass(frozen=True)
class Arm:
    """One compared set-up: a strategy name from `uncertainty.STRATEGIES`, with or without diversity."""

    strategy: str
    diversity: bool

    @property
    def name(self) -> str:
        return self.strategy + ("+div" if self.diversity else "")

    @classmethod
    def parse(cls, text: str) -> "Arm":
        """`entropy` or `entropy+div`."""
        name, _, flag = text.partition("+")
        if flag not in ("", "div"):
            raise argparse.ArgumentTypeError(f"{text!r}: expected STRATEGY or STRATEGY+div")
        from uncertainty import get_strategy

        get_strategy(name)  # fails loudly with the valid names
        return cls(name, flag == "div")


def agreement(previous: Sequence[Sequence[str]], current: Sequence[Sequence[str]]) -> float:
    """Share of texts whose decoded tag sequences are identical (1.0 for an empty pool)."""
    if len(previous) != len(current):
        raise ValueError("agreement needs the same texts from both models")
    if not previous:
        return 1.0
    return sum(list(a) == list(b) for a, b in zip(previous, current)) / len(previous)


def stop_signal(f1_gain: float, agree: float, gain_threshold: float = GAIN_THRESHOLD,
                disagreement_threshold: float = DISAGREEMENT_THRESHOLD) -> bool:
    """True when the model both stopped improving and stopped changing its mind on the unlabelled pool."""
    if math.isnan(f1_gain) or math.isnan(agree):
        return False
    return f1_gain < gain_threshold and (1.0 - agree) < disagreement_threshold


def stop_flags(signals: Sequence[bool], patience: int = PATIENCE) -> list[bool]:
    """`stop` at a round once the signal has held for `patience` consecutive rounds up to and including it."""
    flags, run = [], 0
    for s in signals:
        run = run + 1 if s else 0
        flags.append(run >= patience)
    return flags


def normalised_aulc(x: Sequence[float], y: Sequence[float]) -> float:
    """Area under the learning curve divided by the x range: the mean F1 over the budget (trapezoid rule)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or x[-1] == x[0]:
        return float(y[0]) if len(y) else float("nan")
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / (x[-1] - x[0]))


def first_reaching(x: Sequence[float], y: Sequence[float], target: float) -> float | None:
    """Smallest x whose y reaches `target`, or None."""
    for xi, yi in zip(x, y):
        if yi >= target:
            return float(xi)
    return None


# ---------------------------------------------------------------------------------------------- the lab

class Lab:
    """The model operations a simulation needs, each one a call into the project's code."""

    def __init__(self, labels: Sequence[str], settings):
        from protocol.label_config import NerConfig

        self.labels = tuple(labels)
        self.settings = settings
        self.config = NerConfig("label", "text", "text", self.labels)

    def fresh(self):
        from training.trainer import adapt_head, fresh_start

        loaded = fresh_start(self.settings, self.config)
        adapt_head(loaded, self.config.labels)
        return loaded

    @staticmethod
    def clone(loaded):
        from ner.base_model import LoadedModel

        return LoadedModel(copy.deepcopy(loaded.model), loaded.tokenizer, list(loaded.tags), dict(loaded.label_map),
                           loaded.trained)

    def train(self, loaded, examples: Sequence[Example], seed: int, settings=None):
        from training.trainer import fine_tune

        result = fine_tune(loaded, list(examples), [], settings or self.settings, seed=seed)
        loaded.trained = True
        return result

    def predictor(self, loaded):
        from ner.inference import Predictor

        s = self.settings
        return Predictor(loaded.model, loaded.tokenizer, s.max_sequence_length, s.inference_batch_size)

    def evaluate(self, loaded, test: Sequence[Example]) -> dict:
        from training.evaluation import evaluate_model

        return evaluate_model(self.predictor(loaded), loaded.tags, list(test), loaded.label_map)

    def predict(self, loaded, examples: Sequence[Example]):
        """Per-text outputs (words, probs, embedding) and the word tags of the spans serving would return."""
        from training.evaluation import predicted_word_tags

        outputs = self.predictor(loaded).predict([e.text for e in examples]) if examples else []
        return outputs, [predicted_word_tags(o.probs, loaded.tags, loaded.label_map, o.words) for o in outputs]


# ---------------------------------------------------------------------------------------------- simulation

@dataclass
class Plan:
    arms: list[Arm]
    seeds: list[int]
    seed_size: int
    batch: int
    rounds: int
    warm: bool = True
    cold_start: bool = False
    full_pool: bool = True
    full_pool_seeds: int = 1
    full_pool_epochs: int | None = None
    gain_threshold: float = GAIN_THRESHOLD
    disagreement_threshold: float = DISAGREEMENT_THRESHOLD
    patience: int = PATIENCE
    agreement_sample: int | None = None  # agreement measured on this fixed random part of the pool (None: all)
    full_pool_first: bool = False

    def total_trainings(self) -> int:
        return (len(self.seeds) * (1 + len(self.arms) * self.rounds) if self.arms else 0) + (self.full_pool_seeds if self.full_pool else 0)


@dataclass
class Outcome:
    rows: list[dict] = field(default_factory=list)
    full_pool: list[dict] = field(default_factory=list)


def _row(arm: Arm, seed: int, rnd: int, labelled: Sequence[Example], metrics: dict, agree: float, gain: float,
         trained, seconds: float, warm: bool) -> dict:
    return {
        "strategy": arm.strategy, "diversity": arm.diversity, "seed": seed, "round": rnd,
        "labelled_sentences": len(labelled), "labelled_tokens": sum(token_count(e) for e in labelled),
        "entity_f1": metrics["entity_f1"], "entity_precision": metrics["entity_precision"],
        "entity_recall": metrics["entity_recall"], "agreement": agree, "f1_gain": gain,
        "stop_signal": False, "stop": False, "train_seconds": round(seconds, 2),
        "steps": trained.steps if trained else 0, "epochs": trained.epochs if trained else 0, "warm": warm,
        "seqeval_mode": metrics["seqeval_mode"],
    }


@dataclass
class Track:
    """One (seed, arm) learning curve in progress."""

    arm: Arm
    seed: int
    model: object
    labelled: list[int]
    unlabelled: list[int]
    predicted: dict[int, list[str]]  # pool index -> decoded tags from the current model
    outputs: dict[int, object]  # pool index -> TextOutput of the current model (for selection)
    rows: list[dict] = field(default_factory=list)
    run: int = 0


def simulate(pool: Sequence[Example], test: Sequence[Example], lab: Lab, plan: Plan,
             on_row: Callable[[dict], None] | None = None, tick: Callable[[str], None] | None = None) -> Outcome:
    """Run every (seed, arm) learning curve and the full-pool reference; rows go to `on_row` as they come.

    Rounds are interleaved (round 1 of every seed and arm, then round 2, ...), so a run stopped early still
    compares every arm at the rounds it finished. The seed-set model of a seed is trained once and shared.
    """
    from uncertainty import get_strategy, select, select_cold_start

    on_row = on_row or (lambda row: None)
    tick = tick or (lambda message: None)
    pool, test = list(pool), list(test)
    if plan.seed_size + plan.batch * plan.rounds > len(pool):
        raise ValueError(f"seed {plan.seed_size} + {plan.rounds} x {plan.batch} exceeds the pool of {len(pool)}")
    outcome = Outcome()

    if plan.full_pool and plan.full_pool_first:
        outcome.full_pool = _full_pool(pool, test, lab, plan, on_row, tick)

    cold_order: list[int] | None = None
    if plan.cold_start:
        base = lab.fresh()
        outputs, _ = lab.predict(base, pool)
        cold_order = select_cold_start(np.stack([o.embedding for o in outputs]), plan.seed_size)
        del base

    def predict_into(track: Track, indices: list[int]) -> None:
        outputs, tags = lab.predict(track.model, [pool[i] for i in indices])
        track.outputs = dict(zip(indices, outputs))
        track.predicted = dict(zip(indices, tags))

    def to_predict(track: Track, probe: set[int]) -> list[int]:
        """Uncertainty or diversity needs the whole unlabelled pool; plain random only the agreement probe."""
        if track.arm.strategy == "random" and not track.arm.diversity:
            return [i for i in track.unlabelled if i in probe]
        return list(track.unlabelled)

    tracks: list[Track] = []
    probes: dict[int, set[int]] = {}
    for seed in plan.seeds if plan.arms else []:
        seed_idx = cold_order if cold_order is not None else random.Random(seed).sample(range(len(pool)), plan.seed_size)
        seed_set = [pool[i] for i in seed_idx]
        n_probe = len(pool) if plan.agreement_sample is None else min(plan.agreement_sample, len(pool))
        probes[seed] = set(random.Random(seed + 7919).sample(range(len(pool)), n_probe))
        started = time.perf_counter()
        model0 = lab.fresh()
        trained0 = lab.train(model0, seed_set, seed)
        seconds0 = time.perf_counter() - started
        metrics0 = lab.evaluate(model0, test)
        unlabelled0 = [i for i in range(len(pool)) if i not in set(seed_idx)]
        first = None
        for k, arm in enumerate(plan.arms):
            track = Track(arm, seed, model0 if k == len(plan.arms) - 1 else lab.clone(model0), list(seed_idx),
                          list(unlabelled0), {}, {})
            needed = to_predict(track, probes[seed])
            if first is not None and set(needed) <= set(first.predicted):
                track.outputs = {i: first.outputs[i] for i in needed}
                track.predicted = {i: first.predicted[i] for i in needed}
            else:
                predict_into(track, needed)
                first = track if first is None or len(needed) > len(first.predicted) else first
            track.rows.append(_row(arm, seed, 0, seed_set, metrics0, float("nan"), float("nan"), trained0, seconds0,
                                   plan.warm))
            on_row(track.rows[-1])
            tracks.append(track)
        tick(f"seed {seed}: seed set of {len(seed_set)} -> F1 {metrics0['entity_f1']:.3f} ({seconds0:.0f} s)")

    for rnd in range(1, plan.rounds + 1):
        for track in tracks:
            arm, seed = track.arm, track.seed
            # 1. score the unlabelled pool with the current model and pick a batch
            candidates = [i for i in track.unlabelled if i in track.outputs]
            if arm.strategy == "random" and not arm.diversity:
                candidates = list(track.unlabelled)  # random needs no model output
                probs = [np.zeros((1, len(track.model.tags)))] * len(candidates)
            else:
                probs = [track.outputs[i].probs for i in candidates]
            scores = get_strategy(arm.strategy)(probs, list(track.model.tags),
                                                boundary_weight=lab.settings.boundary_weight, seed=seed * 1000 + rnd)
            embeddings = np.stack([track.outputs[i].embedding for i in candidates]) if arm.diversity else None
            picked = [candidates[k] for k in select(scores, embeddings, plan.batch, diversity=arm.diversity, seed=seed)]
            # 2. reveal the gold spans
            track.labelled += picked
            picked_set = set(picked)
            track.unlabelled = [i for i in track.unlabelled if i not in picked_set]
            labelled = [pool[i] for i in track.labelled]
            probe = [i for i in track.unlabelled if i in probes[seed]]
            previous = [track.predicted[i] for i in probe]
            # 3. retrain
            started = time.perf_counter()
            if not plan.warm:
                track.model = lab.fresh()
            trained = lab.train(track.model, labelled, seed * 1000 + rnd)
            seconds = time.perf_counter() - started
            # 4. evaluate, and see how much the model changed its mind on the remaining pool
            metrics = lab.evaluate(track.model, test)
            predict_into(track, to_predict(track, probes[seed]))
            agree = agreement(previous, [track.predicted[i] for i in probe])
            gain = metrics["entity_f1"] - track.rows[-1]["entity_f1"]
            row = _row(arm, seed, rnd, labelled, metrics, agree, gain, trained, seconds, plan.warm)
            row["stop_signal"] = stop_signal(gain, agree, plan.gain_threshold, plan.disagreement_threshold)
            track.run = track.run + 1 if row["stop_signal"] else 0
            row["stop"] = track.run >= plan.patience
            track.rows.append(row)
            on_row(row)
            tick(f"seed {seed} {arm.name} round {rnd}: {len(labelled)} labelled -> F1 {metrics['entity_f1']:.3f} "
                 f"(gain {gain:+.3f}, agreement {agree:.3f}{', STOP' if row['stop'] else ''}; train {seconds:.0f} s)")
    outcome.rows = [row for track in tracks for row in track.rows]
    tracks.clear()
    if plan.full_pool and not plan.full_pool_first:
        outcome.full_pool = _full_pool(pool, test, lab, plan, on_row, tick)
    return outcome


def _full_pool(pool, test, lab: Lab, plan: Plan, on_row, tick) -> list[dict]:
    """The 100% line: a fresh model trained once on the whole pool."""
    settings = lab.settings
    if plan.full_pool_epochs:
        settings = settings.replace(num_train_epochs=plan.full_pool_epochs)
    rows = []
    for seed in plan.seeds[: plan.full_pool_seeds]:
        started = time.perf_counter()
        model = lab.fresh()
        trained = lab.train(model, pool, seed, settings=settings)
        seconds = time.perf_counter() - started
        metrics = lab.evaluate(model, test)
        row = _row(Arm("full_pool", False), seed, 0, pool, metrics, float("nan"), float("nan"), trained, seconds, False)
        rows.append(row)
        on_row(row)
        tick(f"full pool ({len(pool)} sentences, seed {seed}): F1 {metrics['entity_f1']:.3f} ({seconds:.0f} s)")
    return rows


# ---------------------------------------------------------------------------------------------- results

def read_rows(path: Path) -> list[dict]:
    """Rows of a simulation CSV with numbers and booleans restored."""
    rows = []
    with Path(path).open(newline="") as handle:
        for raw in csv.DictReader(handle):
            row = dict(raw)
            for key in ("seed", "round", "labelled_sentences", "labelled_tokens", "steps", "epochs"):
                row[key] = int(row[key])
            for key in ("entity_f1", "entity_precision", "entity_recall", "agreement", "f1_gain", "train_seconds"):
                row[key] = float(row[key]) if row[key] not in ("", "nan") else float("nan")
            for key in ("diversity", "stop_signal", "stop", "warm"):
                row[key] = row[key] == "True"
            rows.append(row)
    return rows


class CsvLog:
    """Appends each row as it comes, so a run stopped early still leaves every finished round on disk."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", newline="") as handle:
            csv.DictWriter(handle, CSV_FIELDS).writeheader()

    def __call__(self, row: dict) -> None:
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, CSV_FIELDS).writerow({k: row.get(k) for k in CSV_FIELDS})


def curves(rows: Sequence[dict]) -> dict[str, dict]:
    """Per arm: labelled sentences / tokens (mean over seeds) and F1 mean, min and max per round."""
    out: dict[str, dict] = {}
    arms = sorted({(r["strategy"], r["diversity"]) for r in rows if r["strategy"] != "full_pool"})
    for strategy, diversity in arms:
        mine = [r for r in rows if r["strategy"] == strategy and r["diversity"] == diversity]
        rounds = sorted({r["round"] for r in mine})
        seeds_per_round = [sorted({r["seed"] for r in mine if r["round"] == k}) for k in rounds]
        full = set(seeds_per_round[0]) if seeds_per_round else set()
        curve = {"round": [], "sentences": [], "tokens": [], "f1": [], "f1_min": [], "f1_max": [], "seeds": [],
                 "agreement": [], "stop_round": None}
        for k in rounds:
            at = [r for r in mine if r["round"] == k]
            f1 = [r["entity_f1"] for r in at]
            curve["round"].append(k)
            curve["sentences"].append(float(np.mean([r["labelled_sentences"] for r in at])))
            curve["tokens"].append(float(np.mean([r["labelled_tokens"] for r in at])))
            curve["f1"].append(float(np.mean(f1)))
            curve["f1_min"].append(float(np.min(f1)))
            curve["f1_max"].append(float(np.max(f1)))
            curve["seeds"].append(len(at))
            agree = [r["agreement"] for r in at if not math.isnan(r["agreement"])]
            curve["agreement"].append(float(np.mean(agree)) if agree else float("nan"))
        stops = [min((r["labelled_sentences"] for r in mine if r["seed"] == s and r["stop"]), default=None)
                 for s in sorted(full)]
        curve["stop_sentences"] = stops
        name = strategy + ("+div" if diversity else "")
        out[name] = curve
    return out


def summarise(rows: Sequence[dict], full_rows: Sequence[dict], pool_size: int, budgets: Sequence[int] | None = None,
              plan_info: dict | None = None) -> dict:
    """Per arm: F1 at fixed budgets, normalised AULC, and the share of the pool needed for 95% / 99% of the
    full-pool F1 (from the mean curve over seeds; None when not reached)."""
    per_arm = curves(rows)
    full_f1 = float(np.mean([r["entity_f1"] for r in full_rows])) if full_rows else None
    if budgets is None:
        budgets = sorted({r["labelled_sentences"] for r in rows if r["strategy"] != "full_pool"})
    arms = {}
    for name, c in per_arm.items():
        complete = [i for i, n in enumerate(c["seeds"]) if n == c["seeds"][0]]  # rounds every seed reached
        x = [c["sentences"][i] for i in complete]
        y = [c["f1"][i] for i in complete]
        at_budget = {}
        for b in budgets:
            hits = [c["f1"][i] for i in complete if round(c["sentences"][i]) == b]
            at_budget[str(b)] = hits[0] if hits else None
        entry = {
            "f1_at_budget": at_budget,
            "aulc": normalised_aulc(x, y),
            "aulc_over_full": normalised_aulc(x, y) / full_f1 if full_f1 else None,
            "final_f1": y[-1] if y else None,
            "final_sentences": x[-1] if x else None,
            "seeds": c["seeds"][0] if c["seeds"] else 0,
            "stop_at_sentences": c["stop_sentences"],
        }
        for level in (0.95, 0.99):
            reached = first_reaching(x, y, level * full_f1) if full_f1 else None
            entry[f"share_for_{int(level * 100)}pct"] = reached / pool_size if reached is not None else None
            entry[f"sentences_for_{int(level * 100)}pct"] = reached
        arms[name] = entry
    token_budgets = _token_budgets(per_arm)
    for name, c in per_arm.items():
        arms[name]["final_tokens"] = c["tokens"][-1] if c["tokens"] else None
        arms[name]["f1_at_tokens"] = {str(b): float(np.interp(b, c["tokens"], c["f1"])) for b in token_budgets}
    return {
        "seqeval_mode": (rows[0]["seqeval_mode"] if rows else "strict IOB2"),
        "metric": "entity F1, seqeval strict IOB2 (exact type and boundaries), micro over entities",
        "pool_size": pool_size,
        "full_pool_f1": full_f1,
        "full_pool_runs": [{k: r[k] for k in ("seed", "entity_f1", "entity_precision", "entity_recall",
                                               "train_seconds", "steps", "epochs")} for r in full_rows],
        "budgets": list(budgets),
        "token_budgets": token_budgets,
        "arms": arms,
        "ranking_by_aulc": sorted(arms, key=lambda a: -arms[a]["aulc"]),
        "stop_rule": {"gain_threshold": GAIN_THRESHOLD, "disagreement_threshold": DISAGREEMENT_THRESHOLD,
                      "patience": PATIENCE, **(plan_info or {}).get("stop_rule", {})},
        "plan": plan_info or {},
        "curves": per_arm,
    }


def _token_budgets(per_arm: dict, n: int = 4) -> list[int]:
    """`n` token counts, rounded to 100, inside the range every arm's curve covers (F1 is interpolated there)."""
    spans = [(c["tokens"][0], c["tokens"][-1]) for c in per_arm.values() if len(c["tokens"]) > 1]
    if not spans:
        return []
    low, high = max(s[0] for s in spans), min(s[1] for s in spans)
    if high <= low:
        return []
    values = sorted({int(round(v / 100.0) * 100) for v in np.linspace(low, high, n + 1)[1:]})
    return [v for v in values if low <= v <= high]


def _pct(value: float | None) -> str:
    return "not reached" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def summary_markdown(summary: dict) -> str:
    """The summary table (markdown), with the metric stated."""
    budgets = summary["budgets"]
    full = summary["full_pool_f1"]
    head = ["arm", *[f"F1 @{b}" for b in budgets], "AULC", "AULC / full", "pool for 95% full F1",
            "pool for 99% full F1", "stop flagged at (per seed)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for name in summary["ranking_by_aulc"]:
        a = summary["arms"][name]
        stops = ", ".join("-" if s is None else str(s) for s in a["stop_at_sentences"]) or "-"
        cells = [name, *[_num(a["f1_at_budget"].get(str(b))) for b in budgets], _num(a["aulc"]),
                 _num(a["aulc_over_full"]), _pct(a["share_for_95pct"]), _pct(a["share_for_99pct"]), stops]
        lines.append("| " + " | ".join(cells) + " |")
    token_budgets = summary.get("token_budgets", [])
    if token_budgets:
        head2 = ["arm", *[f"F1 @{b} tokens" for b in token_budgets], "tokens at last round"]
        lines += ["", "| " + " | ".join(head2) + " |", "|" + "|".join("---" for _ in head2) + "|"]
        for name in summary["ranking_by_aulc"]:
            a = summary["arms"][name]
            lines.append("| " + " | ".join([name, *[_num(a["f1_at_tokens"].get(str(b))) for b in token_budgets],
                                             f"{a['final_tokens']:.0f}"]) + " |")
    notes = [
        "F1 at token budgets is interpolated linearly between rounds on the F1 vs labelled-tokens curve (mean over "
        "seeds); tokens are CoNLL tokens, a proxy for reading effort.",
        f"Entity F1 = seqeval ({summary['seqeval_mode']}): an entity counts only with exact type and boundaries "
        "(micro average). Each F1 is the mean over seeds at that number of labelled sentences.",
        f"Full pool ({summary['pool_size']} sentences, trained once per listed seed): F1 "
        f"{_num(full)}." if full is not None else "No full-pool reference in this run.",
        "AULC = area under the F1 vs labelled-sentences curve divided by its x range (= mean F1 over the budget); "
        "AULC / full divides it by the full-pool F1.",
        "Pool share for 95% / 99%: labelled sentences / pool size at the first round whose mean F1 reaches that "
        "fraction of the full-pool F1 ('not reached' within the simulated budget).",
        f"Stop flag: F1 gain < {summary['stop_rule']['gain_threshold']} and prediction disagreement on the "
        f"remaining pool < {summary['stop_rule']['disagreement_threshold']} for {summary['stop_rule']['patience']} "
        "consecutive rounds; the labelled count where it first fired is listed per seed ('-' = never).",
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def write_outputs(out: Path, rows: list[dict], full_rows: list[dict], pool_size: int, plan_info: dict,
                  prefix: str = PREFIX) -> dict:
    """Summary JSON + markdown and the learning-curve PNGs next to the rounds CSV."""
    from bench.plots import plot_learning_curves

    out = Path(out)
    summary = summarise(rows, full_rows, pool_size, plan_info=plan_info)
    (out / f"{prefix}summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    markdown = summary_markdown(summary)
    (out / f"{prefix}summary.md").write_text(
        f"# Label efficiency: summary\n\n`{plan_info.get('command', '')}`\n\n{markdown}")
    for axis in ("sentences", "tokens"):
        plot_learning_curves(summary["curves"], summary["full_pool_f1"], axis, out / f"{prefix}f1_vs_{axis}.png",
                             title=f"Entity F1 (seqeval strict IOB2) vs labelled {axis}")
    return summary


# ---------------------------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.simulate", description=__doc__.split("\n\n")[0])
    data = p.add_argument_group("data")
    data.add_argument("--data-dir", default=str(CONLL_DIR), help="directory with train.tsv and test.tsv")
    data.add_argument("--dataset", help="a hub dataset name (e.g. conll2003) instead of --data-dir; needs a hub")
    data.add_argument("--pool", type=int, default=2000, help="sentences subsampled from train as the pool")
    data.add_argument("--test", type=int, default=1000, help="sentences subsampled from test as the test set")
    data.add_argument("--data-seed", type=int, default=0, help="seed of the pool/test subsampling")
    al = p.add_argument_group("active learning")
    al.add_argument("--strategies", nargs="+", type=Arm.parse,
                    default=[Arm.parse(a) for a in ("random", "entropy+div", "boundary_entropy+div")],
                    help="STRATEGY or STRATEGY+div (diversity), STRATEGY in uncertainty.STRATEGIES")
    al.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    al.add_argument("--seed-size", type=int, default=50)
    al.add_argument("--cold-start", action="store_true", help="seed set by select_cold_start on base embeddings")
    al.add_argument("--batch", type=int, default=50, help="sentences annotated per round")
    al.add_argument("--rounds", type=int, default=6)
    al.add_argument("--budget", type=int, help="labelled sentences to reach; sets --rounds")
    al.add_argument("--scratch", action="store_true", help="retrain from the base model each round (default: warm)")
    al.add_argument("--no-full-pool", action="store_true", help="skip the full-pool reference run")
    al.add_argument("--full-pool-seeds", type=int, default=1)
    al.add_argument("--full-pool-epochs", type=int, help="epochs for the full-pool run (default: --epochs)")
    al.add_argument("--gain-threshold", type=float, default=GAIN_THRESHOLD)
    al.add_argument("--disagreement-threshold", type=float, default=DISAGREEMENT_THRESHOLD)
    al.add_argument("--patience", type=int, default=PATIENCE)
    al.add_argument("--agreement-sample", type=int,
                    help="measure agreement on this fixed random part of the pool (default: the whole pool)")
    al.add_argument("--full-pool-only", action="store_true", help="only the full-pool reference run")
    al.add_argument("--full-pool-first", action="store_true", help="run the full-pool reference before the rounds")
    hp = p.add_argument_group("training (defaults: Settings.from_env, i.e. the service's own)")
    hp.add_argument("--epochs", type=int, help="NUM_TRAIN_EPOCHS")
    hp.add_argument("--min-steps", type=int, help="MIN_TRAIN_STEPS")
    hp.add_argument("--lr", type=float, help="LEARNING_RATE")
    hp.add_argument("--batch-size", type=int, help="BATCH_SIZE")
    hp.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    out = p.add_argument_group("output")
    out.add_argument("--out", default=str(REPO / "bench" / "results"))
    out.add_argument("--log", help="progress log file (default: <out>/sim_log.txt)")
    out.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    out.add_argument("--summarise-only", action="store_true", help="rebuild summary and plots from <out>/sim_rounds.csv")
    out.add_argument("--merge", nargs="*", default=[],
                     help="with --summarise-only: more rounds CSVs to read (e.g. a full-pool run made apart)")
    return p


def settings_from_args(args):
    from settings import Settings

    settings = Settings.from_env()
    changes = {k: v for k, v in (("num_train_epochs", args.epochs), ("min_train_steps", args.min_steps),
                                 ("learning_rate", args.lr), ("batch_size", args.batch_size)) if v is not None}
    return settings.replace(**changes)


def load_data(args) -> tuple[list[Example], list[Example], tuple[str, ...]]:
    if args.dataset:
        train, labels = load_hub_dataset(args.dataset, "train")
        test, _ = load_hub_dataset(args.dataset, "test")
    else:
        train = read_conll(Path(args.data_dir) / "train.tsv")
        test = read_conll(Path(args.data_dir) / "test.tsv")
        labels = labels_of(train)
    return subsample(train, args.pool, args.data_seed), subsample(test, args.test, args.data_seed + 1), labels


def setup_logging(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in list(log.handlers):  # a second main() in one process logs to its own file only
        log.removeHandler(old)
        old.close()
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    argv_list = list(sys.argv[1:] if argv is None else argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python -m bench.simulate " + " ".join(argv_list)
    if args.summarise_only:
        rows = read_rows(out / f"{PREFIX}rounds.csv")
        for extra in args.merge:
            rows += read_rows(Path(extra))
        info = json.loads((out / f"{PREFIX}plan.json").read_text())
        body = [r for r in rows if r["strategy"] != "full_pool"]
        full = [r for r in rows if r["strategy"] == "full_pool"]
        summary = write_outputs(out, body, full, info["pool_size"], info)
        print(summary_markdown(summary))
        return summary

    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    setup_logging(Path(args.log) if args.log else out / f"{PREFIX}log.txt")
    settings = settings_from_args(args)
    pool, test, labels = load_data(args)
    rounds = args.rounds
    if args.budget:
        rounds = max(0, math.ceil((args.budget - args.seed_size) / args.batch))
    plan = Plan(arms=list(args.strategies), seeds=list(args.seeds), seed_size=args.seed_size, batch=args.batch,
                rounds=rounds, warm=not args.scratch, cold_start=args.cold_start, full_pool=not args.no_full_pool,
                full_pool_seeds=args.full_pool_seeds, full_pool_epochs=args.full_pool_epochs,
                gain_threshold=args.gain_threshold, disagreement_threshold=args.disagreement_threshold,
                patience=args.patience, agreement_sample=args.agreement_sample,
                full_pool_first=args.full_pool_first)
    if args.full_pool_only:
        plan.seeds, plan.rounds, plan.arms = plan.seeds, 0, []
    info = {
        "command": command, "pool_size": len(pool), "test_size": len(test), "labels": list(labels),
        "data": args.dataset or args.data_dir, "data_seed": args.data_seed,
        "arms": [a.name for a in plan.arms], "seeds": plan.seeds, "seed_size": plan.seed_size, "batch": plan.batch,
        "rounds": plan.rounds, "warm_start": plan.warm, "cold_start": plan.cold_start,
        "full_pool_epochs": plan.full_pool_epochs or settings.num_train_epochs,
        "settings": {k: getattr(settings, k) for k in ("learning_rate", "num_train_epochs", "min_train_steps",
                                                         "batch_size", "max_sequence_length", "boundary_weight")},
        "stop_rule": {"gain_threshold": plan.gain_threshold, "disagreement_threshold": plan.disagreement_threshold,
                      "patience": plan.patience},
        "machine": machine_info(torch.get_num_threads()),
    }
    (out / f"{PREFIX}plan.json").write_text(json.dumps(info, indent=2, default=float) + "\n")
    log.info("start: %s", command)
    log.info("pool %d sentences, test %d, labels %s, %d trainings planned", len(pool), len(test), labels,
             plan.total_trainings())
    csv_log = CsvLog(out / f"{PREFIX}rounds.csv")
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=plan.total_trainings(), desc="trainings", unit="run", dynamic_ncols=True)

    def tick(message: str) -> None:
        log.info(message)
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(message[:60])

    started = time.perf_counter()
    outcome = simulate(pool, test, Lab(labels, settings), plan, on_row=csv_log, tick=tick)
    if bar is not None:
        bar.close()
    info["wall_seconds"] = round(time.perf_counter() - started, 1)
    info["machine"]["date_end"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    (out / f"{PREFIX}plan.json").write_text(json.dumps(info, indent=2, default=float) + "\n")
    log.info("done in %.0f s", info["wall_seconds"])
    summary = write_outputs(out, outcome.rows, outcome.full_pool, len(pool), info)
    print(summary_markdown(summary))
    return summary


def machine_info(threads: int | None = None) -> dict:
    """The speed benchmarks' machine description when bench.common is there, else a minimal one."""
    try:
        from bench.common import machine_info as common_info

        return common_info(threads)
    except ImportError:
        import platform

        return {"cores": os.cpu_count(), "python": platform.python_version(), "torch_threads": threads,
                "date": time.strftime("%Y-%m-%dT%H:%M:%S")}


if __name__ == "__main__":
    main()
