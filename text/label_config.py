"""What a project's label config says: the controls this backend serves (Labels -> spans, Choices -> classes), the
Text object each reads, the labels or choices and their aliases, and the controls it ignores and why.

`parse_ner_config` reads the span (NER) side alone, as it always has; `parse_project_config` reads every control
and decides the project's task type (see `ProjectConfig`): "ner", "choices", or "ner+choices" (a Labels and
Choices on the same text field, served together by one model version, `CombinedConfig`).
"""

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


NER = "ner"
CHOICES = "choices"
COMBINED = "ner+choices"
SINGLE, MULTIPLE = "single", "multiple"
_SINGLE_MODES = ("single", "single-radio")


@dataclass(frozen=True)
class ChoicesConfig:
    """A Choices control (from_name) bound to a Text object (to_name) that reads task data[value_key]."""

    from_name: str
    to_name: str
    value_key: str
    choices: tuple[str, ...]
    multiple: bool = False
    predicted_values: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Ignored:
    """A control the backend does not serve, and why (shown by /setup and /health)."""

    name: str
    tag: str
    reason: str


@dataclass(frozen=True)
class ClassificationConfig:
    """The classification side of a project: one or more Choices controls on one text field, served by one model.

    `labels` are the model's classes in head order: the choices themselves with one control, `from_name:choice` with
    several (one head, one segment of classes per control). It plays the role `NerConfig` plays for the model cache.
    """

    controls: tuple[ChoicesConfig, ...]
    task_type: str = CHOICES

    @property
    def value_key(self) -> str:
        return self.controls[0].value_key

    @property
    def labels(self) -> tuple[str, ...]:
        if len(self.controls) == 1:
            return self.controls[0].choices
        return tuple(f"{c.from_name}:{choice}" for c in self.controls for choice in c.choices)

    @property
    def predicted_values(self) -> dict[str, list[str]]:
        if len(self.controls) == 1:
            return dict(self.controls[0].predicted_values)
        return {f"{c.from_name}:{k}": v for c in self.controls for k, v in c.predicted_values.items()}

    def segments(self) -> list[tuple[ChoicesConfig, int, int]]:
        """(control, first class index, end index) of each control in the head."""
        out, start = [], 0
        for c in self.controls:
            out.append((c, start, start + len(c.choices)))
            start += len(c.choices)
        return out


@dataclass(frozen=True)
class CombinedConfig:
    """A Labels control and the Choices controls that read the same text field, served by one model version: its
    NER model (`ner`) and its classifier (`classification`, one head over every Choices control).

    `labels` names what the version serves (the model cache's key): the span labels, then `choices:<class>`."""

    ner: NerConfig
    classification: ClassificationConfig
    task_type: str = COMBINED

    @property
    def value_key(self) -> str:
        return self.ner.value_key

    @property
    def labels(self) -> tuple[str, ...]:
        return (*self.ner.labels, *(f"choices:{c}" for c in self.classification.labels))

    @property
    def predicted_values(self) -> dict[str, list[str]]:
        return dict(self.ner.predicted_values)


@dataclass(frozen=True)
class ProjectConfig:
    """What the backend serves for a project, and everything else in `ignored` with the reason.

    The task type: "ner" for a Labels control on a Text; "choices" for Choices controls on a Text; "ner+choices"
    when the Labels and Choices read the same text field, served together by one model version (`CombinedConfig`).
    """

    task_type: str
    ner: NerConfig | None
    classification: ClassificationConfig | None
    ignored: tuple[Ignored, ...] = ()

    @property
    def served(self):
        if self.task_type == COMBINED:
            return CombinedConfig(self.ner, self.classification)
        return self.ner if self.task_type == NER else self.classification

    def describe(self) -> dict:
        """What /setup and /health show: the task type, the controls served and those ignored with the reason."""
        served = []
        if self.ner is not None:
            served.append({"name": self.ner.from_name, "tag": "Labels", "to_name": self.ner.to_name})
        if self.classification is not None:
            served += [
                {
                    "name": c.from_name,
                    "tag": "Choices",
                    "to_name": c.to_name,
                    "choice": MULTIPLE if c.multiple else SINGLE,
                }
                for c in self.classification.controls
            ]
        return {
            "task_type": self.task_type,
            "served_controls": served,
            "ignored_controls": [{"name": i.name, "tag": i.tag, "reason": i.reason} for i in self.ignored],
        }


def _interface(xml: str) -> LabelInterface:
    if not isinstance(xml, str) or not xml.strip():
        raise LabelConfigError("label config is empty")
    try:
        return LabelInterface(xml)
    except Exception as exc:  # the SDK raises assorted parse errors
        raise LabelConfigError(f"label config could not be parsed: {str(exc)[:200]}") from None


