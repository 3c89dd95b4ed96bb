"""bench/stop_rule.py: the stop rule replayed on a rounds.csv written here."""

from __future__ import annotations

import csv
import json

from bench import stop_rule
from bench.active.records import FIELDS

POOL = 4000
BUDGETS = [50, 100, 200, 400, 800, 1200, 1600, 2000, 2400, 2800, 3200, 3600]


def write_rounds(path, tracks, full_pool=None):
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        for (arm, seed), f1s in tracks.items():
            for k, (n, f1) in enumerate(zip(BUDGETS, f1s)):
                agreement = "nan" if k == 0 else 0.5 + 0.4 * k / len(BUDGETS)
                writer.writerow(
                    {
                        "arm": arm,
                        "seed": seed,
                        "round": k,
                        "labelled_sentences": n,
                        "labelled_tokens": 15 * n,
                        "labelled_entities": 2 * n,
                        "entity_f1": f1,
                        "entity_precision": f1,
                        "entity_recall": f1,
                        "agreement": agreement,
                        "seqeval_mode": "strict IOB2 on served spans",
                        "picked": "1 2 3",
                    }
                )
        if full_pool is not None:
            writer.writerow(
                {
                    "arm": "full_pool",
                    "seed": 0,
                    "round": 0,
                    "labelled_sentences": POOL,
                    "entity_f1": full_pool,
                    "agreement": "nan",
                    "seqeval_mode": "x",
                    "picked": "",
                }
            )


def saturating(n):
    return 0.86 - 3.0 * n**-0.6


def rising(n):
    return 0.3 + 0.5 * n / POOL  # still climbing linearly at the end of the pool


def test_fires_on_a_saturating_track_and_never_on_a_rising_one(tmp_path, capsys):
    rounds = tmp_path / "rounds.csv"
    write_rounds(
        rounds,
        {("default", 0): [saturating(n) for n in BUDGETS], ("random", 0): [rising(n) for n in BUDGETS]},
        full_pool=saturating(POOL),
    )
    (tmp_path / "plan.json").write_text(json.dumps({"pool_size": POOL}))
    out = tmp_path / "stop.md"
    assert stop_rule.main(["--rounds", str(rounds), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.read_text() == text
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]]
        for line in text.splitlines()
        if line.startswith("| default") or line.startswith("| random")
    }
    default, random = rows["default"], rows["random"]
    assert default[4] != "never" and default[5] == "curve_flat"
    fired_at = float(default[4].split()[0])
    assert 1200 <= fired_at < POOL
    assert default[8] == "yes" and default[9] == "no"  # within 2 points, never below 90%
    assert default[10] == f"{POOL - fired_at:.0f}"
    assert default[7] == f"{saturating(POOL):.3f}"  # the CSV's full_pool row is the reference
    assert random[4] == "never" and random[9] == "no"
    assert "fires in 1 of 2 tracks; within 2 points where it fires: 1 of 1" in text


def test_reference_from_a_file_and_a_number(tmp_path, capsys):
    rounds = tmp_path / "rounds.csv"
    write_rounds(
        rounds, {("default", 0): [saturating(n) for n in BUDGETS], ("default", 1): [rising(n) for n in BUDGETS]}
    )
    history = tmp_path / "full_pool_history.json"
    history.write_text(json.dumps([{"epoch": 1, "val_entity_f1": 0.5}, {"epoch": 2, "val_entity_f1": 0.95}]))
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"full_pool_f1": 0.9}))
    assert stop_rule.main(["--rounds", str(rounds), "--pool-size", str(POOL), "--reference-from", str(history)]) == 0
    text = capsys.readouterr().out
    assert "| 0.950 |" in text and "| no |" in text  # fired more than 2 points under 0.95
    assert "within 2 points where it fires: 0 of 1" in text
    # a reference so high that F1 where it fires is under 90% of it
    assert (
        stop_rule.main(["--rounds", str(rounds), "--pool-size", str(POOL), "--reference", "0.99", "--arm", "default"])
        == 0
    )
    text = capsys.readouterr().out
    assert "ever fired below 90% of the reference: 1" in text
    # the summary beside the CSV is read when nothing else is given
    assert stop_rule.main(["--rounds", str(rounds), "--pool-size", str(POOL)]) == 0
    assert "| 0.900 |" in capsys.readouterr().out
    assert stop_rule.reference_from(summary) == 0.9


def test_older_sim_rounds_and_too_few_rounds(tmp_path, capsys):
    rounds = tmp_path / "sim_rounds.csv"
    with rounds.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["strategy", "diversity", "seed", "round", "labelled_sentences", "entity_f1", "agreement"])
        for k, n in enumerate(BUDGETS[:3]):
            writer.writerow(["entropy", "True", 0, k, n, saturating(n), "nan"])
    (tmp_path / "sim_summary.json").write_text(json.dumps({"pool_size": 2000, "full_pool_f1": 0.8}))
    assert stop_rule.main(["--rounds", str(rounds)]) == 0
    text = capsys.readouterr().out
    assert "| entropy+div | 0 | 3 (200 (10%))" in text
    assert "needs 1 more model version" in text and "| never |" in text
    assert stop_rule.main(["--rounds", str(rounds), "--arm", "nope"]) == 1


def test_synthetic_check_runs():
    text = stop_rule.synthetic_check(stop_rule.StopRule(), repeats=1)
    assert text.count("\n| ") == len(stop_rule.SYNTHETIC_TRUTHS)
