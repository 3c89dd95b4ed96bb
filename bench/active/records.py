"""One CSV row per finished round, appended as it finishes, so a run stopped at any point restarts where it
stopped: each row lists the pool indices annotated in that round, which is all a restart needs to rebuild the
labelled set (and, with training from scratch, the very same model).

One file layout serves both task types: NER rows leave the classification columns (macro_f1, accuracy) empty, and
classification rows the span ones (entity_*, labelled_entities). A file written before a column existed keeps its
own header: rows are appended in its columns, and a column it lacks reads as empty."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from bench.active.arms import with_added_factors

FIELDS = [
    "arm",
    "seed",
    "round",
    "labelled_sentences",
    "labelled_tokens",
    "labelled_entities",
    "entity_f1",
    "entity_precision",
    "entity_recall",
    "agreement",
    "train_seconds",
    "select_seconds",
    "steps",
    "epochs",
    "seqeval_mode",
    "macro_f1",
    "accuracy",
    "picked",  # last, so a line cut short never reads as a complete row
]
INTS = ("seed", "round", "labelled_sentences", "labelled_tokens", "labelled_entities", "steps", "epochs")
FLOATS = (
    "entity_f1",
    "entity_precision",
    "entity_recall",
    "agreement",
    "train_seconds",
    "select_seconds",
    "macro_f1",
    "accuracy",
)
EMPTY = ("", "nan", None)  # a figure a row does not have (another task type's, or a column the file predates)
FULL_POOL = "full_pool"


class PlanMismatchError(RuntimeError):
    """The output folder holds rounds of a different plan (other data, pool, seeds or settings)."""


def read_rows(path: Path) -> list[dict]:
    """Rows with numbers restored and `picked` as a list of pool indices; a torn last line is ignored."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    with path.open(newline="") as handle:
        for raw in csv.DictReader(handle):
            if raw.get("picked") is None or raw.get("seqeval_mode") is None:
                continue  # a line cut short by an interruption
            row = dict(raw)
            try:
                for key in INTS:
                    row[key] = int(row[key]) if row.get(key) not in EMPTY else None
                for key in FLOATS:
                    row[key] = float(row[key]) if row.get(key) not in EMPTY else math.nan
            except (TypeError, ValueError):
                continue
            row["picked"] = [int(i) for i in row["picked"].split()] if row["picked"] else []
            rows.append(row)
    return rows


class RoundLog:
    """Appends each finished round to `path` (created with a header when new; an existing file keeps its header)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fields = list(FIELDS)
        if not self.path.exists() or self.path.stat().st_size == 0:
            with self.path.open("w", newline="") as handle:
                csv.DictWriter(handle, self.fields).writeheader()
        else:
            with self.path.open(newline="") as handle:
                self.fields = next(csv.reader(handle), None) or self.fields

    def __call__(self, row: dict) -> None:
        out = {k: row.get(k) for k in self.fields}
        out["picked"] = " ".join(str(i) for i in row.get("picked", []))
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, self.fields, extrasaction="ignore").writerow(out)
            handle.flush()


def check_plan(path: Path, plan: dict, identity: tuple[str, ...]) -> None:
    """Write `plan` to `path`, or refuse to resume rounds recorded under a plan that differs in `identity` keys."""
    path = Path(path)
    if path.exists():
        old = json.loads(path.read_text())
        changed = [
            k
            for k in identity
            if old.get(k) != plan.get(k) and not (k == "budgets" and _one_extends_the_other(old.get(k), plan.get(k)))
        ]
        if changed:
            raise PlanMismatchError(
                f"{path.parent} holds rounds of another plan ({', '.join(changed)} differ): use another --out, "
                "or --fresh to start over"
            )
        # An arm name means what its factors say: "default" follows the shipped settings, which may have changed
        # since its rounds were recorded, and resuming would then mix two arms under one name.
        old_factors, new_factors = old.get("arm_factors", {}), plan.get("arm_factors", {})
        redefined = [
            a
            for a in new_factors
            if a in old_factors and with_added_factors(old_factors[a]) != with_added_factors(new_factors[a])
        ]
        if redefined:
            raise PlanMismatchError(
                f"{path.parent} holds rounds of arm(s) {', '.join(redefined)} with other factors "
                f"({'; '.join(f'{a}: {old_factors[a]} now {new_factors[a]}' for a in redefined)}): use another "
                "--out, or name the old factors explicitly (e.g. default:start=scratch)"
            )
        old_arms = old.get("arms", [])
        commits = old.get("commits") or [old.get("machine", {}).get("git_commit", "unknown")]
        new_commit = plan.get("machine", {}).get("git_commit")
        plan = {
            **old,
            **plan,
            "commits": commits + ([new_commit] if new_commit and new_commit not in commits else []),
            "arms": old_arms + [a for a in plan.get("arms", []) if a not in old_arms],
            "arm_factors": {**old_factors, **new_factors},
        }
        if "budgets" in old:  # a run extended to larger budgets keeps them when a shorter command resumes it
            plan["budgets"] = max(old["budgets"], plan.get("budgets") or [], key=len)
    else:
        plan = {**plan, "commits": [plan.get("machine", {}).get("git_commit", "unknown")]}
    path.write_text(json.dumps(plan, indent=2, default=float) + "\n")


def _one_extends_the_other(old, new) -> bool:
    """Budgets that continue the recorded ones (or stop earlier): extending a run adds rounds to its tracks
    (e.g. two seeds on to half the pool) without changing any round it already has."""
    if not isinstance(old, list) or not isinstance(new, list):
        return False
    shorter, longer = sorted((old, new), key=len)
    return longer[: len(shorter)] == shorter


def resume_state(rows: list[dict]) -> dict[tuple[str, int], list[dict]]:
    """Recorded rounds per (arm, seed), in round order, stopping at the first gap."""
    tracks: dict[tuple[str, int], list[dict]] = {}
    for row in sorted(rows, key=lambda r: (r["arm"], r["seed"], r["round"])):
        if row["arm"] == FULL_POOL:
            continue
        track = tracks.setdefault((row["arm"], row["seed"]), [])
        if row["round"] == len(track):
            track.append(row)
    return tracks
