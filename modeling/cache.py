"""Loaded models per project, kept across requests and bounded in number.

Each request asks the cache for its project's model; the cache compares the store's deployed pointer with what it
holds and, when a new version was deployed, loads it in a background thread while the old one keeps answering,
then switches: every web worker follows deployments without a restart, and no request waits for a load except
the very first of a project. Loading happens once per (project, version), never per request; during a switch a
project holds at most one extra model.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from modeling.base_model import (
    base_model_config,
    has_ner_head,
    load_base_model,
    load_saved_model,
    match_labels,
)
from modeling.batching import MicroBatcher
from modeling.classifier import (
    DEFAULT_THRESHOLD,
    ClassifierPredictor,
    class_order,
    load_base_classifier,
    load_saved_classifier,
    matching_head,
)
from modeling.device import pick_device
from modeling.inference import Predictor
from modeling.parity import FULL, ParityBounds, choose_precision
from modeling.precision import resolve_precision, to_precision
from store.local import Store
from text.label_config import COMBINED  # also a combined version's meta `task_type`
from text.spans.bio import tag_labels

log = logging.getLogger(__name__)

UNTRAINED = "untrained"
SWITCH_RETRY_S = 30.0  # a version that failed to load is tried again after this long (the old one serves meanwhile)


@dataclass
class ServedModel:
    """A project's model as served: its version string, predictor, tags and label mapping."""

    version: str
    predictor: Predictor
    tags: list[str]
    label_map: dict[str, str]
    trained: bool
    precision: str = FULL
    batcher: MicroBatcher | None = None  # /predict's way in: concurrent small requests share forward passes
    choices: ServedModel | None = None  # a combined (Labels + Choices) version: its classifier, beside this NER model

    def predict(self, texts: list[str]) -> list:
        """Per-text outputs of a /predict chunk, through the batcher when there is one."""
        return (self.batcher or self.predictor).predict(texts)


@functools.lru_cache(maxsize=16)
def base_version(
    name: str, project_labels: tuple[str, ...], aliases: tuple, setting: str = "BASELINE_MODEL_NAME"
) -> str:
    """Version string of a project's base model: 'base-<name>' if its NER head fits the labels, else 'untrained'."""
    config = base_model_config(name, setting)
    if has_ner_head(config):
        tags = [config.id2label[i] for i in range(len(config.id2label))]
        if match_labels(tag_labels(tags), list(project_labels), dict(aliases)):
            shown = os.path.basename(os.path.normpath(name)) if os.path.isdir(name) else name
            return "base-" + re.sub(r"[^A-Za-z0-9._-]+", "-", shown).strip("-")
    return UNTRAINED


@functools.lru_cache(maxsize=16)
def base_classifier_version(
    name: str, labels: tuple[str, ...], aliases: tuple, setting: str = "BASELINE_MODEL_NAME"
) -> str:
    """Version string of a classification project's base model: 'base-<name>' if its class head fits, else
    'untrained'."""
    if matching_head(base_model_config(name, setting), list(labels), dict(aliases)) is not None:
        shown = os.path.basename(os.path.normpath(name)) if os.path.isdir(name) else name
        return "base-" + re.sub(r"[^A-Za-z0-9._-]+", "-", shown).strip("-")
    return UNTRAINED


def is_classification(config) -> bool:
    """A classification (Choices) config rather than an NER one (`text.label_config.ClassificationConfig`)."""
    return getattr(config, "task_type", "ner") == "choices"


def is_combined(config) -> bool:
    """Labels and Choices on one text, served by one version (`text.label_config.CombinedConfig`)."""
    return getattr(config, "task_type", "ner") == COMBINED


CHOICES_DIR = "choices"  # where a combined version keeps its classifier, beside the NER model at its top


def version_kind(meta: dict) -> str:
    """What a stored version holds: "ner" (every version written before classification, which has no task_type),
    "choices" or "ner+choices"."""
    return meta.get("task_type") or "ner"


def classifier_part(path, meta: dict):
    """(path, meta) of a version's classifier: the version itself for "choices", `choices/` for a combined one."""
    if version_kind(meta) == COMBINED:
        return Path(path) / CHOICES_DIR, dict(meta.get("choices") or {})
    return Path(path), meta


