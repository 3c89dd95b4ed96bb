"""Fixed tag sets and a seeded pool shared by the uncertainty tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def pool() -> tuple[list[np.ndarray], np.ndarray]:
    """30 texts of 0..8 words (so some are empty) with Dirichlet probabilities, and 8-d embeddings."""
    rng = np.random.default_rng(1234)
    texts = [rng.dirichlet(np.full(5, 0.5), size=int(rng.integers(0, 9))) for _ in range(30)]
    embeddings = rng.normal(size=(30, 8))
    return texts, embeddings
