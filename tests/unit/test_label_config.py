import pytest

from text.label_config import LabelConfigError, parse_ner_config

NER = """<View><Labels name="label" toName="text"><Label value="PER"/><Label value="ORG"/></Labels>
<Text name="text" value="$text"/></View>"""


def test_reads_names_field_and_labels():
    c = parse_ner_config(NER)
    assert (c.from_name, c.to_name, c.value_key, c.labels) == ("label", "text", "text", ("PER", "ORG"))


def test_reads_predicted_values_aliases():
    xml = NER.replace('<Label value="PER"/>', '<Label value="Person" predicted_values="PER, B-PER"/>')
    assert parse_ner_config(xml).predicted_values == {"Person": ["PER", "B-PER"]}


def test_custom_names_and_data_field():
    xml = """<View><Text name="doc" value="$body"/><Labels name="ents" toName="doc">
    <Label value="Drug"/></Labels></View>"""
    c = parse_ner_config(xml)
    assert (c.from_name, c.to_name, c.value_key, c.labels) == ("ents", "doc", "body", ("Drug",))


@pytest.mark.parametrize(
    "xml",
    [
        "",
        "<View><Text name='t' value='$t'/></View>",
        "<View><Choices name='c' toName='t'><Choice value='a'/></Choices><Text name='t' value='$t'/></View>",
        "<View><Labels name='l' toName='img'><Label value='A'/></Labels><Image name='img' value='$i'/></View>",
        "<View><Labels",
        "not xml at all",
    ],
)
def test_configs_without_labels_on_text_are_refused(xml):
    with pytest.raises(LabelConfigError):
        parse_ner_config(xml)


def test_labels_on_hypertext_are_refused_naming_the_tag():
    xml = """<View><Labels name="l" toName="h"><Label value="A"/></Labels><HyperText name="h" value="$h"/></View>"""
    with pytest.raises(LabelConfigError, match="HyperText"):
        parse_ner_config(xml)


def test_a_text_object_is_served_even_when_another_labels_is_on_hypertext():
    xml = """<View><Labels name="hl" toName="h"><Label value="A"/></Labels><HyperText name="h" value="$h"/>
    <Labels name="tl" toName="t"><Label value="B"/></Labels><Text name="t" value="$t"/></View>"""
    assert parse_ner_config(xml).from_name == "tl"
