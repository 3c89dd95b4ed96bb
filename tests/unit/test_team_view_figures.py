"""The team view's pure parts: progress in numbers, what comes next, rollbacks, thinning, which prediction an
annotation is compared with, acceptance per version, and the chart geometry."""

from __future__ import annotations

import json

import pytest

from infra.served_predictions import compact, expand
from services.team_view import (
    acceptance_records,
    histogram,
    job_progress,
    last_outcome,
    learning_curve,
    next_training,
    quality_rows,
    rollbacks,
    run_link,
    seen_prediction,
    thinned,
    version_row,
)
from store.local import VersionInfo
from web.team_charts import bar_chart, line_chart


def region(start: int, end: int, label: str) -> dict:
    return {
        "from_name": "label",
        "to_name": "text",
        "type": "labels",
        "value": {"start": start, "end": end, "labels": [label]},
    }


def test_progress_reads_step_and_epoch_and_estimates_what_is_left():
    state = {
        "state": "running",
        "started_at": 1000.0,
        "progress": 0.25,
        "message": "candidate: epoch 2/3, step 40/90",
        "followup": True,
        "annotations_since_last_job": 4,
    }
    got = job_progress(state, now=1060.0)
    assert (got["epoch"], got["epochs"], got["step"], got["total_steps"]) == (2, 3, 40, 90)
    assert got["elapsed_s"] == 60.0 and got["eta_s"] == 180.0  # a quarter took a minute: three more
    assert got["followup_queued"] is True and got["annotations_since_last_job"] == 4


def test_progress_reads_the_epoch_of_an_epoch_end_message():
    got = job_progress({"state": "running", "message": "epoch 3/60: loss 1.9640, validation F1 0.727"}, 0.0)
    assert (got["epoch"], got["epochs"], got["step"]) == (3, 60, None)


def test_progress_of_an_idle_or_just_started_job_has_no_eta():
    assert job_progress({"state": "idle"}, now=5.0)["eta_s"] is None
    started = job_progress({"state": "running", "started_at": 0.0, "progress": 0.01, "message": "starting"}, 9.0)
    assert started["elapsed_s"] == 9.0 and started["eta_s"] is None and started["step"] is None


def test_last_outcome_says_a_failed_jobs_error_in_words():
    failed = last_outcome({"state": "failed", "finished_at": 5.0, "error": "NoTrainingDataError: no annotation"})
    assert failed["ok"] is False and failed["error"] == "NoTrainingDataError: no annotation"
    ok = last_outcome({"state": "finished", "version": "p1-v2-n20", "deployed": True, "reason": "better", "f1": 0.5})
    assert ok["ok"] is True and ok["error"] is None and ok["reason"] == "better"
    assert last_outcome({"state": "running"}) is None


@pytest.mark.parametrize(
    "every, since, has_version, words",
    [
        (10, 7, False, "The first training starts after 3 more annotations (every 10)"),
        (10, 9, True, "The next training starts after 1 more annotation (every 10)"),
        (0, 50, False, "The first training starts when someone presses Start Training"),
    ],
)
def test_next_training_says_when(every, since, has_version, words):
    assert next_training(every, since, has_version).startswith(words)


def test_a_rollback_is_a_move_to_an_older_version():
    deploys = [[1.0, "p1-v1-n10"], [2.0, "p1-v2-n20"], [3.0, "p1-v1-n10"], [4.0, "p1-v3-n30"]]
    assert rollbacks(deploys) == [{"at": 3.0, "from": "p1-v2-n20", "to": "p1-v1-n10"}]


def test_thinning_keeps_the_first_and_last_and_at_most_the_limit():
    points = list(range(5000))
    kept = thinned(points, 200)
    assert len(kept) == 200 and kept[0] == 0 and kept[-1] == 4999 and kept == sorted(kept)
    assert thinned([1, 2, 3], 200) == [1, 2, 3]


def test_run_link_only_for_a_web_tracking_server():
    assert run_link("http://mlflow:5000/", "abc") == "http://mlflow:5000/#/runs/abc"
    assert run_link("file:///tmp/mlruns", "abc") is None and run_link("http://m", None) is None


