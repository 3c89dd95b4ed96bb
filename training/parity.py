"""The parity gate of a training job: what the version serves at a reduced precision against fp32.

Both runs read the held-out texts the deploy decision was made on and go through the serving code path, on the CPU
where the web process serves: for NER the Predictor, Viterbi decoding and label map (spans, entity F1); for
classification the ClassifierPredictor with the version's thresholds (chosen classes, macro-F1). The figures land in
the version's meta.json (`parity`; a combined version's classifier has its own in `choices`); the web process reads
them (`modeling.parity.choose_precision`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Sequence

from modeling.base_model import LoadedModel
from modeling.classifier import ClassifierPredictor
from modeling.inference import Predictor
from modeling.parity import FULL, ParityBounds, choice_agreement, parity_verdict, span_agreement
from modeling.precision import to_precision
from text.spans.decoding import decode_probs
from training.annotations import Example
from training.classification import score_classifier
from training.classification_data import ChoiceExample
from training.evaluation import score_outputs

log = logging.getLogger(__name__)


def settings_bounds(settings) -> ParityBounds:
    return ParityBounds(settings.precision_parity_max_f1_drop, settings.precision_parity_min_agreement)


def measure_parity(loaded: LoadedModel, examples: Sequence[Example], precision: str, settings) -> dict:
    """Figures of `precision` against fp32 on `examples`, with the verdict under the settings' bounds.

    Moves `loaded.model` to the CPU (serving's device) and leaves it fp32; the reduced copy is dropped after.
    """
    started = time.perf_counter()
    model = loaded.model.cpu().eval()
    texts = [e.text for e in examples]

    def served(predictor: Predictor):
        outputs = predictor.predict(texts) if texts else []
        spans = [decode_probs(o.words, o.probs, loaded.tags, loaded.label_map) for o in outputs]
        return score_outputs(outputs, loaded.tags, examples, loaded.label_map)["entity_f1"], spans

    def predictor(m) -> Predictor:
        return Predictor(m, loaded.tokenizer, settings.max_sequence_length, settings.inference_batch_size)

    f1_full, spans_full = served(predictor(model))
    f1_reduced, spans_reduced = served(predictor(to_precision(model, precision, inplace=False)))
    figures = {
        "precision": precision,
        "reference": FULL,
        "examples": len(examples),
        "entity_f1_fp32": round(f1_full, 6),
        "entity_f1": round(f1_reduced, 6),
        "f1_drop": round(f1_full - f1_reduced, 6),
        "span_agreement": round(span_agreement(spans_full, spans_reduced), 6),
    }
    return _judged(figures, settings, started)


def measure_classifier_parity(
    predictor: ClassifierPredictor, examples: Sequence[ChoiceExample], precision: str, config, settings
) -> dict:
    """Figures of `precision` against fp32 for the classifier `predictor` serves (its thresholds included) on
    `examples`, with the verdict under the settings' bounds: macro-F1 as the deploy decision measures it
    (`training.classification.score_classifier`) and agreement on the chosen classes.

    Moves the model to the CPU and leaves it fp32; the reduced copy is dropped after."""
    started = time.perf_counter()
    full = replace(predictor, model=predictor.model.cpu().eval())
    reduced = replace(full, model=to_precision(full.model, precision, inplace=False))

    def served(p: ClassifierPredictor):
        scored = score_classifier(p, examples, config)
        return scored["macro_f1"], [p.decide(row) for row in scored["probs"]]

    f1_full, chosen_full = served(full)
    f1_reduced, chosen_reduced = served(reduced)
    figures = {
        "precision": precision,
        "reference": FULL,
        "examples": len(examples),
        "macro_f1_fp32": round(f1_full, 6),
        "macro_f1": round(f1_reduced, 6),
        "f1_drop": round(f1_full - f1_reduced, 6),
        "choice_agreement": round(choice_agreement(chosen_full, chosen_reduced), 6),
    }
    return _judged(figures, settings, started)


def _judged(figures: dict, settings, started: float) -> dict:
    bounds = settings_bounds(settings)
    figures.update(max_f1_drop=bounds.max_f1_drop, min_agreement=bounds.min_agreement)
    figures["passed"], figures["reason"] = parity_verdict(figures, bounds)
    figures["seconds"] = round(time.perf_counter() - started, 2)
    return figures
