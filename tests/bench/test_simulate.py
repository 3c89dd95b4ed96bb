"""The label-efficiency benchmark: CoNLL reading, the stop signal and summary maths, and a tiny end-to-end run."""
from __future__ import annotations

import csv
import json
import math

import pytest

from bench.conll import labels_of, parse_conll, subsample, token_count, tokens_to_example
from bench.simulate import (
    CSV_FIELDS, agreement, first_reaching, normalised_aulc, stop_flags, stop_signal, summarise, summary_markdown,
)

# Three sentences written for this test (not from any corpus).
SNIPPET = """-DOCSTART-\tO

Mira\tB-PER
Oskarsson\tI-PER
visited\tO
Lake\tB-LOC
Tarn\tI-LOC
.\tO

The\tO
Velmont\tB-ORG
board\tO
met\tO
Kessler\tB-PER
Dunn\tB-PER
in\tO
Orlin\tB-LOC

No\tO
names\tO
here\tI-MISC
"""


def test_reader_turns_iob2_into_code_point_spans():
    examples = parse_conll(SNIPPET.splitlines(keepends=True), name="snippet")
    assert [e.task_id for e in examples] == ["snippet:0", "snippet:1", "snippet:2"]
    first, second, third = examples
    assert first.text == "Mira Oskarsson visited Lake Tarn ."
    assert [(first.text[s:e], label) for s, e, label in first.spans] == [("Mira Oskarsson", "PER"), ("Lake Tarn", "LOC")]
    # two adjacent entities of one type stay apart because the second starts with B-
    assert [(second.text[s:e], label) for s, e, label in second.spans] == [
        ("Velmont", "ORG"), ("Kessler", "PER"), ("Dunn", "PER"), ("Orlin", "LOC")]
    # an I- with nothing to continue opens an entity (read leniently)
    assert [(third.text[s:e], label) for s, e, label in third.spans] == [("here", "MISC")]
    assert token_count(second) == 8
    assert labels_of(examples) == ("PER", "ORG", "LOC", "MISC")


def test_reader_rejects_ragged_input_and_subsamples_reproducibly():
    with pytest.raises(ValueError):
        parse_conll(["lonely-token-without-tag\n"])
    with pytest.raises(ValueError):
        tokens_to_example(0, ["a", "b"], ["O"])
    examples = parse_conll(SNIPPET.splitlines(keepends=True))
    assert subsample(examples, 2, seed=3) == subsample(examples, 2, seed=3)
    picked = subsample(examples, 2, seed=3)
    assert len(picked) == 2 and picked == sorted(picked, key=examples.index)
    assert subsample(examples, None, seed=3) == examples


def test_agreement_and_stop_rule():
    assert agreement([["O", "B-PER"], ["O"]], [["O", "B-PER"], ["B-LOC"]]) == 0.5
    assert agreement([], []) == 1.0
    assert stop_signal(0.001, 0.99) and not stop_signal(0.02, 0.99) and not stop_signal(0.001, 0.90)
    assert stop_signal(-0.03, 0.97)  # a drop is no gain
    assert not stop_signal(float("nan"), 1.0)
    assert stop_flags([True, False, True, True, True], patience=2) == [False, False, False, True, True]


def test_curve_measures_by_hand():
    assert normalised_aulc([0, 10], [0.0, 1.0]) == pytest.approx(0.5)
    assert normalised_aulc([0, 10, 20], [0.2, 0.4, 0.4]) == pytest.approx((3 + 4) / 20)
    assert first_reaching([50, 100, 150], [0.3, 0.6, 0.7], 0.6) == 100
    assert first_reaching([50, 100], [0.3, 0.5], 0.6) is None


def _row(strategy, seed, rnd, n, f1, stop=False):
    return {"strategy": strategy, "diversity": False, "seed": seed, "round": rnd, "labelled_sentences": n,
            "labelled_tokens": 10 * n, "entity_f1": f1, "entity_precision": f1, "entity_recall": f1,
            "agreement": float("nan") if rnd == 0 else 0.9, "f1_gain": 0.0, "stop_signal": stop, "stop": stop,
            "train_seconds": 1.0, "steps": 1, "epochs": 1, "warm": True, "seqeval_mode": "strict IOB2"}