@pytest.mark.parametrize(
    "meta, f1, current, per_label",
    [
        ({"metrics": {"entity_f1": 0.7, "per_type": {"PER": {"f1": 0.8}}}}, 0.7, None, {"PER": 0.8}),
        (  # a classification version: its deploy metric is macro-F1, its labels the classes
            {
                "task_type": "choices",
                "deploy_metric": "macro_f1",
                "metrics": {"macro_f1": 0.6, "accuracy": 0.9, "per_type": {"positive": {"f1": 0.9}}},
                "current_metrics": {"macro_f1": 0.4},
            },
            0.6,
            0.4,
            {"positive": 0.9},
        ),
        (  # a combined version: the mean over controls; per label, the entity types and the classifier's classes
            {
                "task_type": "ner+choices",
                "deploy_metric": "mean_control_score",
                "metrics": {"entity_f1": 0.5, "mean_control_score": 0.65, "per_type": {"PER": {"f1": 0.5}}},
                "choices": {"metrics": {"macro_f1": 0.8, "per_type": {"positive": {"f1": 0.8}}}},
            },
            0.65,
            None,
            {"PER": 0.5, "positive": 0.8},
        ),
    ],
    ids=["ner", "choices", "combined"],
)
def test_a_versions_f1_is_the_figure_its_deploy_decision_compared(tmp_path, meta, f1, current, per_label):
    row = version_row(VersionInfo("p1-v1-n10", tmp_path, {"annotations": 10, **meta}))
    assert (row["f1"], row["current_f1"], row["per_label"]) == (f1, current, per_label)
    assert row["metric"] == meta.get("deploy_metric", "entity_f1")
    assert learning_curve([row], {})[0]["f1"] == f1  # so a classification project has a learning curve too


def test_histogram_counts_over_zero_to_one():
    bins = histogram([0.0, 0.05, 0.5, 0.99, 1.0], bins=2)
    assert [b["tasks"] for b in bins] == [2, 3] and bins[0]["low"] == 0.0 and bins[-1]["high"] == 1.0


def test_served_regions_and_choices_round_trip_compactly():
    choice = {"from_name": "topic", "to_name": "text", "type": "choices", "value": {"choices": ["Sports", "World"]}}
    result = [region(0, 5, "PER"), choice, {"from_name": "note", "value": {"text": ["free text"]}}]
    rows = compact(result)
    assert rows == [["label", "text", 0, 5, "PER"], ["topic", "text", "choices", "Sports", "World"]]
    assert expand(rows) == [region(0, 5, "PER"), choice]
    assert expand(json.loads(json.dumps(rows))) == [region(0, 5, "PER"), choice]  # as read back from the file


def test_choices_acceptance_from_what_was_served():
    """Label Studio sends `prediction: {}` with annotations, so a classification project's acceptance comes from the
    served rows: an unchanged choice is accepted, another choice is changed."""
    served_choice = [["topic", "text", "choices", "Sports"]]
    served = {1: [(1.0, "p1-v1-n10", served_choice)], 2: [(1.0, "p1-v1-n10", served_choice)]}

    def annotated(choice):
        item = {"from_name": "topic", "to_name": "text", "type": "choices", "value": {"choices": [choice]}}
        return {"result": [item], "prediction": {}, "lead_time": 5.0, "created_at": "1970-01-01T00:00:02Z"}

    tasks = [{"id": 1, "annotations": [annotated("Sports")]}, {"id": 2, "annotations": [annotated("World")]}]
    records, sources = acceptance_records(tasks, served)
    assert sources == {"annotation": 0, "served": 2, "none": 0}
    (row,) = quality_rows(records)
    assert (row["choices_accepted"], row["choices_changed"]) == (1, 1)


def test_the_labelling_views_prediction_wins_else_what_was_served_before_the_annotation():
    attached = {"result": [region(0, 5, "PER")], "model_version": "p1-v2-n20"}
    served = [(100.0, "p1-v1-n10", [["label", "text", 0, 5, "ORG"]]), (200.0, "p1-v2-n20", [])]
    prediction, version, source = seen_prediction({"prediction": attached}, served)
    assert (prediction, version, source) == (attached, "p1-v2-n20", "annotation")
    early = {"prediction": {}, "created_at": "1970-01-01T00:02:30Z"}  # 150 s: after v1 was served, before v2
    prediction, version, source = seen_prediction(early, served)
    assert version == "p1-v1-n10" and source == "served" and prediction["result"] == [region(0, 5, "ORG")]
    assert seen_prediction({"prediction": {}, "created_at": None}, served)[1] == "p1-v2-n20"
    assert seen_prediction({"prediction": {}}, []) == (None, None, "none")


