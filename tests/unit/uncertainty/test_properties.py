"""Property checks: every score stays in [0, 1] and texts scored together equal texts scored alone."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from uncertainty import STRATEGIES
from uncertainty.boundary import boundary_flat
from uncertainty.measures import least_confidence, margin, token_entropy

TAGS5 = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]


@st.composite
def texts(draw) -> list[np.ndarray]:
    sizes = draw(st.lists(st.integers(0, 6), min_size=1, max_size=5))
    seed = draw(st.integers(0, 2**32 - 1))
    alpha = draw(st.sampled_from([0.05, 0.5, 5.0]))
    rng = np.random.default_rng(seed)
    return [rng.dirichlet(np.full(5, alpha), size=n) for n in sizes]


@settings(max_examples=60, deadline=None, database=None)
@given(texts())
def test_scores_in_unit_interval_and_batch_invariant(pool: list[np.ndarray]) -> None:
    for text in pool:
        boundary = boundary_flat(text, np.arange(len(text)) == len(text) - 1, TAGS5)
        for values in (token_entropy(text), least_confidence(text), margin(text), boundary):
            assert np.all((values >= 0) & (values <= 1))
    for name, strategy in STRATEGIES.items():
        inputs = [np.stack([t, t[::-1]]) for t in pool] if strategy.needs_samples else pool
        together = strategy(inputs, TAGS5, reduction="mean")
        assert np.all((together >= 0) & (together <= 1))
        if name != "random":
            alone = np.array([strategy([text], TAGS5, reduction="mean")[0] for text in inputs])
            np.testing.assert_array_equal(together, alone)
