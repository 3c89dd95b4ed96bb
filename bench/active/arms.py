"""What a simulation compares: the service's default selection and training, and one-factor changes of it.

An arm is written `default`, `random`, or `default:factor=value[,factor=value]`, e.g. `default:reduction=mean`,
`default:diversity=off`, `default:start=warm`, `default:strategy=bald`, `default:seed_set=random`,
`default:epochs=best`.
`default` reads the service's settings (Settings.from_env), so the benchmark measures what ships.
`random` is the baseline annotators get without the service: a random seed set, then random batches, trained
exactly like the arm it is compared with. Only the choice of texts may differ between an arm and its baseline:
`random` trains like `default`, `random:start=scratch` like `default:start=scratch`, and `with_baselines` adds the
random arm each listed arm needs, so an unfair pair cannot be run (bench.active.report refuses to summarise one).
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, dataclass, fields, replace

from uncertainty import REDUCTIONS, STRATEGIES

# typical: the task nearest each k-means centre; stratified: a random task of each group; rare: stratified among the
# pool's rarer half (uncertainty.rarity); random: a plain random sample
SEED_SETS = ("typical", "stratified", "rare", "random")
STARTS = ("scratch", "warm")
# last: train on every labelled text and keep the last epoch; best: EPOCH_SELECTION=best as the service runs it
# (bench.active.loop.Simulation.train)
EPOCHS = ("last", "best")
# How an arm trains (the rest of the recipe, epochs, steps, learning rate, comes from the plan's settings, shared by
# every arm); every other factor is how it picks texts.
TRAINING_FACTORS = ("start", "epochs")
RANDOM = "random"


@dataclass(frozen=True)
class Arm:
    name: str
    strategy: str
    reduction: str
    top_k: int
    diversity: bool
    start: str
    seed_set: str
    epochs: str = "last"  # factors added after runs were recorded take a default: the value those runs used

    @property
    def training(self) -> dict:
        """The factors that say how this arm trains: an arm and its random baseline share them."""
        return {f: getattr(self, f) for f in TRAINING_FACTORS}

    @property
    def is_random(self) -> bool:
        return is_random_arm(self.name)

    @property
    def needs_pool_outputs(self) -> bool:
        """Random batches need no model output on the pool (only the agreement probe does)."""
        return self.strategy != "random" or self.diversity


def is_random_arm(name: str) -> bool:
    """`random`, or `random:<training factor>=...`."""
    return name == RANDOM or name.startswith(RANDOM + ":")


def default_arm(settings) -> Arm:
    return Arm(
        "default",
        settings.uncertainty_strategy,
        settings.uncertainty_reduction,
        settings.uncertainty_top_k,
        settings.selection_diversity,
        getattr(settings, "training_start", "scratch"),
        "random",  # the service's cold start (uncertainty.select_random_start)
        getattr(settings, "epoch_selection", "last"),
    )


def _value(factor: str, raw: str):
    if factor == "diversity":
        if raw not in ("on", "off"):
            raise argparse.ArgumentTypeError(f"diversity={raw!r}: use on or off")
        return raw == "on"
    if factor == "top_k":
        return int(raw)
    choices = {
        "strategy": tuple(STRATEGIES),
        "reduction": REDUCTIONS,
        "start": STARTS,
        "seed_set": SEED_SETS,
        "epochs": EPOCHS,
    }
    if factor not in choices:
        names = [f.name for f in fields(Arm) if f.name != "name"]
        raise argparse.ArgumentTypeError(f"unknown factor {factor!r}; factors: {', '.join(names)}")
    if raw not in choices[factor]:
        raise argparse.ArgumentTypeError(f"{factor}={raw!r}: one of {', '.join(choices[factor])}")
    return raw


def parse_arm(text: str, settings) -> Arm:
    """`default`, `random[:training factor=value,...]` or `default:factor=value,...` (see the module docstring)."""
    base = default_arm(settings)
    head, _, changes = text.partition(":")
    if head not in ("default", RANDOM):
        raise argparse.ArgumentTypeError(f"{text!r}: an arm is default, random or default:factor=value,...")
    arm = replace(base, name=text)
    for change in filter(None, changes.split(",")):
        factor, sep, raw = change.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"{change!r}: expected factor=value")
        if head == RANDOM and factor not in TRAINING_FACTORS:
            raise argparse.ArgumentTypeError(
                f"{text!r}: a random arm picks texts at random; only how it trains may change "
                f"({', '.join(TRAINING_FACTORS)})"
            )
        arm = replace(arm, **{factor: _value(factor, raw)})
    if head == RANDOM:
        arm = replace(arm, strategy="random", diversity=False, seed_set="random")
    return arm


# The factors with a default in `Arm`: a plan.json recorded before one existed still resumes and pairs as before.
ADDED_FACTORS = {f.name: f.default for f in fields(Arm) if f.default is not MISSING}


def with_added_factors(factors: dict) -> dict:
    """An arm's recorded factors with those added since filled in as the run that recorded them used them."""
    return {**ADDED_FACTORS, **factors}


def random_for(arm: Arm, settings) -> Arm:
    """The random baseline that trains exactly like `arm`: `random` when that is the default's training."""
    shipped = default_arm(settings).training
    changed = [f"{k}={v}" for k, v in arm.training.items() if v != shipped[k]]  # named by what differs
    return parse_arm(RANDOM + (":" + ",".join(changed) if changed else ""), settings)


def with_baselines(arms: list[Arm], settings) -> list[Arm]:
    """`arms` plus, when a random arm is asked for, the random arm of each other arm's training (added after)."""
    if not any(a.is_random for a in arms):
        return arms
    out = list(arms)
    for arm in arms:
        baseline = random_for(arm, settings)
        if all(b.training != baseline.training or not b.is_random for b in out):
            out.append(baseline)
    return out