class ModelCache:
    """Thread-safe LRU of ServedModel by (project, labels)."""

    def __init__(self, settings, store: Store):
        self.settings = settings
        self.store = store
        self._models: OrderedDict[tuple, ServedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple, threading.Lock] = {}
        self._switching: set[tuple] = set()  # keys whose next version is loading in the background
        self._failed: dict[tuple, tuple[str, float]] = {}  # key -> (version that failed to load, when)
        self._configs: dict[tuple, object] = {}  # key -> the label config its model was last asked for with
        self.last_error: dict[str, str] = {}
        store.watch(self._follow)

    @property
    def base_name(self) -> str:
        return self.settings.finetuned_model_name or self.settings.baseline_model_name

    def version_for(self, project: str, config) -> str:
        """The version a request for `project` would be served, without loading anything heavy."""
        deployed = self.store.deployed(project)
        if deployed:
            return deployed
        if is_combined(config):  # the base checkpoint's name when either part's head fits it
            ner = self.version_for(project, config.ner)
            return ner if ner != UNTRAINED else self.version_for(project, config.classification)
        return (base_classifier_version if is_classification(config) else base_version)(
            self.base_name,
            tuple(config.labels),
            tuple(sorted((k, tuple(v)) for k, v in config.predicted_values.items())),
            "FINETUNED_MODEL_NAME" if self.settings.finetuned_model_name else "BASELINE_MODEL_NAME",
        )

    def get(self, project: str, config, wait: bool = False) -> ServedModel:
        """The project's model. A newly deployed version is loaded in the background while the one held answers;
        `wait=True` (the worker's refresh, which must predict with the deployed version) loads it first."""
        key = (project, tuple(config.labels))
        wanted = self.version_for(project, config)
        with self._lock:
            self._configs[key] = config
            served = self._models.get(key)
            if served is not None and served.version == wanted:
                self._models.move_to_end(key)
                return served
            if served is not None and not wait:
                self._models.move_to_end(key)
                self._switch_in_background(key, project, config, wanted)
                return served
            load_lock = self._loading.setdefault(key, threading.Lock())
        return self._load_and_hold(key, project, config, wanted, load_lock)

    def _follow(self, project: str) -> None:
        """The store saw the project's deployed version move (a deploy made on another host, or by another worker of
        this one): load it now in the background, so this worker's next request is already served the new version
        instead of being the one that notices."""
        with self._lock:
            held = [(key, self._configs[key]) for key in self._models if key[0] == project and key in self._configs]
        for key, config in held:
            wanted = self.version_for(project, config)
            with self._lock:
                served = self._models.get(key)
                if served is not None and served.version != wanted:
                    self._switch_in_background(key, project, config, wanted)

    def _switch_in_background(self, key: tuple, project: str, config, wanted: str) -> None:
        """Start loading `wanted` unless a load of it runs already or failed moments ago (called under the lock)."""
        failed = self._failed.get(key)
        if key in self._switching or (failed and failed[0] == wanted and time.monotonic() - failed[1] < SWITCH_RETRY_S):
            return
        self._switching.add(key)
        load_lock = self._loading.setdefault(key, threading.Lock())

        def run():
            try:
                self._load_and_hold(key, project, config, wanted, load_lock)
                self._failed.pop(key, None)
            except Exception:  # the old version keeps serving; retried after SWITCH_RETRY_S
                self._failed[key] = (wanted, time.monotonic())
                log.exception("project %s: loading %s failed; still serving the previous version", project, wanted)
            finally:
                with self._lock:
                    self._switching.discard(key)

        threading.Thread(target=run, name=f"switch-{project}", daemon=True).start()

    def _load_and_hold(self, key: tuple, project: str, config, wanted: str, load_lock: threading.Lock) -> ServedModel:
        with load_lock:  # one loader per key; others wait for it instead of loading twice
            with self._lock:
                served = self._models.get(key)
                if served is not None and served.version == wanted:
                    return served
            served = self._load(project, config, wanted)
            with self._lock:
                self._models[key] = served  # the old version is dropped here: at most one extra during a load
                self._models.move_to_end(key)
                while len(self._models) > self.settings.model_cache_size:
                    evicted, _ = self._models.popitem(last=False)
                    self._configs.pop(evicted, None)
                    log.info("evicted model of project %s from memory", evicted[0])
            log.info("project %s now serves %s", project, served.version)
            return served

    def warm(self, project: str, config) -> None:
        """Load in the background so /setup can answer at once and the first /predict finds the model ready."""

        def run():
            try:
                self.get(project, config)
                self.last_error.pop(project, None)
            except Exception as exc:  # reported in /health
                self.last_error[project] = f"{type(exc).__name__}: {exc}"[:300]
                log.exception("loading the model of project %s failed", project)

        threading.Thread(target=run, name=f"warm-{project}", daemon=True).start()

    def _load_classifier(self, project: str, config, version: str) -> ServedModel:
        """A classification version (`modeling.classifier`), at the precision its parity figures allow."""
        s = self.settings
        labels = list(config.labels)
        thresholds = {}
        parity = None
        if version != UNTRAINED and not version.startswith("base-"):
            info = self.store.get(project, version)
            path, meta = classifier_part(info.path, info.meta)
            if meta.get("task_type") != "choices":
                raise ValueError(f"project {project}: {version} is not a classification version")
            label_map = match_labels(meta.get("labels", []), labels, config.predicted_values)
            loaded = load_saved_classifier(str(path), label_map)
            stored = meta.get("thresholds") or {}
            thresholds = {
                i: float(stored.get(control.from_name, DEFAULT_THRESHOLD))
                for i, (control, _, _) in enumerate(config.segments())
            }
            parity = meta.get("parity")
        else:
            loaded = load_base_classifier(self.base_name, labels, config.predicted_values)
        model, precision = self._at_served_precision(project, version, loaded.model, parity)
        segments = [(a, b, control.multiple) for control, a, b in config.segments()]
        predictor = ClassifierPredictor(
            model,
            loaded.tokenizer,
            s.max_sequence_length,
            s.inference_batch_size,
            class_order(loaded.tags, loaded.label_map, labels),
            segments,
            thresholds,
        )
        batcher = MicroBatcher(predictor.predict, s.predict_batch_window_ms / 1000.0, s.inference_batch_size)
        return ServedModel(version, predictor, labels, dict(loaded.label_map), loaded.trained, precision, batcher)

    def _at_served_precision(self, project: str, version: str, model, parity: dict | None) -> tuple[object, str]:
        """(the model on the serving device at the precision SERVING_PRECISION and the version's parity figures
        allow, that precision); a GPU when there is one (int8 stays on the CPU: its kernels are CPU kernels)."""
        s = self.settings
        bounds = ParityBounds(s.precision_parity_max_f1_drop, s.precision_parity_min_agreement)
        device = pick_device()
        model.to(device)
        wanted = resolve_precision(s.serving_precision, device.type)
        precision, why = choose_precision(wanted, s.serving_precision_force, parity, bounds)
        (log.warning if parity and precision != wanted else log.info)(
            "project %s, %s: served %s (%s)", project, version, precision, why
        )
        return to_precision(model, precision), precision

    def _load_combined(self, project: str, config, version: str) -> ServedModel:
        """Both parts of a combined version. A deployed version of one kind only (an NER or a Choices version from
        before the project's config held both) serves its part; the other part comes from the base checkpoint."""
        kind = None
        if version != UNTRAINED and not version.startswith("base-"):
            kind = version_kind(self.store.get(project, version).meta)
        ner = self._load(project, config.ner, version if kind in ("ner", COMBINED) else UNTRAINED)
        choices = self._load_classifier(
            project, config.classification, version if kind in ("choices", COMBINED) else UNTRAINED
        )
        return replace(ner, version=version, choices=replace(choices, version=version))

    def _load(self, project: str, config, version: str) -> ServedModel:
        if is_combined(config):
            return self._load_combined(project, config, version)
        if is_classification(config):
            return self._load_classifier(project, config, version)
        s = self.settings
        parity = None
        if version != UNTRAINED and not version.startswith("base-"):
            info = self.store.get(project, version)
            label_map = match_labels(info.meta.get("labels", []), list(config.labels), config.predicted_values)
            loaded = load_saved_model(str(info.path), label_map)
            parity = info.meta.get("parity")
        else:
            loaded = load_base_model(self.base_name, list(config.labels), config.predicted_values)
        model, precision = self._at_served_precision(project, version, loaded.model, parity)
        predictor = Predictor(model, loaded.tokenizer, s.max_sequence_length, s.inference_batch_size)
        batcher = MicroBatcher(predictor.predict, s.predict_batch_window_ms / 1000.0, s.inference_batch_size)
        return ServedModel(version, predictor, loaded.tags, loaded.label_map, loaded.trained, precision, batcher)

    def forget(self, project: str) -> list[str]:
        """Drop the project's models from memory (a forgotten project); the versions that were held."""
        with self._lock:
            keys = [key for key in self._models if key[0] == project]
            dropped = [self._models.pop(key).version for key in keys]
            for key in [k for k in self._failed if k[0] == project]:
                del self._failed[key]
            for key in [k for k in self._configs if k[0] == project]:
                del self._configs[key]
            self.last_error.pop(project, None)
        return dropped

    def status(self) -> dict:
        with self._lock:
            return {
                project: {
                    "model_version": m.version,
                    "trained": m.trained,
                    "labels": list(labels),
                    "precision": m.precision,
                    **(
                        {}
                        if m.choices is None
                        else {"choices_trained": m.choices.trained, "choices_precision": m.choices.precision}
                    ),
                }
                for (project, labels), m in self._models.items()
            }
