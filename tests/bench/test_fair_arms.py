"""Fair arms by construction: an arm is compared only with a random arm that trains exactly like it (same start,
epochs, steps, seeds), so the difference measures the choice of texts alone."""

from __future__ import annotations

import argparse
import json

import pytest

from bench.active import records, report
from bench.active.arms import parse_arm, random_for, with_baselines
from settings import Settings

WARM = Settings.from_env({"TRAINING_START": "warm"})


def _rows(curves: dict) -> list[dict]:
    rows = []
    for arm, seeds in curves.items():
        for seed, f1s in seeds.items():
            for k, (n, f1) in enumerate(zip([10, 20, 30], f1s)):
                rows.append(
                    {
                        "arm": arm,
                        "seed": seed,
                        "round": k,
                        "labelled_sentences": n,
                        "labelled_tokens": 10 * n,
                        "labelled_entities": 2 * n,
                        "entity_f1": f1,
                        "train_seconds": 1.0,
                    }
                )
    return rows


CURVES = {"random": {0: [0.5, 0.6, 0.7], 1: [0.5, 0.6, 0.7]}, "default": {0: [0.5, 0.7, 0.8], 1: [0.5, 0.7, 0.8]}}


def test_random_trains_like_the_default_and_a_random_arm_takes_no_selection_factor():
    default, random_arm = parse_arm("default", WARM), parse_arm("random", WARM)
    assert random_arm.training == default.training == {"start": "warm", "epochs": "last"}
    scratch = parse_arm("random:start=scratch", WARM)
    assert scratch.training == {"start": "scratch", "epochs": "last"}
    assert scratch.strategy == "random" and scratch.seed_set == "random"
    with pytest.raises(argparse.ArgumentTypeError, match="only how it trains may change"):
        parse_arm("random:strategy=entropy", WARM)


def test_every_arm_gets_the_random_arm_of_its_own_training():
    arms = with_baselines([parse_arm(a, WARM) for a in ("default", "default:start=scratch", "random")], WARM)
    assert [a.name for a in arms] == ["default", "default:start=scratch", "random", "random:start=scratch"]
    assert random_for(parse_arm("default:start=scratch", WARM), WARM).name == "random:start=scratch"
    assert random_for(parse_arm("default:diversity=on", WARM), WARM).name == "random"  # selection only: same recipe
    # without any random arm asked for, nothing is added
    assert [a.name for a in with_baselines([parse_arm("default", WARM)], WARM)] == ["default"]


def test_the_summary_refuses_to_pair_arms_whose_training_differs():
    """What bench/results/final recorded: default trained warm, random from scratch."""
    plan = {"arm_factors": {"default": {"start": "warm"}, "random": {"start": "scratch"}}}
    summary = report.summarise(_rows(CURVES), pool_size=100, plan=plan)
    default = summary["arms"]["default"]
    assert "vs_baseline" not in default and default["baseline"] is None
    assert "start=warm" in default["baseline_refused"] and "random:start=warm" in default["baseline_refused"]
    text = report.markdown(summary)
    assert "Not compared with random" in text and "| default |" in text and "- default: no random arm" in text
    with pytest.raises(report.UnfairComparisonError, match="train differently"):
        report.check_fair("default", "random", plan)


def test_arms_that_train_alike_are_paired_and_each_arm_finds_its_own_baseline():
    curves = {
        **CURVES,
        "default:start=scratch": {0: [0.4, 0.6, 0.7], 1: [0.4, 0.6, 0.7]},
        "random:start=scratch": {0: [0.4, 0.5, 0.6], 1: [0.4, 0.5, 0.6]},
    }
    plan = {
        "arm_factors": {
            "default": {"start": "warm"},
            "random": {"start": "warm"},
            "default:start=scratch": {"start": "scratch"},
            "random:start=scratch": {"start": "scratch"},
        }
    }
    summary = report.summarise(_rows(curves), pool_size=100, plan=plan)
    assert summary["arms"]["default"]["baseline"] == "random"
    assert summary["arms"]["default:start=scratch"]["baseline"] == "random:start=scratch"
    # AULC over 10..30: default 0.675 vs random 0.6; scratch 0.575 vs random scratch 0.5
    assert summary["arms"]["default"]["vs_baseline"]["sentences"]["mean"] == pytest.approx(0.075)
    assert summary["arms"]["default:start=scratch"]["vs_baseline"]["sentences"]["mean"] == pytest.approx(0.075)
    assert "| default:start=scratch (vs random:start=scratch) |" in report.markdown(summary)


