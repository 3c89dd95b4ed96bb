"""Class probabilities -> `choices` result items, checked with label-studio-sdk's own validator."""

import numpy as np
import pytest

from modeling.classifier import activate
from tests.support.choice_model import TOPICS_CONFIG
from tests.support.predictions import check_predictions
from text.choices.regions import choice_regions
from text.label_config import parse_project_config

CONFIG = parse_project_config(TOPICS_CONFIG).classification


def test_items_per_control_are_valid_for_label_studio_and_empty_multiple_choice_is_left_out():
    probs = np.array([0.7, 0.2, 0.1, 0.9, 0.3])
    regions = choice_regions(probs, [[0], [3]], CONFIG)
    assert [(r["from_name"], r["value"]["choices"]) for r in regions] == [
        ("sentiment", ["positive"]),
        ("tone", ["warm"]),
    ]
    assert regions[0]["score"] == pytest.approx(0.7) and regions[1]["score"] == pytest.approx(0.7)  # min(0.9, 0.7)
    check_predictions(TOPICS_CONFIG, [{"result": regions, "score": 0.5}])
    assert [r["from_name"] for r in choice_regions(probs, [[1], []], CONFIG)] == ["sentiment"]


def test_softmax_per_single_choice_segment_and_a_sigmoid_per_multiple_choice_class():
    logits = np.array([[2.0, 0.0, 0.0, 0.0, 3.0]])
    probs = activate(logits, [(0, 3, False), (3, 5, True)])[0]
    assert probs[:3].sum() == pytest.approx(1.0) and probs[0] > 0.7
    assert probs[3] == pytest.approx(0.5) and probs[4] == pytest.approx(1 / (1 + np.exp(-3.0)))
