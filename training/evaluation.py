"""Entity-level scores of a model on validation examples, through the serving code path.

Scores are seqeval's in strict IOB2 mode (`mode="strict", scheme=IOB2`): an entity counts only when its type
and both boundaries match exactly. Predictions are the spans /predict serves (`modeling.inference.Predictor`, then
`text.spans.decoding.decode_probs`: Viterbi path, label map) written back as IOB2 word tags, so the entity scores are
exact span matching between what a user receives and the gold spans aligned to the same words.
"""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np

from text.spans.alignment import align_spans
from text.spans.bio import OUTSIDE
from text.spans.decoding import decode_probs
from training.annotations import Example

# What evaluate_model scores: seqeval strict IOB2 over the served spans (not per-word argmax tags).
SEQEVAL_MODE = "strict IOB2 on served spans"


def score_tags(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict:
    """Entity precision/recall/F1 (seqeval, strict IOB2), token accuracy and the per-type report.

    Keys: entity_precision, entity_recall, entity_f1 (micro over entities), token_accuracy (over words),
    per_type {label: {precision, recall, f1, support}}, report_text, seqeval_mode, and counts.
    """
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    gold = [list(g) for g in gold]
    predicted = [list(p) for p in predicted]
    if [len(g) for g in gold] != [len(p) for p in predicted]:
        raise ValueError("gold and predicted tag sequences differ in length")
    words = sum(len(g) for g in gold)
    correct = sum(a == b for g, p in zip(gold, predicted) for a, b in zip(g, p))
    kw = dict(mode="strict", scheme=IOB2, zero_division=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        has_entities = any(t != OUTSIDE for seq in gold + predicted for t in seq)
        if has_entities:
            precision = float(precision_score(gold, predicted, **kw))
            recall = float(recall_score(gold, predicted, **kw))
            f1 = float(f1_score(gold, predicted, **kw))
            report = classification_report(gold, predicted, output_dict=True, **kw)
            text = classification_report(gold, predicted, digits=3, **kw)
        else:  # nothing to find and nothing found: perfect, by convention
            precision = recall = f1 = 1.0
            report, text = {}, "no entities in gold or predictions\n"
    per_type = {
        label: {
            "precision": float(v["precision"]),
            "recall": float(v["recall"]),
            "f1": float(v["f1-score"]),
            "support": int(v["support"]),
        }
        for label, v in report.items()
        if not label.endswith(" avg")
    }
    return {
        "seqeval_mode": SEQEVAL_MODE,
        "entity_counts": entity_counts(gold, predicted),
        "entity_precision": precision,
        "entity_recall": recall,
        "entity_f1": f1,
        "token_accuracy": correct / words if words else 1.0,
        "per_type": per_type,
        "report_text": text,
        "examples": len(gold),
        "words": words,
    }


def entity_counts(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> list[tuple[int, int, int]]:
    """(true positives, false positives, false negatives) of each example, by seqeval's strict IOB2 entities: the
    per-task evidence a paired comparison of two models resamples (their sums give the micro F1 above)."""
    from seqeval.scheme import IOB2, Entities

    gold_entities = Entities([list(g) for g in gold], IOB2, suffix=False).entities
    predicted_entities = Entities([list(p) for p in predicted], IOB2, suffix=False).entities
    counts = []
    for g, p in zip(gold_entities, predicted_entities):
        g, p = {e.to_tuple()[1:] for e in g}, {e.to_tuple()[1:] for e in p}
        counts.append((len(g & p), len(p - g), len(g - p)))
    return counts


def predicted_word_tags(
    probs: np.ndarray,
    tags: Sequence[str],
    label_map: Mapping[str, str] | None,
    words: Sequence[tuple[int, int]] | None = None,
) -> list[str]:
    """IOB2 word tags (project labels) of exactly the spans /predict serves for these probabilities.

    Scoring these tags scores what a user receives: the Viterbi path, with labels the project lacks dropped.
    The tags do not depend on the words' offsets, so callers without `words` may leave them out.
    """
    if words is None:
        words = [(i, i + 1) for i in range(len(probs))]
    spans = decode_probs(words, probs, tags, label_map)
    word_tags, _ = align_spans(words, spans)
    return word_tags


def evaluate_model(
    predictor, tags: Sequence[str], examples: Sequence[Example], label_map: Mapping[str, str] | None = None
) -> dict:
    """Score the spans a model (wrapped in a Predictor) serves for `examples`; see `score_tags` for the keys."""
    outputs = predictor.predict([e.text for e in examples]) if examples else []
    return score_outputs(outputs, tags, examples, label_map)


def score_outputs(
    outputs: Sequence, tags: Sequence[str], examples: Sequence[Example], label_map: Mapping[str, str] | None = None
) -> dict:
    """`evaluate_model` on already computed Predictor outputs (one per example, in order)."""
    gold_all, predicted_all = [], []
    for example, out in zip(examples, outputs):
        gold, _ = align_spans(out.words, example.spans)
        gold_all.append(gold)
        predicted_all.append(predicted_word_tags(out.probs, tags, label_map, out.words))
    return score_tags(gold_all, predicted_all)


def summary(metrics: dict) -> dict:
    """The scalar part of a metrics dict (what goes into meta.json and MLflow as numbers)."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