def test_acceptance_per_version_from_annotations_and_served_predictions():
    served = {1: [(1.0, "p1-v1-n10", [["label", "text", 0, 5, "PER"], ["label", "text", 10, 15, "LOC"]])]}
    tasks = [
        {"id": 1, "annotations": [{"result": [region(0, 5, "PER")], "prediction": {}, "lead_time": None}]},
        {
            "id": 2,
            "annotations": [
                {
                    "result": [region(0, 4, "ORG")],
                    "prediction": {"result": [region(0, 4, "PER")], "model_version": "p1-v1-n10"},
                    "lead_time": 8.0,
                }
            ],
        },
        {"id": 3, "annotations": [{"result": [region(1, 2, "PER")], "prediction": {}, "lead_time": 20.0}]},
    ]
    records, sources = acceptance_records(tasks, served)
    assert sources == {"annotation": 1, "served": 1, "none": 1}
    rows = {r["model_version"]: r for r in quality_rows(records)}
    v1 = rows["p1-v1-n10"]
    assert (v1["kept"], v1["changed"], v1["deleted"], v1["added"], v1["predicted"]) == (1, 1, 1, 0, 3)
    assert v1["with_prediction"]["median"] == 8.0
    assert rows[None]["without_prediction"]["median"] == 20.0 and rows[None]["added"] == 1


def test_learning_curve_has_one_point_per_version_with_an_f1():
    history = [
        {"version": "p1-v1-n10", "annotations": 10, "f1": 0.4},
        {"version": "p1-v2-n20", "annotations": 20, "f1": None},
        {"version": "p1-v3-n30", "annotations": 30, "f1": 0.6},
    ]
    assert learning_curve(history, {"p1-v1-n10": 0.5}) == [
        {"version": "p1-v1-n10", "annotations": 10, "f1": 0.4, "acceptance": 0.5},
        {"version": "p1-v3-n30", "annotations": 30, "f1": 0.6, "acceptance": None},
    ]


def test_line_chart_maps_points_into_the_plot():
    chart = line_chart({"F1": [(10, 0.0, "a"), (30, 1.0, "b")]}, "annotations", "F1")
    (series,) = chart.series
    (x0, y0, _), (x1, y1, _) = series.dots
    assert x0 == chart.left and x1 == chart.right and y0 == chart.bottom and y1 == chart.top
    assert line_chart({"F1": []}, "x", "y") is None


def test_bar_chart_scales_to_the_largest_count():
    chart = bar_chart([("a", 2), ("b", 4)], "x", "y")
    assert chart.bars[1].y == chart.top and chart.bars[0].height == pytest.approx(chart.bars[1].height / 2, abs=0.1)
    assert bar_chart([], "x", "y") is None


def test_acceptance_from_annotations_recorded_in_the_labelling_view(tmp_path):
    """Label Studio 1.23.2's labelling view sends `prediction: {}` and a real `lead_time` (with `parent_prediction`):
    the prediction is the one this service served for the task, read back from its served-predictions file."""
    from infra.served_predictions import ServedPredictions
    from store.local import LocalStore
    from tests.support.paths import fixture

    recorded = fixture("labelling_view_annotations")
    annotations = [a for t in recorded["tasks"] for a in t["annotations"]]
    assert all(a["prediction"] == {} and a["lead_time"] > 0 and a["parent_prediction"] for a in annotations)
    store = LocalStore(tmp_path)
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "served.jsonl").write_text("".join(json.dumps(row) + "\n" for row in recorded["served"]))
    records, sources = acceptance_records(recorded["tasks"], ServedPredictions(store).served("1"))
    assert sources == {"annotation": 0, "served": 3, "none": 0}
    (row,) = quality_rows(records)
    assert row["model_version"] == "base-rule-model0"
    assert (row["kept"], row["changed"], row["deleted"], row["added"], row["predicted"]) == (4, 1, 1, 0, 6)
    assert row["with_prediction"]["tasks"] == 3 and row["without_prediction"]["tasks"] == 0
