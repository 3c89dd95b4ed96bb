"""Windowing with the real default encoder (all-MiniLM-L6-v2, whose every word sees its context, unlike the rule
model): on the words a window owns, a long text's predictions equal those of that window's text run alone.

Tolerance: 1e-5 on every probability at fp32 (measured: 4e-8, the batch's padding changes the summation order);
5e-3 at bf16 (measured: 1e-3); the most probable tag is the same for every owned word at both. int8 is left out on
purpose: dynamic quantization scales activations per batch tensor, so an int8 window's probabilities move with the
windows it is batched with (measured: 0.02 on an untrained head), which the parity gate measures instead.
"""

from __future__ import annotations

import numpy as np
import pytest

from modeling.base_model import load_base_model
from modeling.inference import Predictor
from modeling.precision import to_precision

WORDS = (
    "Angela Merkel met the chief executive of Norvane Bank in Lisbon on Monday , and later flew to Tokyo "
    "where Sony announced a partnership with Siemens worth 400 million euros . "
).split()
TOLERANCE = {"fp32": 1e-5, "bf16": 5e-3}


@pytest.fixture(scope="module")
def base():
    return load_base_model(None, ["PER", "ORG", "LOC", "MISC"])  # seeded head: the same in every process


@pytest.mark.parametrize("precision", sorted(TOLERANCE))
def test_each_window_owns_exactly_what_its_text_alone_predicts(base, precision):
    model = to_precision(base.model, precision, inplace=False)
    predictor = Predictor(model, base.tokenizer, max_length=24, batch_size=8)
    text = " ".join(WORDS * 3)
    encoded = predictor.encoder.encode([text])[0]
    assert len(encoded.windows) >= 4
    full = predictor.predict([text])[0]
    owned = 0
    for inputs in encoded.windows:
        window = inputs.window
        alone_text = text[encoded.words[window.start][0] : encoded.words[window.end - 1][1]]
        assert len(predictor.encoder.encode([alone_text])[0].windows) == 1  # the window's text fits one window
        alone = predictor.predict([alone_text])[0].probs[
            window.own_start - window.start : window.own_end - window.start
        ]
        windowed = full.probs[window.own_start : window.own_end]
        np.testing.assert_allclose(windowed, alone, rtol=0, atol=TOLERANCE[precision])
        assert (windowed.argmax(axis=1) == alone.argmax(axis=1)).all()
        owned += window.own_end - window.own_start
    assert owned == len(full.words)  # every word owned by exactly one window
