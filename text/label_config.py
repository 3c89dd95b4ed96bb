"""What an NER project's label config says: which control and object to use, the labels and their aliases."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from label_studio_sdk.label_interface import LabelInterface


class LabelConfigError(ValueError):
    """The label config is not an NER config this backend can serve (no Labels bound to a Text)."""


def _unsupported_object_error(control_name: str, obj) -> LabelConfigError:
    """Why HyperText is refused: its regions are XPath ranges over HTML, which this backend can neither produce nor
    train on, so accepting the config would serve empty predictions and ignore every annotation without a word."""
    return LabelConfigError(
        f"<Labels name={control_name!r}> is bound to <{obj.tag} name={obj.name!r}>: {obj.tag} is not supported "
        f'(its regions are XPath ranges over HTML); bind the Labels to a <Text value="$field"> object instead'
    )


@dataclass(frozen=True)
class NerConfig:
    """The Labels control (from_name) bound to a Text object (to_name) that reads task data[value_key]."""

    from_name: str
    to_name: str
    value_key: str
    labels: tuple[str, ...]
    predicted_values: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)


@functools.lru_cache(maxsize=256)
def parse_ner_config(xml: str) -> NerConfig:
    """Parse with label-studio-sdk's LabelInterface; the first Labels control bound to a Text object wins.

    A Labels bound only to a HyperText is refused with an error naming the tag, rather than "not an NER config".
    """
    if not isinstance(xml, str) or not xml.strip():
        raise LabelConfigError("label config is empty")
    try:
        interface = LabelInterface(xml)
    except Exception as exc:  # the SDK raises assorted parse errors
        raise LabelConfigError(f"label config could not be parsed: {str(exc)[:200]}") from None
    objects = {o.name: o for o in interface.objects}
    unsupported = None
    for control in interface.controls:
        if control.tag.lower() != "labels":
            continue
        for to_name in control.to_name or []:
            obj = objects.get(to_name)
            if obj is not None and obj.tag.lower() == "hypertext":
                unsupported = unsupported or _unsupported_object_error(control.name, obj)
                continue
            if obj is None or obj.tag.lower() != "text":
                continue
            value = str(obj.value or "")
            if not value.startswith("$") or len(value) < 2:
                continue
            labels = tuple(control.labels)
            if not labels:
                raise LabelConfigError(f"Labels control {control.name!r} has no <Label> values")
            aliases = {}
            for label, attrs in (getattr(control, "labels_attrs", None) or {}).items():
                raw = (getattr(attrs, "attr", None) or {}).get("predicted_values") or ""
                if raw:
                    aliases[label] = [a.strip() for a in raw.split(",") if a.strip()]
            return NerConfig(control.name, to_name, value[1:], labels, aliases)
    if unsupported is not None:
        raise unsupported
    raise LabelConfigError(
        'label config has no <Labels> control bound to a <Text value="$field"> object, so it is not an NER config'
    )
