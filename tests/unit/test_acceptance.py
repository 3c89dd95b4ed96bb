"""How much of a served prediction the annotators kept (text/acceptance.py), on Label Studio 1.23-shaped results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from text.acceptance import Acceptance, AcceptanceRecord, compare, summarise

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "label-studio-1.23.2"
TEXT = "Angela Merkel met Tim Cook in Berlin."


def region(start, end, label, from_name="label", to_name="text", **extra):
    item = {
        "from_name": from_name,
        "to_name": to_name,
        "type": "labels",
        "value": {"start": start, "end": end, "text": TEXT[start:end], "labels": [label] if label else []},
    }
    return {**item, **extra}


def choice(values, from_name="sentiment"):
    return {"from_name": from_name, "to_name": "text", "type": "choices", "value": {"choices": list(values)}}


def prediction(*items, version="v3"):
    return {"model_version": version, "score": 0.4, "result": list(items)}


def annotation(*items, cancelled=False, lead_time=None):
    return {"result": list(items), "was_cancelled": cancelled, "lead_time": lead_time, "prediction": {}}


def test_the_recorded_webhook_annotation_against_the_prediction_it_kept():
    body = json.loads((FIXTURES / "webhook_ANNOTATION_CREATED.json").read_text())["body"]
    served = prediction(region(0, 13, "PER", id="abc", score=0.93))  # ids and scores do not matter
    result = compare(served, body["annotation"])
    assert result == Acceptance(kept=1, predicted=1, annotated=1)
    assert result.rate == 1.0
    assert body["annotation"]["prediction"] == {}  # the API's annotations carry none: the caller supplies it


def test_kept_changed_deleted_added():
    served = prediction(
        region(0, 13, "PER"),  # kept
        region(18, 26, "PER"),  # boundary changed to 18..21
        region(30, 36, "ORG"),  # label changed to LOC
        region(14, 17, "MISC"),  # deleted
    )
    done = annotation(region(0, 13, "PER"), region(18, 21, "PER"), region(30, 36, "LOC"), region(22, 26, "PER"))
    result = compare(served, done)
    # 22..26 overlaps the predicted 18..26, so it is part of that change, not an addition
    assert (result.kept, result.changed, result.deleted, result.added) == (1, 2, 1, 0)
    assert result.predicted == 4 and result.annotated == 4
    assert result.rate == pytest.approx(0.25)
    added = compare(served, annotation(region(0, 13, "PER"), region(37 - 1, 37, "MISC")))
    assert (added.kept, added.changed, added.deleted, added.added) == (1, 0, 3, 1)


def test_empty_prediction_and_empty_annotation():
    assert compare(prediction(), annotation(region(0, 13, "PER"))) == Acceptance(added=1, annotated=1)
    assert compare(prediction(), annotation(region(0, 13, "PER"))).rate is None
    assert compare(None, annotation()) == Acceptance()
    assert compare({}, []) == Acceptance()
    all_deleted = compare(prediction(region(0, 13, "PER"), region(30, 36, "LOC")), annotation())
    assert (all_deleted.deleted, all_deleted.rate) == (2, 0.0)


def test_cancelled_annotation_counts_nothing():
    result = compare(prediction(region(0, 13, "PER")), annotation(cancelled=True))
    assert result.cancelled and result.predicted == 0 and result.rate is None


def test_result_lists_work_as_well_as_dicts():
    assert compare([region(0, 13, "PER")], [region(0, 13, "PER")]).kept == 1


def test_overlapping_predicted_regions():
    # nested predictions: the annotator kept the outer one only
    served = prediction(region(0, 13, "PER"), region(7, 13, "PER"))
    result = compare(served, annotation(region(0, 13, "PER")))
    assert (result.kept, result.changed, result.deleted) == (1, 0, 1)
    # one predicted region split in two by the annotator: one change, nothing added
    split = compare(prediction(region(0, 13, "PER")), annotation(region(0, 6, "PER"), region(7, 13, "PER")))
    assert (split.kept, split.changed, split.deleted, split.added) == (0, 1, 0, 0)
    # two predicted regions merged into one: both changed
    merged = compare(prediction(region(0, 6, "PER"), region(7, 13, "PER")), annotation(region(0, 13, "PER")))
    assert (merged.changed, merged.added) == (2, 0)


def test_same_span_with_different_labels():
    served = prediction(region(0, 13, "PER"), region(0, 13, "ORG"))
    one_kept = compare(served, annotation(region(0, 13, "PER")))
    assert (one_kept.kept, one_kept.changed, one_kept.deleted) == (1, 0, 1)  # ORG was removed, not changed
    both = compare(served, annotation(region(0, 13, "ORG"), region(0, 13, "PER")))
    assert (both.kept, both.rate) == (2, 1.0)
    second_label = compare(prediction(region(0, 13, "PER")), annotation(region(0, 13, "PER"), region(0, 13, "MISC")))
    assert (second_label.kept, second_label.added) == (1, 1)
    relabelled = compare(prediction(region(0, 13, "PER")), annotation(region(0, 13, "ORG")))
    assert (relabelled.kept, relabelled.changed, relabelled.added) == (0, 1, 0)
    # identical predicted duplicates need identical annotated duplicates
    twice = compare(prediction(region(0, 13, "PER"), region(0, 13, "PER")), annotation(region(0, 13, "PER")))
    assert (twice.kept, twice.deleted) == (1, 1)
    # a region carrying two labels matches on its label set, in any order
    multi = {**region(0, 13, "PER"), "value": {**region(0, 13, "PER")["value"], "labels": ["PER", "ORG"]}}
    multi_swapped = {**multi, "value": {**multi["value"], "labels": ["ORG", "PER"]}}
    assert compare([multi], [multi_swapped]).kept == 1


def test_regions_of_other_controls_never_match():
    served = prediction(region(0, 13, "PER"), region(30, 36, "LOC", from_name="other"))
    done = annotation(region(0, 13, "PER", from_name="other"), region(30, 36, "LOC", from_name="other"))
    result = compare(served, done)
    assert (result.kept, result.changed, result.deleted, result.added) == (1, 0, 1, 1)
    only_label = compare(served, done, controls=["label"])
    assert (only_label.predicted, only_label.deleted, only_label.annotated) == (1, 1, 0)


def test_items_that_are_not_regions_or_choices_are_ignored():
    relation = {"from_id": "a", "to_id": "b", "type": "relation", "direction": "right"}
    textarea = {"from_name": "note", "to_name": "text", "type": "textarea", "value": {"text": ["x"]}}
    broken = {"from_name": "label", "type": "labels", "value": {"start": "x", "end": 2, "labels": ["PER"]}}
    result = compare(prediction(region(0, 13, "PER"), relation, textarea), annotation(region(0, 13, "PER"), broken))
    assert result == Acceptance(kept=1, predicted=1, annotated=1)


def test_choices_per_control():
    served = prediction(choice(["positive"]), choice(["news"], from_name="topic"))
    done = annotation(choice(["positive"]), choice(["sport"], from_name="topic"), choice(["en"], from_name="lang"))
    result = compare(served, done)
    assert (result.choices_accepted, result.choices_changed, result.choices_added) == (1, 1, 1)
    removed = compare(served, annotation(choice(["positive"])))
    assert (removed.choices_accepted, removed.choices_changed) == (1, 1)
    assert compare(prediction(choice(["a", "b"])), annotation(choice(["b", "a"]))).choices_accepted == 1


def test_summarise_per_model_version_with_times():
    records = [
        AcceptanceRecord(
            prediction(region(0, 13, "PER"), region(30, 36, "LOC")), annotation(region(0, 13, "PER")), 20.0
        ),
        {
            "prediction": prediction(region(0, 13, "PER")),
            "annotation": annotation(region(0, 13, "PER")),
            "lead_time": 10,
        },
        (prediction(region(0, 13, "PER")), annotation(region(0, 13, "PER")), None),  # made through the API
        (prediction(region(0, 13, "PER")), annotation(cancelled=True), 3.0),  # skipped
        (prediction(version="v3"), annotation(region(0, 13, "PER")), 40.0),  # served, but empty
        (prediction(region(0, 13, "PER"), version="v4"), annotation(region(0, 13, "ORG")), float("nan")),
        (None, annotation(region(0, 13, "PER")), 60.0, None),  # no prediction at all
        (None, annotation(), -1.0, None),  # a broken lead time
    ]
    by_version = summarise(records)
    assert set(by_version) == {"v3", "v4", None}
    v3 = by_version["v3"]
    assert (v3.tasks, v3.cancelled, v3.kept, v3.deleted, v3.added, v3.predicted) == (5, 1, 3, 1, 1, 4)
    assert v3.rate == pytest.approx(0.75)
    assert (v3.with_prediction.tasks, v3.with_prediction.mean, v3.with_prediction.median) == (2, 15.0, 15.0)
    assert (v3.without_prediction.tasks, v3.without_prediction.mean) == (1, 40.0)
    v4 = by_version["v4"]
    assert (v4.changed, v4.rate, v4.with_prediction.tasks, v4.with_prediction.mean) == (1, 0.0, 0, None)
    none = by_version[None]
    assert (none.tasks, none.rate, none.without_prediction.tasks, none.without_prediction.median) == (2, None, 1, 60.0)
    assert none.as_dict()["rate"] is None and v3.as_dict()["rate"] == pytest.approx(0.75)


def test_summarise_counts_choices_and_an_explicit_version_wins():
    records = [
        AcceptanceRecord(prediction(choice(["positive"])), annotation(choice(["positive"])), 5.0, "v9"),
        AcceptanceRecord(prediction(choice(["positive"])), annotation(choice(["negative"])), 7.0, "v9"),
    ]
    v9 = summarise(records)["v9"]
    assert (v9.choices_accepted, v9.choices_changed, v9.choice_rate, v9.rate) == (1, 1, 0.5, None)
    assert summarise([]) == {}


def test_kept_share_counts_regions_and_choices_of_one_version_together():
    both = prediction(region(0, 4, "PER"), region(10, 13, "LOC"), choice(["positive"]))
    records = [
        AcceptanceRecord(both, annotation(region(0, 4, "PER"), region(10, 13, "ORG"), choice(["positive"])), 5.0, "v1"),
        AcceptanceRecord(prediction(choice(["positive"])), annotation(choice(["negative"])), 7.0, "v1"),
    ]
    v1 = summarise(records)["v1"]
    assert (v1.rate, v1.choice_rate, v1.kept_share) == (0.5, 0.5, 0.5)  # 1 of 2 regions, 1 of 2 choices: 2 of 4
    assert summarise(records[1:])["v1"].kept_share == 0.0
    assert summarise([AcceptanceRecord(prediction(), annotation(), None, "v2")])["v2"].kept_share is None
