"""The parity gate of a training job: the version's served spans at a reduced precision against fp32.

Both runs read the held-out texts the deploy decision was made on and go through the serving code path
(Predictor, Viterbi decoding, label map), on the CPU where the web process serves. The figures land in the
version's meta.json (`parity`); the web process reads them (`modeling.precision.choose_precision`).
"""

from __future__ import annotations

import logging
import time
from typing import Sequence

from modeling.base_model import LoadedModel
from modeling.inference import Predictor
from modeling.parity import FULL, ParityBounds, parity_verdict, span_agreement
from modeling.precision import to_precision
from text.spans.decoding import decode_probs
from training.annotations import Example
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
    bounds = settings_bounds(settings)
    figures = {
        "precision": precision,
        "reference": FULL,
        "examples": len(examples),
        "entity_f1_fp32": round(f1_full, 6),
        "entity_f1": round(f1_reduced, 6),
        "f1_drop": round(f1_full - f1_reduced, 6),
        "span_agreement": round(span_agreement(spans_full, spans_reduced), 6),
        "max_f1_drop": bounds.max_f1_drop,
        "min_agreement": bounds.min_agreement,
    }
    figures["passed"], figures["reason"] = parity_verdict(figures, bounds)
    figures["seconds"] = round(time.perf_counter() - started, 2)
    return figures
