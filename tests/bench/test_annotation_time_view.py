"""The benchmark's per-second view: labelled sets priced in estimated annotator seconds, beside per task."""

from __future__ import annotations

import json

import pytest

from bench.active import report
from bench.active.annotation_time import PUBLISHED, SENSITIVITY, from_text
from uncertainty import AnnotationTime

READING = AnnotationTime(2.0, 1.0, 0.0, "test: one second per token")


def _rows(arm: str, tokens_per_text: int, f1s: list[float]) -> list[dict]:
    return [
        {
            "arm": arm,
            "seed": seed,
            "round": k,
            "labelled_sentences": n,
            "labelled_tokens": tokens_per_text * n,
            "labelled_entities": n,
            "entity_f1": f1 + 0.01 * seed,
            "train_seconds": 1.0,
        }
        for seed in (0, 1, 2)
        for k, (n, f1) in enumerate(zip([10, 20, 40], f1s))
    ]


def test_a_selection_of_long_texts_wins_per_task_and_loses_per_annotator_second():
    rows = _rows("random", 10, [0.40, 0.50, 0.60]) + _rows("default", 40, [0.45, 0.58, 0.66])
    summary = report.summarise(rows, pool_size=200, time_model=READING)
    relative = summary["arms"]["default"]["relative_to_baseline"]
    assert relative["sentences"]["mean"] > 0.05
    assert relative["seconds"]["mean"] < 0 and relative["tokens"]["mean"] < 0
    # seconds are the model's price of each labelled set: 40 texts of 40 tokens = 2*40 + 40*40
    assert summary["arms"]["default"]["curve"]["seconds"][-1] == pytest.approx(2 * 40 + 40 * 40)
    spread = summary["arms"]["default"]["seconds_sensitivity"]
    assert (
        spread["corners"] == len(SENSITIVITY) and spread["lowest"] <= relative["seconds"]["mean"] <= spread["highest"]
    )
    text = report.markdown(summary)
    assert "per second" in text and "2 x texts + 1 x tokens + 0 x gold entities" in text


def test_the_time_model_is_the_published_one_unless_given_and_a_bad_spec_says_how_to_write_it():
    assert report.summarise(_rows("random", 10, [0.4, 0.5, 0.6]), 200)["annotation_time"]["per_token"] == 3.795
    assert PUBLISHED.per_text == 12.57 and PUBLISHED.per_entity == 5.387
    assert from_text("8,0.4,2").as_dict()["per_entity"] == 2.0
    with pytest.raises(ValueError, match="as a,b,c"):
        from_text("8,0.4")
    with pytest.raises(ValueError, match=">= 0"):
        from_text("8,-1,2")


def test_a_team_refits_the_time_model_on_its_own_label_studio_export(tmp_path, capsys):
    from bench.fit_annotation_time import main

    tasks = []
    for i in range(40):
        words = 5 + i % 20
        entities = i % 4
        result = [{"type": "labels", "value": {"labels": ["PER"]}} for _ in range(entities)]
        result.append({"type": "choices", "value": {"choices": ["news"]}})  # not a region drawn
        annotations = [{"lead_time": 4.0 + 0.5 * words + 2.0 * entities, "result": result}]
        annotations.append({"lead_time": None, "result": result})  # made through the API: no time
        annotations.append({"lead_time": 999.0, "was_cancelled": True, "result": []})
        tasks.append({"data": {"text": " ".join(["word"] * words)}, "annotations": annotations})
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    assert main([str(export)]) == 0
    out = capsys.readouterr().out
    assert '"observations": 40' in out and "--annotation-time 4,0.5,2" in out
    export.write_text(json.dumps(tasks[:5]))
    assert main([str(export)]) == 1
    assert "at least 20" in capsys.readouterr().err
