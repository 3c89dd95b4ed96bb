import pytest

from text.label_config import LabelConfigError, parse_project_config

TEXT = '<Text name="t" value="$text"/>'


def choices(name="c", choice=None, values=("a", "b"), to="t", extra=""):
    mode = f' choice="{choice}"' if choice else ""
    inner = "".join(f'<Choice value="{v}"/>' for v in values)
    return f'<Choices name="{name}" toName="{to}"{mode}{extra}>{inner}</Choices>'


@pytest.mark.parametrize(
    "choice, multiple", [(None, False), ("single", False), ("single-radio", False), ("multiple", True)]
)
def test_single_and_multiple_choice_are_read(choice, multiple):
    config = parse_project_config(f"<View>{TEXT}{choices(choice=choice)}</View>")
    assert config.task_type == "choices"
    (control,) = config.classification.controls
    assert (control.from_name, control.to_name, control.value_key) == ("c", "t", "text")
    assert control.choices == ("a", "b") and control.multiple is multiple
    assert config.classification.labels == ("a", "b")


def test_two_choices_on_one_text_are_served_by_one_head_in_segments():
    config = parse_project_config(f"<View>{TEXT}{choices('x')}{choices('y', 'multiple', ('p', 'q', 'r'))}</View>")
    served = config.classification
    assert served.labels == ("x:a", "x:b", "y:p", "y:q", "y:r")
    assert [(c.from_name, a, b) for c, a, b in served.segments()] == [("x", 0, 2), ("y", 2, 5)]
    assert [c["name"] for c in config.describe()["served_controls"]] == ["x", "y"]
    assert config.describe()["ignored_controls"] == []


def test_choice_aliases_come_from_predicted_values():
    xml = f'<View>{TEXT}<Choices name="c" toName="t"><Choice value="Good" predicted_values="POSITIVE, pos"/>'
    xml += '<Choice value="Bad"/></Choices></View>'
    assert parse_project_config(xml).classification.predicted_values == {"Good": ["POSITIVE", "pos"]}


def test_labels_with_choices_on_one_text_are_served_together_by_one_version():
    xml = f'<View>{TEXT}<Labels name="l" toName="t"><Label value="PER"/></Labels>{choices()}</View>'
    config = parse_project_config(xml)
    assert config.task_type == "ner+choices"
    served = config.served
    assert served.ner.from_name == "l" and [c.from_name for c in served.classification.controls] == ["c"]
    assert served.value_key == "text" and served.labels == ("PER", "choices:a", "choices:b")
    described = config.describe()
    assert [(c["name"], c["tag"]) for c in described["served_controls"]] == [("l", "Labels"), ("c", "Choices")]
    assert described["ignored_controls"] == []


def test_choices_reading_another_field_than_the_labels_are_ignored_and_the_project_stays_ner():
    xml = f'<View>{TEXT}<Text name="u" value="$title"/><Labels name="l" toName="t"><Label value="PER"/></Labels>'
    xml += choices(to="u") + "</View>"
    config = parse_project_config(xml)
    assert config.task_type == "ner" and config.served.from_name == "l"
    (ignored,) = config.describe()["ignored_controls"]
    assert ignored["name"] == "c" and "title" in ignored["reason"]


def test_choices_reading_another_field_are_ignored_with_the_reason():
    xml = f'<View>{TEXT}<Text name="u" value="$title"/>{choices("x")}{choices("y", to="u")}</View>'
    config = parse_project_config(xml)
    assert [c.from_name for c in config.classification.controls] == ["x"]
    (ignored,) = config.ignored
    assert ignored.name == "y" and "title" in ignored.reason


@pytest.mark.parametrize(
    "xml, named",
    [
        ('<View><Image name="i" value="$img"/>' + choices(to="i") + "</View>", "Image"),
        (f"<View>{TEXT}" + choices(extra=' perRegion="true"') + "</View>", "perRegion"),
        (f"<View>{TEXT}" + choices(values=()) + "</View>", "no <Choice>"),
        (f"<View>{TEXT}" + choices(choice="several") + "</View>", "several"),
    ],
)
def test_choices_that_cannot_be_served_are_refused_naming_the_problem(xml, named):
    with pytest.raises(LabelConfigError, match=named):
        parse_project_config(xml)


def test_a_config_with_neither_labels_nor_choices_on_a_text_is_refused():
    with pytest.raises(LabelConfigError, match="no <Labels> or <Choices>"):
        parse_project_config(f"<View>{TEXT}</View>")