def test_plan_records_the_code_commit_and_no_machine_path(tmp_path, monkeypatch):
    from bench import simulate

    monkeypatch.chdir(tmp_path)
    assert simulate.portable(str(tmp_path / "data" / "train.tsv")) == "data/train.tsv"
    assert simulate.portable("relative/file.tsv") == "relative/file.tsv" and simulate.portable(None) is None
    plan_json = tmp_path / "plan.json"
    records.check_plan(plan_json, {"pool_size": 1, "machine": {"git_commit": "abc123"}}, ("pool_size",))
    assert json.loads(plan_json.read_text())["commits"] == ["abc123"]
    records.check_plan(plan_json, {"pool_size": 1, "machine": {"git_commit": "def456-dirty"}}, ("pool_size",))
    assert json.loads(plan_json.read_text())["commits"] == ["abc123", "def456-dirty"]
    from bench.common import git_commit

    assert git_commit() != "unknown"


def test_choosing_the_epoch_is_training_so_its_random_arm_chooses_epochs_too():
    best = parse_arm("default:epochs=best", WARM)
    assert best.training == {"start": "warm", "epochs": "best"}
    assert parse_arm("default", Settings.from_env({"EPOCH_SELECTION": "best"})).epochs == "best"  # what ships
    arms = with_baselines([best, parse_arm("default", WARM), parse_arm("random", WARM)], WARM)
    assert [a.name for a in arms] == ["default:epochs=best", "default", "random", "random:epochs=best"]
    plan = {"arm_factors": {a.name: a.__dict__ for a in arms}}
    assert report.baseline_for("default:epochs=best", [a.name for a in arms], plan) == "random:epochs=best"
    with pytest.raises(report.UnfairComparisonError, match="epochs=best"):
        report.check_fair("default:epochs=best", "random", plan)


def test_runs_recorded_before_epoch_choice_existed_resume_as_last_epoch_runs(tmp_path):
    """plan.json files written before the `epochs` factor hold no such key: they trained on the last epoch."""
    identity = ("pool_size",)
    now = {a: parse_arm(a, WARM).__dict__ for a in ("default", "random")}
    old = {a: {k: v for k, v in factors.items() if k != "epochs"} for a, factors in now.items()}
    plan_json = tmp_path / "plan.json"
    records.check_plan(plan_json, {"pool_size": 9, "arm_factors": old}, identity)
    records.check_plan(plan_json, {"pool_size": 9, "arm_factors": now}, identity)  # the same arms: resumes
    assert report.training_of("default", {"arm_factors": old}) == (("start", "warm"), ("epochs", "last"))
    with pytest.raises(records.PlanMismatchError, match="default"):
        redefined = {**now, "default": parse_arm("default:epochs=best", WARM).__dict__ | {"name": "default"}}
        records.check_plan(plan_json, {"pool_size": 9, "arm_factors": redefined}, identity)


def test_a_folder_resumed_with_other_arms_still_pairs_the_arms_of_earlier_commands(tmp_path):
    """The summary reads the folder's plan.json, where every command's arms are recorded, not the last command's."""
    from bench import simulate

    first = [parse_arm(a, WARM) for a in ("default", "random", "default:diversity=on")]
    then = [parse_arm(a, WARM) for a in ("default", "random", "default:strategy=span_confidence")]
    for arms in (first, then):
        plan = {"pool_size": 100, "arms": [a.name for a in arms], "arm_factors": {a.name: a.__dict__ for a in arms}}
        records.check_plan(tmp_path / "plan.json", plan, ("pool_size",))
    curves = {**CURVES, "default:diversity=on": CURVES["default"], "default:strategy=span_confidence": CURVES["random"]}
    log = records.RoundLog(tmp_path / "rounds.csv")
    for row in _rows(curves):
        log({**row, "picked": [1]})
    summary = simulate.summarise_folder(tmp_path)
    for name in ("default", "default:diversity=on", "default:strategy=span_confidence"):
        assert summary["arms"][name]["baseline"] == "random", name
    assert summary["arms"]["default:diversity=on"]["vs_baseline"]["sentences"]["mean"] == pytest.approx(0.075)
    assert "no random arm" not in (tmp_path / "summary.md").read_text()
