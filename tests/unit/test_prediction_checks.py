"""The shared /predict check refuses what Label Studio would refuse (so the suite's checks can fail)."""

from __future__ import annotations

import pytest

from tests.support.predictions import check_predictions

CONFIG = (
    '<View><Labels name="label" toName="text"><Label value="PER"/></Labels><Text name="text" value="$text"/></View>'
)


def region(**changes):
    value = {"start": 0, "end": 5, "text": "Alice", "labels": ["PER"], **changes.pop("value", {})}
    return {"from_name": "label", "to_name": "text", "type": "labels", "value": value, "score": 0.9, **changes}


def test_valid_predictions_pass_and_each_kind_of_invalid_region_fails():
    check_predictions(
        CONFIG,
        [
            {"result": [region()], "score": 0.5, "model_version": "v"},
            {"result": [], "score": 1.0, "model_version": "v"},
        ],
    )
    for bad in (region(value={"labels": ["ORG"]}), region(from_name="labels"), region(to_name="body")):
        with pytest.raises(AssertionError, match="not valid"):
            check_predictions(CONFIG, [{"result": [bad], "score": 0.5, "model_version": "v"}])
