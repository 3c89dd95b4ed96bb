"""Text classification (Choices): a sequence-classification head on the base encoder, and its predictor.

One head serves every Choices control of a project: its classes are the controls' choices end to end
(`text.label_config.ClassificationConfig.labels`), one segment per control. A single-choice segment is a softmax
over its classes; a multiple-choice segment is one sigmoid per class, shown when p >= the control's threshold.

Long texts are cut into the same windows as for NER (`text.encoding.TextEncoder`, `text.windows`). Each window is
classified on its own; a text's logits are the mean of its windows' logits weighted by the words each window owns
(the windows' owned ranges partition the words, so every word counts once), and the softmax or sigmoids are taken
after pooling. A text that fits one window is classified exactly as a plain forward pass would.

A base checkpoint that already has a sequence-classification head is used as it is when every project class maps
to one of its classes (exact, case-insensitive or `predicted_values`, as for an NER head); otherwise the project's
classes get a fresh head, seeded so every worker builds the same one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification

from modeling.base_model import LoadedModel, base_model_config, load_tokenizer, match_labels, resolve_model_path
from modeling.inference import pad_windows
from text.encoding import EncodedText, TextEncoder

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5
Segment = tuple[int, int, bool]  # (first class, end, multiple choice?) in the project's class order


def has_class_head(config) -> bool:
    """True when the checkpoint names real classes (not LABEL_0..) for a sequence-classification head."""
    id2label = getattr(config, "id2label", None) or {}
    archs = getattr(config, "architectures", None) or []
    named = any(not str(v).startswith("LABEL_") for v in id2label.values())
    return named and any("SequenceClassification" in a for a in archs)


def matching_head(config, labels: list[str], predicted_values: dict[str, list[str]]) -> dict[str, str] | None:
    """Model class -> project class when the checkpoint's head covers every project class, else None."""
    if not has_class_head(config):
        return None
    classes = [config.id2label[i] for i in range(len(config.id2label))]
    mapping = match_labels(classes, labels, predicted_values)
    return mapping if set(mapping.values()) == set(labels) else None


