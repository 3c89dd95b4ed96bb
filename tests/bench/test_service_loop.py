"""The benchmark track that runs the service's own loop: /select_samples, the training job, the deploy gate."""

from __future__ import annotations

import csv
import json

import pytest

from tests.support.conll import write_conll

TINY_TRAINING = {"NUM_TRAIN_EPOCHS": "1", "MIN_TRAIN_STEPS": "2", "BATCH_SIZE": "8", "FINAL_FIT": "train"}


def _jobs(out):
    with (out / "rounds.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _corpus(tmp_path):
    from bench.corpus import make_tasks

    write_conll(tmp_path / "train.conll", make_tasks(40, seed=1))
    write_conll(tmp_path / "test.conll", make_tasks(16, seed=2, start_id=1000))
    return ["--train", str(tmp_path / "train.conll"), "--test-file", str(tmp_path / "test.conll")]


@pytest.mark.slow
def test_every_n_annotations_a_job_deploys_and_the_run_resumes_after_its_last_job(tmp_path, monkeypatch):
    from bench import service_loop

    for key, value in {**TINY_TRAINING, "START_TRAINING_EACH_N_UPDATES": "5", "DEPLOY_POLICY": "always"}.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "out"
    argv = [*_corpus(tmp_path), "--pool", "30", "--test", "12", "--threads", "1", "--out", str(out)]
    service_loop.main([*argv, "--budget", "10"])
    first = _jobs(out)
    assert [int(j["labelled_sentences"]) for j in first] == [5, 10]
    assert [j["version"] for j in first] == ["p1-v1-n5", "p1-v2-n10"]
    assert all(j["deployed"] == "True" and j["served_version"] == j["version"] for j in first)
    assert all(0.0 <= float(j["entity_f1"]) <= 1.0 for j in first)

    summary = service_loop.main([*argv, "--budget", "15"])  # continues after job 2
    jobs = _jobs(out)
    assert jobs[:2] == first and [int(j["labelled_sentences"]) for j in jobs] == [5, 10, 15]
    picked = [i for j in jobs for i in j["picked"].split()]
    assert len(picked) == len(set(picked)) == 15  # no task annotated twice
    assert summary["jobs"] == 3 and summary["refused"] == 0
    assert json.loads((out / "plan.json").read_text())["batch"] == 5
    progress = (out / "log.txt").read_text()  # what a user watches during a run of hours
    assert "job 1: 5 labelled, p1-v1-n5 deployed" in progress and "job 3: 15 labelled" in progress


@pytest.mark.slow
def test_a_version_the_gate_keeps_aside_is_scored_too_so_the_run_says_what_the_gate_cost(tmp_path, monkeypatch):
    from bench import service_loop

    for key, value in {**TINY_TRAINING, "START_TRAINING_EACH_N_UPDATES": "6", "DEPLOY_POLICY": "manual"}.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "out"
    argv = [*_corpus(tmp_path), "--pool", "30", "--test", "12", "--threads", "1", "--out", str(out), "--budget", "12"]
    summary = service_loop.main(argv)
    jobs = _jobs(out)
    assert [j["deployed"] for j in jobs] == ["False", "False"]
    assert all(j["served_version"] == "untrained" for j in jobs)  # nothing deployed: the base model serves
    assert all(0.0 <= float(j["refused_f1"]) <= 1.0 for j in jobs)
    assert summary["refused"] == 2 and summary["gate_cost_f1_mean"] is not None
    assert "kept the previous version 2 times" in (out / "summary.md").read_text()


def test_the_summary_sets_the_served_curve_beside_the_idealised_arms_on_the_same_budgets(tmp_path):
    from bench.active import records
    from bench.service_loop import markdown, summarise

    log = records.RoundLog(tmp_path / "rounds.csv")
    for seed, f1s in ((0, [0.4, 0.6, 0.7]), (1, [0.5, 0.6, 0.8])):
        for k, (n, f1) in enumerate(zip([10, 20, 40], f1s)):
            log({"arm": "default", "seed": seed, "round": k, "labelled_sentences": n, "entity_f1": f1, "picked": ""})
    served = [(10, 0.3, "True", ""), (20, 0.5, "False", "0.55"), (30, 0.55, "True", ""), (40, 0.7, "True", "")]
    jobs = [
        {"labelled_sentences": str(n), "entity_f1": str(f), "deployed": d, "refused_f1": r, "reason": "why"}
        for n, f, d, r in served
    ]
    summary = summarise(jobs, tmp_path)
    ideal = summary["idealised"]["default"]
    assert ideal["budgets"] == [10, 20, 40] and ideal["f1_mean"] == pytest.approx([0.45, 0.6, 0.75])
    assert ideal["served_f1_at_budgets"] == [0.3, 0.5, 0.7]
    assert summary["refused"] == 1 and summary["gate_cost_f1_mean"] == pytest.approx(0.05)
    # served AULC over [10, 40]: trapezoids (0.3+0.5)/2*10 + (0.5+0.55)/2*10 + (0.55+0.7)/2*10, over 30
    assert ideal["served_aulc"] == pytest.approx((4.0 + 5.25 + 6.25) / 30)
    assert "| served F1 | 0.300 | 0.500 | 0.700 |" in markdown(summary, "cmd")
