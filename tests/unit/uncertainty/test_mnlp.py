from __future__ import annotations

import math

import numpy as np
import pytest

from uncertainty import get_strategy

mnlp = get_strategy("mnlp")


def test_mnlp_hand_computed() -> None:
    # MNLP = (log 0.5 + log 1) / 2 -> U = 1 - sqrt(0.5)
    assert mnlp([np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])], ["O", "B-X", "I-X"])[0] == pytest.approx(
        1 - math.sqrt(0.5)
    )
    assert mnlp([np.array([[0.8, 0.2]])], ["O", "B-X"])[0] == pytest.approx(0.2)
    assert mnlp([np.eye(3)], ["O", "B-X", "I-X"])[0] == 0.0
    assert mnlp([np.full((4, 5), 0.2)], ["O", "B-X", "I-X", "B-Y", "I-Y"])[0] == pytest.approx(1 - 0.2)  # <= 1 - 1/K
    assert mnlp([np.zeros((0, 3))], ["O", "B-X", "I-X"])[0] == 0.0
    assert mnlp([np.array([])], ["O", "B-X", "I-X"])[0] == 0.0


def test_mnlp_texts_together_equal_texts_alone() -> None:
    rng = np.random.default_rng(3)
    texts = [rng.dirichlet(np.ones(4), size=n) for n in (5, 2, 0)]
    tags = ["O", "B-X", "I-X", "B-Y"]
    np.testing.assert_array_equal(mnlp(texts, tags), [mnlp([t], tags)[0] for t in texts])
