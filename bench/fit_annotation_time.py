"""Fit the benchmark's annotation-time model on a team's own lead times, from a Label Studio JSON export.

    python -m bench.fit_annotation_time export.json [--field text]
    python -m bench.simulate ... --annotation-time <the A,B,C it prints>

Label Studio records `lead_time` (seconds) on annotations made in its labelling view (annotations made through the
API carry none and are left out, as are cancelled ones: `infra.lead_times.observation`, as the service keeps them).
Each timed annotation gives (tokens of the task's text, regions it holds, seconds); regions are its `labels` result
items, the entities the annotator drew. The fit is uncertainty.fit_annotation_time: non-negative least squares,
lead times clipped at 10x their median (a tab left open), one refit without the points the first fit could not
explain.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from infra.lead_times import observation
from text.words import split_words
from uncertainty import fit_annotation_time
from uncertainty.cost import MIN_TIMED


def timed_annotations(tasks: Sequence[dict], field: str | None) -> list[tuple[int, int, float]]:
    """(tokens, regions, seconds) of every timed, not cancelled annotation of the exported tasks."""
    out = []
    for task in tasks:
        data = task.get("data") or {}
        key = field or next((k for k, v in data.items() if isinstance(v, str)), None)
        text = data.get(key) if key else None
        if not isinstance(text, str):
            continue
        tokens = len(split_words(text))
        for annotation in task.get("annotations") or []:
            timed = observation(tokens, annotation)  # the service's own test of a usable lead time
            if timed is None:
                continue
            regions = sum(1 for item in annotation.get("result") or [] if item.get("type") == "labels")
            out.append((tokens, regions, timed[1]))
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.fit_annotation_time",
        description="Seconds per text, per token and per entity from a Label Studio JSON export's lead times.",
    )
    p.add_argument("export", type=Path, help="a Label Studio JSON export (Export > JSON) of the project")
    p.add_argument("--field", help="the task data field holding the text (default: the first text field)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        tasks = json.loads(args.export.read_text())
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.export}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(tasks, list):
        print(f"{args.export}: expected Label Studio's JSON export (a list of tasks)", file=sys.stderr)
        return 2
    observed = timed_annotations(tasks, args.field)
    model = fit_annotation_time(*zip(*observed)) if len(observed) >= MIN_TIMED else None
    if model is None:
        print(
            f"{len(observed)} timed annotations; the fit needs at least {MIN_TIMED} made in the labelling view "
            "(annotations made through the API carry no lead time)",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(model.as_dict(), indent=2))
    print(f"--annotation-time {model.per_text:.3g},{model.per_token:.3g},{model.per_entity:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
