"""bench/compare_runs.py: two runs of one protocol paired track by track, with issue 23's no-loss bounds."""

from __future__ import annotations

import csv
import json

import pytest

from bench import compare_runs
from bench.active.records import FIELDS

BUDGETS = [50, 100, 200]


def write_run(folder, f1s: dict, seconds_per_step: float, metric: str = "entity_f1"):
    """A rounds.csv of (arm, seed) tracks with the given F1 per budget and 100 steps per round."""
    folder.mkdir()
    with (folder / "rounds.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        for (arm, seed), values in f1s.items():
            for k, (n, f1) in enumerate(zip(BUDGETS, values)):
                writer.writerow(
                    {
                        "arm": arm,
                        "seed": seed,
                        "round": k,
                        "labelled_sentences": n,
                        metric: f1,
                        "train_seconds": 100 * seconds_per_step,
                        "steps": 100,
                        "seqeval_mode": "strict",
                        "picked": "1 2",
                    }
                )
    return folder


def tracks(shift: float, seeds=(0, 1, 2)) -> dict:
    base = {0: [0.50, 0.60, 0.70], 1: [0.52, 0.61, 0.69], 2: [0.49, 0.62, 0.71]}
    return {(arm, s): [v + shift + 0.001 * s for v in base[s]] for arm in ("default", "random") for s in seeds}


def test_a_run_that_loses_nothing_meets_every_bound(tmp_path):
    before = write_run(tmp_path / "before", tracks(0.0), seconds_per_step=0.50)
    after = write_run(tmp_path / "after", tracks(0.01), seconds_per_step=0.52)
    out = tmp_path / "compare.md"

    assert compare_runs.main(["--before", str(before), "--after", str(after), "--out", str(out)]) == 0

    figures = json.loads(out.with_suffix(".json").read_text())
    overall = figures["groups"]["all tracks"]
    assert overall["tracks"] == 6 and overall["aulc"]["mean"] == pytest.approx(0.01)
    assert overall["last"]["mean"] == pytest.approx(0.01)
    assert figures["verdicts"]["all tracks"]["slowdown"] == pytest.approx(0.04)
    assert all(v for k, v in figures["verdicts"]["all tracks"].items() if k != "slowdown")
    assert "| all tracks (6) | +0.010" in out.read_text()


def test_a_loss_in_f1_or_in_speed_is_named(tmp_path):
    before = write_run(tmp_path / "before", tracks(0.0), seconds_per_step=0.50)
    after = write_run(tmp_path / "after", tracks(-0.03), seconds_per_step=0.60)
    summary = compare_runs.compare(
        compare_runs.read_rows(before / "rounds.csv"), compare_runs.read_rows(after / "rounds.csv")
    )
    v = compare_runs.verdict(summary["groups"]["all tracks"], -0.005, -0.015, 0.01, 0.10)
    assert not v["aulc_mean"] and not v["aulc_low"] and not v["last_f1"] and not v["per_step"]
    assert v["slowdown"] == pytest.approx(0.20)


def test_only_the_rounds_both_finished_are_paired_and_classification_runs_read_macro_f1(tmp_path):
    full = tracks(0.0)
    cut = {key: values[:2] for key, values in full.items()}  # the newer run stopped after two rounds
    before = write_run(tmp_path / "before", full, 0.5, metric="macro_f1")
    after = write_run(tmp_path / "after", cut, 0.5, metric="macro_f1")
    summary = compare_runs.compare(
        compare_runs.read_rows(before / "rounds.csv"), compare_runs.read_rows(after / "rounds.csv")
    )
    assert summary["metric"] == "macro_f1"
    assert {tuple(t["budgets"]) for t in summary["tracks"]} == {(50, 100)}
    assert summary["groups"]["all tracks"]["aulc"]["mean"] == pytest.approx(0.0)


def test_runs_of_different_budgets_are_refused(tmp_path):
    before = write_run(tmp_path / "before", tracks(0.0), 0.5)
    after = write_run(tmp_path / "after", tracks(0.0), 0.5)
    text = (after / "rounds.csv").read_text().replace(",100,", ",150,")
    (after / "rounds.csv").write_text(text)
    with pytest.raises(SystemExit, match="different budgets"):
        compare_runs.main(["--before", str(before), "--after", str(after)])
