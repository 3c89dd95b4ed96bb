"""How a START_TRAINING webhook is read (`infra.dispatch.start_training_trigger`): the bodies Label Studio 1.23.2
sent for a press of the button and for the per-annotation toggle's call are the same but for the counters."""

from __future__ import annotations

from infra.dispatch import annotation_totals, start_training_trigger
from tests.support.paths import fixture

PRESS = fixture("webhook_START_TRAINING")["body"]["project"]  # toggle off: min_annotations_to_start_training 0
TOGGLED = fixture("webhook_START_TRAINING_on_annotation")["body"]["project"]  # toggle on, after the 3rd annotation


def test_with_the_toggle_off_every_call_is_a_press():
    assert start_training_trigger(PRESS, None) == "press"
    assert start_training_trigger(PRESS, [9, 9, 9, 9, 9]) == "press"


def test_with_the_toggle_on_new_counters_are_an_annotations_call_and_counters_already_seen_a_press():
    assert annotation_totals(TOGGLED) == [3, 3, 3, 0, 0]
    assert start_training_trigger(TOGGLED, [2, 2, 2, 0, 0]) == "annotation"  # the 3rd annotation, before its webhook
    assert start_training_trigger(TOGGLED, [3, 3, 3, 0, 0]) == "press"  # nothing changed since the last webhook
    assert start_training_trigger(TOGGLED, None) == "annotation"  # never heard of the project: read as the toggle's


def test_a_body_without_counters_is_read_as_the_toggles_when_it_is_on():
    assert start_training_trigger({"id": 1, "min_annotations_to_start_training": 1}, [3, 3, 3, 0, 0]) == "annotation"
    assert start_training_trigger({"id": 1}, None) == "press"
