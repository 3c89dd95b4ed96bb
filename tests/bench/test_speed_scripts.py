"""Each speed benchmark runs end to end at --quick sizes, prints its table and writes its results files."""

from __future__ import annotations

import importlib
import json

import pytest

pytestmark = pytest.mark.slow  # each runs a benchmark end to end (minutes); the fast tier skips them

# script -> keys its results must hold
EXPECTED = {
    "speed_predict": {"sizes", "targets"},
    "speed_latency": {"ours_http", "bare_forward", "p50_ratio", "target_p50_ratio"},
    "speed_select": {"cold_s", "cached_s", "cached_median_s", "cached_stages_s", "target_cached_s"},
    "speed_memory": {"web", "bare_loaded", "worker_peak_over_bare_loaded"},
    "speed_predict_while_training": {"idle", "runs", "target_p99_ratio"},
    "speed_mc_dropout": {"median_s", "ratio_to_deterministic", "load_average_by_round"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_quick_run_prints_a_table_and_writes_results(name, tmp_path, capsys):
    module = importlib.import_module(f"bench.{name}")
    returned = module.main(["--quick", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "| " in printed and "|--" in printed, printed[-2000:]

    saved = json.loads((tmp_path / f"{name}.json").read_text())
    assert saved["name"] == name and saved["quick"] is True
    assert {"cpu_model", "cores", "date", "git_commit"} <= set(saved["machine"])
    assert EXPECTED[name] <= set(saved["results"]), sorted(saved["results"])
    assert set(returned) >= EXPECTED[name]
    markdown = (tmp_path / f"{name}.md").read_text()
    assert markdown.startswith(f"# {name}") and "|--" in markdown


CONLL_SENTENCES = [
    [("Angela", "B-PER"), ("Merkel", "I-PER"), ("visited", "O"), ("Berlin", "B-LOC"), (".", "O")],
    [("Sony", "B-ORG"), ("opened", "O"), ("an", "O"), ("office", "O"), ("in", "O"), ("Tokyo", "B-LOC")],
    [("The", "O"), ("Euro", "B-MISC"), ("Cup", "I-MISC"), ("starts", "O"), ("today", "O"), (".", "O")],
]


def test_speed_serving_runs_on_any_conll_file_and_model_dir(tmp_path, capsys):
    """At every precision, on a CoNLL file of 24 sentences and a model directory given on the command line."""
    from bench import speed_serving
    from bench.common import build_model

    conll = tmp_path / "tiny.tsv"
    conll.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in s) for s in CONLL_SENTENCES * 8) + "\n")
    model = build_model(tmp_path / "model")
    results = speed_serving.main(
        ["--quick", "--out", str(tmp_path), "--conll-test", str(conll), "--model", str(model), "--sizes", "16"]
    )
    printed = capsys.readouterr().out
    assert "load average at start" in printed and "|--" in printed
    assert [r["precision"] for r in results["runs"]] == ["fp32", "bf16", "int8"]
    assert all(r["served_precision"] == r["precision"] for r in results["runs"])
    fp32 = results["runs"][0]["sizes"][0]
    assert fp32["f1_drop_vs_fp32"] == 0.0 and fp32["span_agreement_vs_fp32"] == 1.0
    assert all(r["worker_peak_rss_mib"] > 100 for r in results["runs"])
    saved = json.loads((tmp_path / "speed_serving.json").read_text())
    assert saved["quick"] is True and set(results["targets"]) <= set(saved["results"]["targets"])
