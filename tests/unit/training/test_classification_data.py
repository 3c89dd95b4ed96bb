import pytest

from tests.support.choice_model import TOPICS_CONFIG, choice_tasks
from text.label_config import parse_project_config
from training.classification_data import read_label_tsv, tasks_from_rows, tasks_to_choice_examples

CONFIG = parse_project_config(TOPICS_CONFIG).classification


def result(name, choices):
    return {"from_name": name, "to_name": "text", "type": "choices", "value": {"choices": choices}}


def task(task_id, results, text="some text", cancelled=False):
    annotation = {"id": task_id, "result": results, "was_cancelled": cancelled}
    return {"id": task_id, "data": {"text": text}, "annotations": [annotation]}


def test_targets_per_class_and_which_controls_are_labelled():
    (positive, negative), stats = tasks_to_choice_examples(choice_tasks(2), CONFIG)
    assert positive.targets == (1, 0, 0, 1, 0) and positive.labelled == (True, True)
    assert negative.targets == (0, 1, 0, 1, 1)
    assert stats.examples == 2


def test_a_control_without_a_usable_choice_is_left_out_and_the_others_still_train():
    (example,), stats = tasks_to_choice_examples(
        [task(1, [result("sentiment", ["neutral"]), result("tone", [])])], CONFIG
    )
    assert example.labelled == (True, False) and example.targets[:3] == (0, 0, 1)
    assert stats.no_choice == 1


@pytest.mark.parametrize(
    "bad, counter",
    [
        (task(1, [result("sentiment", ["ecstatic"])]), "unknown_choice"),
        (task(1, [result("sentiment", ["positive", "negative"])]), "several_on_single"),
        (task(1, [result("sentiment", [])]), "no_choice"),
        (task(1, []), "no_choice"),
        ({"id": 1, "data": {"body": "no text field"}, "annotations": [{"result": []}]}, "no_text"),
        (task(1, [result("sentiment", ["positive"])], cancelled=True), "no_annotation"),
    ],
)
def test_bad_annotations_are_skipped_and_counted_never_raised(bad, counter):
    examples, stats = tasks_to_choice_examples([bad, *choice_tasks(1, start_id=2)], CONFIG)
    assert len(examples) == 1 and getattr(stats, counter) == 1


def test_label_tab_text_files_are_read_and_a_malformed_line_is_named(tmp_path):
    good = tmp_path / "train.tsv"
    good.write_text("DESC\tHow did serfdom develop ?\n\nNUM\tHow many ?\n", encoding="utf-8")
    assert read_label_tsv(good) == [("DESC", "How did serfdom develop ?"), ("NUM", "How many ?")]
    bad = tmp_path / "bad.tsv"
    bad.write_text("DESC\tfine\nno tab here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.tsv:2"):
        read_label_tsv(bad)


def test_tsv_rows_become_annotated_tasks_a_choices_project_trains_on():
    rows = [("DESC", "How did serfdom develop ?"), ("NUM", "How many ?")]
    xml = """<View><Text name="text" value="$text"/><Choices name="label" toName="text">
    <Choice value="DESC"/><Choice value="NUM"/></Choices></View>"""
    config = parse_project_config(xml).classification
    examples, stats = tasks_to_choice_examples(tasks_from_rows(rows), config)
    assert [(e.task_id, e.text, e.targets) for e in examples] == [
        (1, "How did serfdom develop ?", (1.0, 0.0)),
        (2, "How many ?", (0.0, 1.0)),
    ]