def test_summary_reports_budgets_aulc_and_pool_shares():
    rows = [_row("random", s, k, n, f) for s in (0, 1) for k, (n, f) in enumerate([(10, 0.5), (20, 0.7), (30, 0.8)])]
    rows += [_row("entropy", 0, 0, 10, 0.5), _row("entropy", 0, 1, 20, 0.80), _row("entropy", 0, 2, 30, 0.84, True)]
    full = [_row("full_pool", 0, 0, 100, 0.84)]
    summary = summarise(rows, full, pool_size=100)
    random_arm, entropy_arm = summary["arms"]["random"], summary["arms"]["entropy"]
    assert summary["budgets"] == [10, 20, 30]
    assert random_arm["f1_at_budget"] == {"10": 0.5, "20": 0.7, "30": 0.8}
    assert random_arm["share_for_95pct"] == pytest.approx(0.30) and random_arm["share_for_99pct"] is None
    assert entropy_arm["share_for_95pct"] == pytest.approx(0.20) and entropy_arm["share_for_99pct"] == pytest.approx(0.30)
    assert entropy_arm["stop_at_sentences"] == [30]
    assert summary["ranking_by_aulc"] == ["entropy", "random"]
    markdown = summary_markdown(summary)
    assert "strict IOB2" in markdown and "not reached" in markdown and "| entropy |" in markdown


def _write_conll(path, tasks):
    """Authored corpus tasks as a CoNLL file: the project's words as tokens, their aligned BIO tags."""
    from ner.words import split_words
    from training.alignment import align_spans

    lines = []
    for task in tasks:
        text = task["data"]["text"]
        spans = [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0])
                 for r in task["annotations"][0]["result"]]
        words = split_words(text)
        tags, _ = align_spans(words, spans)
        lines += [f"{text[s:e]}\t{t}" for (s, e), t in zip(words, tags)] + [""]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_two_rounds_write_rounds_plots_and_summary(tmp_path):
    from bench import simulate
    from tests.data.corpus import make_tasks
    from training.evaluation import SEQEVAL_MODE

    _write_conll(tmp_path / "train.tsv", make_tasks(40, seed=1))
    _write_conll(tmp_path / "test.tsv", make_tasks(16, seed=2, start_id=1000))
    out = tmp_path / "out"
    summary = simulate.main([
        "--data-dir", str(tmp_path), "--pool", "30", "--test", "12", "--seeds", "0",
        "--strategies", "random", "boundary_entropy+div", "--seed-size", "6", "--batch", "4", "--rounds", "2",
        "--epochs", "1", "--min-steps", "2", "--batch-size", "8", "--agreement-sample", "20", "--threads", "1",
        "--out", str(out), "--no-progress",
    ])
    with (out / "sim_rounds.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert set(CSV_FIELDS) <= set(rows[0])
    curves = [r for r in rows if r["strategy"] != "full_pool"]
    assert len(curves) == 2 * 3  # two arms x (seed round + 2 rounds)
    assert [int(r["labelled_sentences"]) for r in curves if r["strategy"] == "random"] == [6, 10, 14]
    for r in curves:
        assert 0.0 <= float(r["entity_f1"]) <= 1.0 and r["seqeval_mode"] == SEQEVAL_MODE
        if r["round"] != "0":
            assert 0.0 <= float(r["agreement"]) <= 1.0 and not math.isnan(float(r["f1_gain"]))
            assert r["stop"] in ("True", "False") and r["stop_signal"] in ("True", "False")
    assert [r for r in rows if r["strategy"] == "full_pool"][0]["labelled_sentences"] == "30"
    for name in ("sim_f1_vs_sentences.png", "sim_f1_vs_tokens.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((out / "sim_summary.json").read_text())
    assert saved["seqeval_mode"] == SEQEVAL_MODE and set(saved["arms"]) == {"random", "boundary_entropy+div"}
    assert summary["full_pool_f1"] is not None
    assert "strict IOB2" in (out / "sim_summary.md").read_text()
    assert "round 2" in (out / "sim_log.txt").read_text()