def load_base_classifier(name: str | None, labels: list[str], predicted_values: dict[str, list[str]]) -> LoadedModel:
    """A project's first classifier: the base checkpoint's own head when it fits (see module docstring)."""
    path = resolve_model_path(name)
    config = base_model_config(name)
    tokenizer = load_tokenizer(path)
    mapping = matching_head(config, labels, predicted_values)
    if mapping is not None:
        model = AutoModelForSequenceClassification.from_pretrained(path)
        classes = [model.config.id2label[i] for i in range(model.config.num_labels)]
        return LoadedModel(model, tokenizer, classes, mapping, trained=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_pretrained(
            path,
            id2label=dict(enumerate(labels)),
            label2id={c: i for i, c in enumerate(labels)},
            ignore_mismatched_sizes=True,
        )
    return LoadedModel(model, tokenizer, list(labels), {c: c for c in labels}, trained=False)


def load_saved_classifier(path: str, label_map: dict[str, str]) -> LoadedModel:
    """A fine-tuned classification version from the model store."""
    model = AutoModelForSequenceClassification.from_pretrained(path)
    classes = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return LoadedModel(model, load_tokenizer(path), classes, label_map, trained=True)


def class_order(model_classes: list[str], label_map: dict[str, str], labels: list[str]) -> list[int]:
    """For each project class, the index of the model class that predicts it (ValueError when one has none)."""
    by_label = {project: model_classes.index(model) for model, project in label_map.items() if model in model_classes}
    missing = [c for c in labels if c not in by_label]
    if missing:
        raise ValueError(f"the model has no class for {missing}")
    return [by_label[c] for c in labels]


def activate(logits: np.ndarray, segments: list[Segment]) -> np.ndarray:
    """(n, K) logits in project order -> probabilities: softmax per single-choice segment, sigmoid per class else."""
    logits = np.asarray(logits, dtype=np.float64)
    probs = np.zeros_like(logits)
    for a, b, multiple in segments:
        part = logits[:, a:b]
        if multiple:
            probs[:, a:b] = 1.0 / (1.0 + np.exp(-part))
        else:
            shifted = np.exp(part - part.max(axis=1, keepdims=True))
            probs[:, a:b] = shifted / shifted.sum(axis=1, keepdims=True)
    return probs


@dataclass
class ChoiceOutput:
    """One text: its words, the class probabilities in project order ((K,), empty for a text without words), and
    the pooled embedding when asked for."""

    words: list[tuple[int, int]]
    probs: np.ndarray
    embedding: np.ndarray | None = None
    samples: None = None  # no MC dropout for classification: selection uses one pass


@dataclass
class ClassifierPredictor:
    """Runs a sequence-classification model over texts (windows pooled); threads may share it."""

    model: torch.nn.Module
    tokenizer: object
    max_length: int
    batch_size: int
    order: list[int]  # model class index of each project class
    segments: list[Segment]
    thresholds: dict[int, float] = field(default_factory=dict)  # segment index -> threshold (multiple choice)

    def __post_init__(self):
        self.model = self.model.eval()
        self.encoder = TextEncoder(self.tokenizer, self.max_length)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.hidden = int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def predict(self, texts: list[str], *, embeddings: bool = False, **_ignored) -> list[ChoiceOutput]:
        """Class probabilities per text (and the mean content-token embedding when `embeddings`)."""
        return self.predict_encoded(self.encoder.encode(texts), embeddings=embeddings)

    def predict_encoded(self, encoded: list[EncodedText], *, embeddings: bool = False) -> list[ChoiceOutput]:
        k = len(self.order)
        sums = np.zeros((len(encoded), k))
        weights = np.zeros(len(encoded))
        pooled = np.zeros((len(encoded), self.hidden), np.float32) if embeddings else None
        tokens = np.zeros(len(encoded))
        jobs = [(t, w) for t, e in enumerate(encoded) for w in range(len(e.windows))]
        jobs.sort(key=lambda j: len(encoded[j[0]].windows[j[1]].input_ids), reverse=True)
        index = torch.tensor(self.order, dtype=torch.long)
        device = self.device
        with torch.inference_mode():
            for b in range(0, len(jobs), self.batch_size):
                batch = jobs[b : b + self.batch_size]
                windows = [encoded[t].windows[w] for t, w in batch]
                ids, mask = pad_windows(windows, self.pad_id, device)
                out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=embeddings)
                logits = out.logits.float().cpu()[:, index].numpy()
                for r, ((t, _), w) in enumerate(zip(batch, windows)):
                    owned = w.window.own_end - w.window.own_start
                    sums[t] += owned * logits[r]
                    weights[t] += owned
                if pooled is not None:
                    last = out.hidden_states[-1].float()
                    lo = len(self.encoder.prefix)
                    for r, ((t, _), w) in enumerate(zip(batch, windows)):
                        hi = len(w.input_ids) - len(self.encoder.suffix)
                        pooled[t] += last[r, lo:hi].sum(dim=0).cpu().numpy()
                        tokens[t] += max(0, hi - lo)
        probs = activate(sums / np.maximum(weights, 1e-9)[:, None], self.segments) if len(encoded) else sums
        outputs = []
        for t, e in enumerate(encoded):
            p = probs[t].astype(np.float32) if weights[t] > 0 else np.zeros(0, np.float32)
            emb = None if pooled is None else pooled[t] / max(tokens[t], 1.0)
            outputs.append(ChoiceOutput(e.words, p, emb))
        return outputs

    def decide(self, probs: np.ndarray) -> list[list[int]]:
        """The chosen class indices of each segment: the argmax (single), or each p >= threshold (multiple)."""
        chosen = []
        for s, (a, b, multiple) in enumerate(self.segments):
            part = probs[a:b]
            if multiple:
                threshold = self.thresholds.get(s, DEFAULT_THRESHOLD)
                chosen.append([a + i for i in np.flatnonzero(part >= threshold)])
            else:
                chosen.append([a + int(np.argmax(part))])
        return chosen
