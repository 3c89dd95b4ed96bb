"""What a simulation compares: the service's default selection and training, and one-factor changes of it.

An arm is written `default`, `random`, or `default:factor=value[,factor=value]`, e.g. `default:reduction=mean`,
`default:diversity=off`, `default:start=warm`, `default:strategy=bald`, `default:seed_set=random`.
`default` reads the service's settings (Settings.from_env), so the benchmark measures what ships.
`random` is the baseline annotators get without the service: a random seed set, then random batches.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields, replace

from uncertainty import REDUCTIONS, STRATEGIES

SEED_SETS = ("typical", "random")
STARTS = ("scratch", "warm")


@dataclass(frozen=True)
class Arm:
    name: str
    strategy: str
    reduction: str
    top_k: int
    diversity: bool
    start: str
    seed_set: str

    @property
    def needs_pool_outputs(self) -> bool:
        """Random batches need no model output on the pool (only the agreement probe does)."""
        return self.strategy != "random" or self.diversity


def default_arm(settings) -> Arm:
    return Arm(
        "default",
        settings.uncertainty_strategy,
        settings.uncertainty_reduction,
        settings.uncertainty_top_k,
        settings.selection_diversity,
        getattr(settings, "training_start", "scratch"),
        "typical",
    )


def _value(factor: str, raw: str):
    if factor == "diversity":
        if raw not in ("on", "off"):
            raise argparse.ArgumentTypeError(f"diversity={raw!r}: use on or off")
        return raw == "on"
    if factor == "top_k":
        return int(raw)
    choices = {"strategy": tuple(STRATEGIES), "reduction": REDUCTIONS, "start": STARTS, "seed_set": SEED_SETS}
    if factor not in choices:
        names = [f.name for f in fields(Arm) if f.name != "name"]
        raise argparse.ArgumentTypeError(f"unknown factor {factor!r}; factors: {', '.join(names)}")
    if raw not in choices[factor]:
        raise argparse.ArgumentTypeError(f"{factor}={raw!r}: one of {', '.join(choices[factor])}")
    return raw


def parse_arm(text: str, settings) -> Arm:
    """`default`, `random` or `default:factor=value,...` (see the module docstring)."""
    base = default_arm(settings)
    if text == "random":
        return replace(base, name="random", strategy="random", diversity=False, seed_set="random")
    head, _, changes = text.partition(":")
    if head != "default":
        raise argparse.ArgumentTypeError(f"{text!r}: an arm is default, random or default:factor=value,...")
    arm = replace(base, name=text)
    for change in filter(None, changes.split(",")):
        factor, sep, raw = change.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"{change!r}: expected factor=value")
        arm = replace(arm, **{factor: _value(factor, raw)})
    return arm
