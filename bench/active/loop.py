"""The simulated annotation loop: seed set -> (score the unlabelled pool -> pick a batch -> reveal its gold spans or
choices -> retrain -> evaluate on a fixed test set) per round, for every (seed, arm), plus a full-pool reference.
The lab (`bench.active.lab.Lab` for NER, `bench.active.choice_lab.ChoiceLab` for classification) does the model
work; the loop is the same for both.

Rounds are interleaved (round 1 of every track, then round 2, ...), so a run stopped early still compares every
arm at the rounds it finished. Every finished round goes to `on_row` at once (see `records`); given the rows of
an interrupted run, `simulate` continues each track after its last recorded round. A track that trains from
scratch is rebuilt exactly (training is seeded per round); a warm-start track is rebuilt by training from scratch
on its labelled set once, an approximation the summary notes.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from bench.active.arms import Arm
from bench.active.choice_lab import ChoiceLab
from bench.active.lab import Lab
from bench.active.records import FULL_POOL
from bench.active.stats import agreement
from training.dataset import with_epoch_choice
from uncertainty import select_cold_start, select_random_start, select_seed_set


@dataclass
class Plan:
    arms: list[Arm]
    seeds: list[int]
    budgets: list[int]  # labelled sentences after each round; budgets[0] is the seed set
    full_pool: bool = True
    full_pool_epochs: int | None = None
    agreement_sample: int = 500

    def trainings(self) -> int:
        return len(self.seeds) * len(self.arms) * len(self.budgets) + (1 if self.full_pool else 0)


@dataclass
class Track:
    arm: Arm
    seed: int
    labelled: list[int]
    rows: list[dict]
    model: object = None
    outputs: dict = field(default_factory=dict)  # pool index -> TextOutput of the current model
    predicted: dict = field(default_factory=dict)  # pool index -> decoded word tags (agreement probe)


def round_seed(seed: int, rnd: int) -> int:
    return seed * 1000 + rnd


def _row(
    track: Track,
    rnd: int,
    lab,
    pool: Sequence,
    picked: list[int],
    metrics: dict,
    agree: float,
    trained,
    train_seconds: float,
    select_seconds: float,
) -> dict:
    labelled = [pool[i] for i in track.labelled]
    return {
        "arm": track.arm.name,
        "seed": track.seed,
        "round": rnd,
        "labelled_sentences": len(labelled),
        **lab.sizes(labelled),
        **lab.row_metrics(metrics),
        "agreement": agree,
        "train_seconds": round(train_seconds, 2),
        "select_seconds": round(select_seconds, 3),
        "steps": trained.steps if trained else 0,
        "epochs": trained.epochs if trained else 0,
        "picked": picked,
    }


class Simulation:
    def __init__(
        self,
        pool: Sequence,
        test: Sequence,
        lab: Lab | ChoiceLab,
        plan: Plan,
        on_row: Callable[[dict], None],
        tick: Callable[[str], None],
    ):
        if plan.budgets[-1] > len(pool) or any(b >= c for b, c in zip(plan.budgets, plan.budgets[1:])):
            raise ValueError(f"budgets must increase and stay within the pool of {len(pool)}: {plan.budgets}")
        self.pool, self.test, self.lab, self.plan = list(pool), list(test), lab, plan
        self.on_row, self.tick = on_row, tick
        self._base_embeddings: np.ndarray | None = None
        self._seed_models: dict[tuple, object] = {}

    def _headline(self, metrics: dict) -> str:
        return f"{self.lab.metric_text} {metrics[self.lab.metric]:.3f}"

    # ---------------------------------------------------------------- seed sets
    def seed_set(self, arm: Arm, seed: int) -> list[int]:
        size = self.plan.budgets[0]
        if arm.seed_set == "random":  # what the service ships
            return select_random_start(len(self.pool), size, seed=seed)
        if self._base_embeddings is None:  # the base encoder's view of the pool, as the service's cold start
            self._base_embeddings = self.lab.embeddings(self.lab.fresh(), self.pool)
        if arm.seed_set == "typical":
            return select_cold_start(self._base_embeddings, size, seed=seed)
        if arm.seed_set == "rare":  # the service's NER seed set
            return select_seed_set(self._base_embeddings, [e.text for e in self.pool], size, seed=seed)
        return select_cold_start(self._base_embeddings, size, seed=seed, within="random")

    def probe(self, seed: int) -> set[int]:
        n = min(self.plan.agreement_sample, len(self.pool))
        return set(random.Random(seed + 7919).sample(range(len(self.pool)), n))

    # ---------------------------------------------------------------- one track
    def needed(self, track: Track) -> list[int]:
        taken = set(track.labelled)
        if track.arm.needs_pool_outputs:
            return [i for i in range(len(self.pool)) if i not in taken]
        return sorted(i for i in self.probe(track.seed) if i not in taken)

    def refresh_outputs(self, track: Track) -> None:
        indices = self.needed(track)
        outputs, tags = self.lab.predict(track.model, [self.pool[i] for i in indices], track.arm)
        track.outputs = dict(zip(indices, outputs))
        track.predicted = dict(zip(indices, tags))

    def train(self, track: Track, rnd: int):
        started = time.perf_counter()
        if track.arm.start == "scratch" or track.model is None:
            track.model = self.lab.fresh()
        examples = [self.pool[i] for i in track.labelled]
        seed = round_seed(track.seed, rnd)
        if track.arm.epochs == "best":
            trained = self.train_choosing_epoch(track.model, examples, seed)
        else:
            trained = self.lab.train(track.model, examples, seed)
        return trained, time.perf_counter() - started

    def train_choosing_epoch(self, model, examples: list, seed: int):
        """EPOCH_SELECTION=best as the service runs it with FINAL_FIT=all: a candidate trained on the training side
        of the service's split keeps its best epoch on the epoch-choice half of the held-out tasks, then `model`
        is trained on every labelled text with the same schedule stopped after that epoch. Where the split leaves
        no epoch-choice tasks the service keeps the last epoch, and so does this. The deploy decision is not
        simulated (no arm has a gate), so the other half of the held-out tasks is trained on like the rest."""
        fraction = self.lab.settings.validation_split
        split = with_epoch_choice(self.lab.split(examples, fraction), fraction)
        if not split.epoch_choice:
            return self.lab.train(model, examples, seed)
        candidate = self.lab.train(self.lab.clone(model), split.train, seed, choose_on=split.epoch_choice)
        return self.lab.train(model, examples, seed, stop_after=candidate.best_epoch)

    def start(self, arm: Arm, seed: int, recorded: list[dict]) -> Track:
        """A new track (seed set trained and recorded) or one rebuilt from its recorded rounds."""
        if recorded:
            labelled = [i for row in recorded for i in row["picked"]]
            track = Track(arm, seed, labelled, list(recorded))
            if len(recorded) < len(self.plan.budgets):
                self.train(track, len(recorded) - 1)
                self.refresh_outputs(track)
            return track
        seed_idx = self.seed_set(arm, seed)
        track = Track(arm, seed, list(seed_idx), [])
        key = (seed, arm.seed_set, tuple(sorted(arm.training.items())))
        if key in self._seed_models:  # arms that share a seed set and train alike share its model
            model, trained, seconds, metrics = self._seed_models[key]
            track.model = self.lab.clone(model)
        else:
            trained, seconds = self.train(track, 0)
            metrics = self.lab.evaluate(track.model, self.test)
            self._seed_models[key] = (self.lab.clone(track.model), trained, seconds, metrics)
        if len(self.plan.budgets) > 1:  # a plan of the seed set alone (the cold-start comparison) stops here
            self.refresh_outputs(track)
        row = _row(track, 0, self.lab, self.pool, list(seed_idx), metrics, float("nan"), trained, seconds, 0.0)
        track.rows.append(row)
        self.on_row(row)
        self.tick(f"seed {seed} {arm.name}: seed set of {len(seed_idx)} -> {self._headline(metrics)}")
        return track

    def step(self, track: Track, rnd: int) -> None:
        batch = self.plan.budgets[rnd] - self.plan.budgets[rnd - 1]
        started = time.perf_counter()
        taken = set(track.labelled)
        candidates = [i for i in range(len(self.pool)) if i not in taken]
        if track.arm.needs_pool_outputs:
            chosen = self.lab.select(
                track.arm,
                list(track.model.tags),
                [track.outputs[i] for i in candidates],
                batch,
                round_seed(track.seed, rnd),
            )
            picked = [candidates[k] for k in chosen]
        else:
            picked = random.Random(round_seed(track.seed, rnd)).sample(candidates, batch)
        select_seconds = time.perf_counter() - started
        track.labelled += picked
        picked_set = set(picked)
        probe = [i for i in sorted(self.probe(track.seed)) if i in track.predicted and i not in picked_set]
        previous = [track.predicted[i] for i in probe]
        trained, seconds = self.train(track, rnd)
        metrics = self.lab.evaluate(track.model, self.test)
        if rnd < len(self.plan.budgets) - 1:
            self.refresh_outputs(track)
        else:  # last round: only the agreement probe is needed
            outputs, tags = self.lab.predict(track.model, [self.pool[i] for i in probe], track.arm)
            track.predicted = dict(zip(probe, tags))
            track.outputs = {}
        agree = agreement(previous, [track.predicted[i] for i in probe])
        row = _row(track, rnd, self.lab, self.pool, picked, metrics, agree, trained, seconds, select_seconds)
        track.rows.append(row)
        self.on_row(row)
        self.tick(
            f"seed {track.seed} {track.arm.name} round {rnd}: {len(track.labelled)} labelled -> "
            f"{self._headline(metrics)} (agreement {agree:.3f}; train {seconds:.0f} s)"
        )
        if rnd == len(self.plan.budgets) - 1:
            track.model = None  # finished: free its memory

    # ---------------------------------------------------------------- the whole run
    def run(self, recorded: dict[tuple[str, int], list[dict]], full_pool_rows: list[dict], out: Path) -> None:
        tracks = []
        for seed in self.plan.seeds:
            for arm in self.plan.arms:
                rows = recorded.get((arm.name, seed), [])
                if len(rows) >= len(self.plan.budgets):
                    continue
                tracks.append(self.start(arm, seed, rows))
            self._seed_models.clear()
        for rnd in range(1, len(self.plan.budgets)):
            for track in tracks:
                if len(track.rows) == rnd:
                    self.step(track, rnd)
        if self.plan.full_pool and not full_pool_rows:
            self.full_pool(out)

    def full_pool(self, out: Path) -> None:
        """The 100% line: a fresh model trained once on the whole pool, scored on the test set after every epoch
        (the per-epoch curve shows whether it converged; the deciding number is the last epoch's)."""
        settings = self.lab.settings
        if self.plan.full_pool_epochs:
            settings = settings.replace(num_train_epochs=self.plan.full_pool_epochs)
        seed = self.plan.seeds[0]
        track = Track(
            Arm(FULL_POOL, "random", "mean", 1, False, "scratch", "random"), seed, list(range(len(self.pool))), []
        )
        started = time.perf_counter()
        track.model = self.lab.fresh()
        trained = self.lab.train(track.model, self.pool, round_seed(seed, 0), settings=settings, validation=self.test)
        seconds = time.perf_counter() - started
        metrics = self.lab.evaluate(track.model, self.test)
        (Path(out) / "full_pool_history.json").write_text(json.dumps(trained.history, indent=2) + "\n")
        row = _row(track, 0, self.lab, self.pool, [], metrics, float("nan"), trained, seconds, 0.0)
        self.on_row(row)
        self.tick(f"full pool ({len(self.pool)} sentences): {self._headline(metrics)} ({seconds:.0f} s)")
