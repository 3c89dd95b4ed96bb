"""The label-efficiency benchmark on a classification corpus (`label<TAB>text` lines, any label set): reading and
format detection, the dev carve, the macro-F1 summary, and a seconds-long run on a tiny model that trains through
the service's own classification code."""

from __future__ import annotations

import json
import math
import random

import pytest

from bench.active import records, report
from bench.choices import ChoiceCorpusError, labels_of_rows, looks_like_choices, read_rows, to_examples
from bench.conll import carve

# Labels and texts written for these tests (not from any corpus). The tiny model's encoder tells its cue words
# apart (tests.support.choice_model), so each class has cue words of its own; its head's classes are other names,
# so every run starts from a fresh head, as a project's first job does.
CUES = {"praise": ("good", "great"), "complaint": ("bad", "awful"), "shrug": ("okay",)}
FILLERS = ("the", "room", "was", "service", "food", "really", "today", "and", "staff", "view")


def corpus_lines(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        label = ("praise", "complaint", "shrug")[i % 3]
        words = [rng.choice(FILLERS) for _ in range(rng.randint(2, 6))]
        words.insert(rng.randrange(len(words) + 1), rng.choice(CUES[label]))
        lines.append(f"{label}\t{' '.join(words)}")
    return lines


def write_corpus(path, n: int, seed: int) -> None:
    path.write_text("\n".join(corpus_lines(n, seed)) + "\n", encoding="utf-8")


def test_a_label_tab_text_file_reads_as_choices_and_a_conll_file_does_not(tmp_path):
    choices, conll, spaced = tmp_path / "c.tsv", tmp_path / "n.tsv", tmp_path / "s.txt"
    write_corpus(choices, 6, seed=0)
    conll.write_text("Mira\tB-PER\nvisited\tO\nOrlin\tB-LOC\n\nHello\tO\n", encoding="utf-8")
    spaced.write_text("Mira NNP B-NP B-PER\nvisited VBD B-VP O\n", encoding="utf-8")
    assert looks_like_choices(choices)
    assert not looks_like_choices(conll) and not looks_like_choices(spaced)


def test_examples_carry_one_hot_targets_in_sorted_label_order_and_unknown_labels_are_refused(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("shrug\tit was okay\npraise\tgood food\ncomplaint\tawful staff\n", encoding="utf-8")
    rows = read_rows(path)
    labels = labels_of_rows(rows)
    assert labels == ("complaint", "praise", "shrug")
    examples = to_examples(rows, labels, "train")
    assert [e.text for e in examples] == ["it was okay", "good food", "awful staff"]
    assert [e.targets for e in examples] == [(0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)]
    assert all(e.labelled == (True,) for e in examples)
    with pytest.raises(ChoiceCorpusError, match="labels sarcasm are not in"):
        to_examples([("sarcasm", "sure, great")], labels, "test")
    (tmp_path / "bad.tsv").write_text("praise good food without a tab\n", encoding="utf-8")
    with pytest.raises(ChoiceCorpusError, match="expected label<TAB>text"):
        read_rows(tmp_path / "bad.tsv")


def test_the_dev_carve_is_disjoint_from_the_rest_and_reproducible():
    items = list(range(50))
    dev, rest = carve(items, 10, seed=2)
    assert len(dev) == 10 and len(rest) == 40 and not set(dev) & set(rest)
    assert dev == sorted(dev) and (dev, rest) == carve(items, 10, seed=2)
    with pytest.raises(ValueError):
        carve(items, 50, seed=2)


def _row(arm, seed, rnd, n, f1, accuracy):
    return {
        "arm": arm,
        "seed": seed,
        "round": rnd,
        "labelled_sentences": n,
        "labelled_tokens": 5 * n,
        "labelled_entities": None,
        "macro_f1": f1,
        "accuracy": accuracy,
        "train_seconds": 1.0,
    }


def test_a_classification_summary_draws_its_curves_and_aulc_from_macro_f1_and_reports_accuracy_beside_it():
    curves = {
        "random": {0: [(0.4, 0.6), (0.5, 0.7)], 1: [(0.4, 0.6), (0.6, 0.8)]},
        "default": {0: [(0.4, 0.6), (0.7, 0.75)], 1: [(0.4, 0.6), (0.8, 0.85)]},
    }
    rows = [
        _row(arm, s, k, n, f1, acc)
        for arm, seeds in curves.items()
        for s, points in seeds.items()
        for k, (n, (f1, acc)) in enumerate(zip([10, 20], points))
    ]
    rows.append(_row(records.FULL_POOL, 0, 0, 100, 0.9, 0.95))
    plan = {"task": "choices", "measures": {"default": "margin", "random": "random"}}
    summary = report.summarise(rows, pool_size=100, plan=plan)
    default = summary["arms"]["default"]
    assert summary["metric"] == "macro_f1" and set(summary["ranges"]) == {"sentences", "tokens"}
    # AULC over 10..20 of macro-F1: default (0.4 + 0.7) / 2 and (0.4 + 0.8) / 2; random 0.45 and 0.5
    assert default["aulc_per_seed"]["sentences"] == {0: pytest.approx(0.55), 1: pytest.approx(0.6)}
    assert default["vs_baseline"]["sentences"]["mean"] == pytest.approx(0.1)
    assert default["accuracy_vs_baseline_at_round"][-1]["mean"] == pytest.approx(0.05)
    assert default["curve"]["accuracy"] == [pytest.approx(0.6), pytest.approx(0.8)]
    assert summary["full_pool_f1"] == 0.9 and summary["full_pool_also"] == {"accuracy": 0.95}
    text = report.markdown(summary)
    assert "| arm | macro-F1 @10 | macro-F1 @20 | AULC task | AULC token |" in text
    assert "| arm (accuracy) | accuracy @10 | accuracy @20 |" in text and "accuracy - random @20" in text
    assert "entity" not in text and "default margin" in text and "macro-F1 0.900, accuracy 0.950" in text


def test_a_rounds_file_written_before_the_classification_columns_keeps_its_header_and_still_resumes(tmp_path):
    """NER runs recorded before macro_f1 and accuracy existed: appended rows follow the file's own header."""
    old_fields = [f for f in records.FIELDS if f not in ("macro_f1", "accuracy")]
    path = tmp_path / "rounds.csv"
    path.write_text(",".join(old_fields) + "\n" + "default,0,0,3,30,6,0.5,0.5,0.5,nan,1.0,0.0,1,1,spans,0 1 2\n")
    records.RoundLog(path)({**dict.fromkeys(old_fields), "arm": "default", "seed": 0, "round": 1} | _ner_round())
    assert path.read_text().splitlines()[0] == ",".join(old_fields)
    rows = records.read_rows(path)
    assert [r["round"] for r in rows] == [0, 1] and rows[1]["picked"] == [3, 4]
    assert rows[1]["entity_f1"] == 0.6 and all(math.isnan(r["macro_f1"]) for r in rows)


def _ner_round() -> dict:
    return {
        "labelled_sentences": 5,
        "labelled_tokens": 50,
        "labelled_entities": 9,
        "entity_f1": 0.6,
        "entity_precision": 0.6,
        "entity_recall": 0.6,
        "agreement": 0.9,
        "train_seconds": 1.0,
        "select_seconds": 0.0,
        "steps": 1,
        "epochs": 1,
        "seqeval_mode": "spans",
        "picked": [3, 4],
    }


def test_a_span_factor_is_refused_for_a_classification_arm():
    from bench.simulate import refuse_span_factors

    refuse_span_factors(["default", "random", "default:strategy=entropy,diversity=on"])
    with pytest.raises(SystemExit, match="reduction is a span factor"):
        refuse_span_factors(["default:reduction=mean"])


@pytest.fixture
def tiny_choice_model(tmp_path, monkeypatch):
    """The tiny classifier of tests.support.choice_model as the base model, trained from scratch each round so a
    resumed track is rebuilt exactly."""
    from tests.support.choice_model import build_choice_model

    model = build_choice_model(tmp_path / "tiny-model")
    monkeypatch.setenv("BASELINE_MODEL_NAME", str(model))
    monkeypatch.setenv("TRAINING_START", "scratch")
    return model


def test_a_classification_run_pairs_default_with_random_trained_alike_and_resumes_where_it_stopped(
    tmp_path, tiny_choice_model
):
    from bench import simulate

    write_corpus(tmp_path / "train.tsv", 40, seed=1)
    write_corpus(tmp_path / "test.tsv", 15, seed=2)
    out = tmp_path / "out"
    argv = [
        "--train",
        str(tmp_path / "train.tsv"),
        "--test-file",
        str(tmp_path / "test.tsv"),
        "--pool",
        "24",
        "--test",
        "12",
        "--seeds",
        "0",
        "--arms",
        "default",
        "random",
        "default:strategy=entropy",
        "--budgets",
        "6",
        "10",
        "14",
        "--epochs",
        "1",
        "--min-steps",
        "10",
        "--batch-size",
        "4",
        "--lr",
        "0.05",  # the tiny model's fresh head learns its cue words in a few steps
        "--agreement-sample",
        "10",
        "--threads",
        "1",
        "--out",
        str(out),
        "--no-progress",
    ]
    summary = simulate.main(argv)
    plan = json.loads((out / "plan.json").read_text())
    assert plan["task"] == "choices" and plan["labels"] == ["complaint", "praise", "shrug"]
    assert plan["measures"]["default"] == "least_confidence"
    assert plan["measures"]["default:strategy=entropy"] == "entropy"
    rows = records.read_rows(out / "rounds.csv")
    curves = [r for r in rows if r["arm"] != records.FULL_POOL]
    assert len(curves) == 3 * 3  # three arms x (seed set + 2 rounds)
    by_arm = {arm: [r for r in curves if r["arm"] == arm] for arm in ("default", "random")}
    for arm, track in by_arm.items():
        assert [r["labelled_sentences"] for r in track] == [6, 10, 14]
        picked = [i for r in track for i in r["picked"]]
        assert len(picked) == len(set(picked)) == 14  # never the same text twice
        assert all(0.0 <= r["macro_f1"] <= 1.0 and 0.0 <= r["accuracy"] <= 1.0 for r in track)
        assert all(r["labelled_entities"] is None for r in track)
    # trained alike: the same seed set and model, then the same epochs and steps on each round's labelled set
    default, baseline = by_arm["default"], by_arm["random"]
    assert default[0]["picked"] == baseline[0]["picked"] and default[0]["macro_f1"] == baseline[0]["macro_f1"]
    assert [(r["epochs"], r["steps"]) for r in default] == [(r["epochs"], r["steps"]) for r in baseline]
    assert plan["arm_factors"]["default"]["start"] == plan["arm_factors"]["random"]["start"] == "scratch"
    assert summary["arms"]["default"]["baseline"] == "random" and "vs_baseline" in summary["arms"]["default"]
    full = [r for r in rows if r["arm"] == records.FULL_POOL]
    assert full[0]["labelled_sentences"] == 24 and summary["full_pool_f1"] == full[0]["macro_f1"]
    for name in ("f1_vs_sentences", "f1_vs_tokens", "accuracy_vs_sentences"):
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "f1_vs_entities.png").exists()
    assert "macro-F1 - random @14" in (out / "summary.md").read_text()

    # interrupt: drop the default arm's last round, then run the same command again
    lines = (out / "rounds.csv").read_text().splitlines(keepends=True)
    last = max(i for i, line in enumerate(lines) if line.startswith("default,0,2,"))
    (out / "rounds.csv").write_text("".join(lines[:last] + lines[last + 1 :]))
    simulate.main(argv)
    again = records.read_rows(out / "rounds.csv")
    assert len(again) == len(rows)
    before = next(r for r in rows if r["arm"] == "default" and r["round"] == 2)
    after = next(r for r in again if r["arm"] == "default" and r["round"] == 2)
    assert after["picked"] == before["picked"] and after["macro_f1"] == pytest.approx(before["macro_f1"])
    assert "(8 rounds already recorded)" in (out / "log.txt").read_text()


def test_a_dev_run_scores_on_texts_carved_from_the_training_file_and_never_in_the_pool(tmp_path):
    from bench import simulate

    write_corpus(tmp_path / "train.tsv", 30, seed=3)
    args = simulate.build_parser().parse_args(
        ["--train", str(tmp_path / "train.tsv"), "--dev", "9", "--pool", "15", "--test", "100"]
    )
    pool, held_out, labels = simulate.load_data(args, simulate.task_of_args(args))
    assert simulate.task_of_args(args) == "choices" and len(pool) == 15 and len(held_out) == 9
    assert not {e.task_id for e in pool} & {e.task_id for e in held_out}  # task ids are line numbers
    confirm = simulate.build_parser().parse_args(
        ["--train", str(tmp_path / "train.tsv"), "--test-file", str(tmp_path / "train.tsv"), "--dev", "9"]
        + ["--pool", "15", "--evaluate", "test"]
    )
    same_pool, _, _ = simulate.load_data(confirm, "choices")
    assert [e.task_id for e in same_pool] == [e.task_id for e in pool]  # the confirmation keeps the dev run's pool
    with pytest.raises(SystemExit, match="needs --dev"):
        simulate.evaluation_of(simulate.build_parser().parse_args(["--evaluate", "dev"]))