def _attr(control, name: str):
    """A control's XML attribute, whatever case the SDK keeps its name in."""
    attrs = getattr(control, "attr", None) or {}
    for key, value in attrs.items():
        if key.lower() == name.lower():
            return value
    return None


def _aliases(control) -> dict[str, list[str]]:
    aliases = {}
    for label, attrs in (getattr(control, "labels_attrs", None) or {}).items():
        raw = (getattr(attrs, "attr", None) or {}).get("predicted_values") or ""
        if raw:
            aliases[label] = [a.strip() for a in raw.split(",") if a.strip()]
    return aliases


def _truthy(value) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def _choices_config(control, objects: dict) -> ChoicesConfig:
    """The Choices control as served, or LabelConfigError naming the tag when it cannot be."""
    name = control.name
    if _truthy(_attr(control, "perRegion")):
        raise LabelConfigError(
            f'<Choices name={name!r}> has perRegion="true": it classifies regions, not texts, which this backend '
            "does not support; drop perRegion to classify the whole text"
        )
    targets = [objects.get(t) for t in control.to_name or []]
    texts = [o for o in targets if o is not None and o.tag.lower() == "text"]
    if not texts:
        bound = ", ".join(f"<{o.tag} name={o.name!r}>" for o in targets if o is not None) or "no object"
        raise LabelConfigError(
            f'<Choices name={name!r}> is bound to {bound}: only Choices bound to a <Text value="$field"> '
            "can be served (a classifier of texts)"
        )
    obj = texts[0]
    value = str(obj.value or "")
    if not value.startswith("$") or len(value) < 2:
        raise LabelConfigError(f'<Text name={obj.name!r}> of <Choices name={name!r}> has no value="$field"')
    choices = tuple(control.labels)
    if not choices:
        raise LabelConfigError(f"<Choices name={name!r}> has no <Choice> values")
    mode = str(_attr(control, "choice") or "single").strip().lower()
    if mode not in (*_SINGLE_MODES, MULTIPLE):
        raise LabelConfigError(
            f"<Choices name={name!r}> has choice={mode!r}: expected single, single-radio or multiple"
        )
    return ChoicesConfig(name, obj.name, value[1:], choices, mode == MULTIPLE, _aliases(control))


@functools.lru_cache(maxsize=256)
def parse_project_config(xml: str) -> ProjectConfig:
    """Every control of the config: served (the NER Labels, the Choices on one text, or both when they read the
    same text field) or ignored, with why.

    Refused (LabelConfigError, a 422) when nothing can be served; a Choices bound to something other than a Text
    (an Image, a region via perRegion) is refused naming the tag even when another control could be served, so a
    project never silently gets empty predictions for a control it asked for.
    """
    interface = _interface(xml)
    objects = {o.name: o for o in interface.objects}
    try:
        ner = parse_ner_config(xml)
    except LabelConfigError as exc:
        ner, ner_error = None, exc
    choices, refused = [], []
    for control in interface.controls:
        if control.tag.lower() == "choices":
            try:
                choices.append(_choices_config(control, objects))
            except LabelConfigError as exc:
                refused.append((control, exc))
    ignored: list[Ignored] = []
    for control in interface.controls:
        tag = control.tag.lower()
        if tag == "labels" and (ner is None or control.name != ner.from_name):
            ignored.append(Ignored(control.name, control.tag, "only one <Labels> control on a Text is served"))
        elif tag not in ("labels", "choices"):
            ignored.append(Ignored(control.name, control.tag, f"<{control.tag}> is not a control this backend serves"))
    if ner is not None:
        served = [c for c in choices if c.value_key == ner.value_key]
        ignored += [
            Ignored(
                c.from_name,
                "Choices",
                f"reads data[{c.value_key!r}]; the served Labels read data[{ner.value_key!r}]",
            )
            for c in choices
            if c.value_key != ner.value_key
        ]
        ignored += [Ignored(c.name, c.tag, str(exc)) for c, exc in refused]
        if served:
            return ProjectConfig(COMBINED, ner, ClassificationConfig(tuple(served)), tuple(ignored))
        return ProjectConfig(NER, ner, None, tuple(ignored))
    if refused:
        raise refused[0][1]
    if not choices:
        raise (
            ner_error
            if "HyperText" in str(ner_error)
            else LabelConfigError(
                'label config has no <Labels> or <Choices> control bound to a <Text value="$field"> object'
            )
        )
    key = choices[0].value_key
    served = [c for c in choices if c.value_key == key]
    ignored += [
        Ignored(c.from_name, "Choices", f"reads data[{c.value_key!r}]; the served Choices read data[{key!r}]")
        for c in choices
        if c.value_key != key
    ]
    return ProjectConfig(CHOICES, None, ClassificationConfig(tuple(served)), tuple(ignored))
