"""The contract every (strategy x diversity) selection and the cold start must keep."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from uncertainty import STRATEGIES, get_strategy, select, select_cold_start

TAGS5 = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]
Selector = Callable[[int, np.ndarray], list[int]]

CASES = [(name, diversity) for name in sorted(STRATEGIES) for diversity in (True, False)] + [("cold_start", None)]


def _selector(case: tuple[str, bool | None], pool) -> tuple[Selector, np.ndarray]:
    texts, embeddings = pool
    name, diversity = case
    if name == "cold_start":
        return (lambda limit, cand: select_cold_start(embeddings, limit, seed=3, candidates=cand)), np.zeros(30)
    strategy = get_strategy(name)
    inputs = [np.stack([t, np.roll(t, 1, axis=-1)]) for t in texts] if strategy.needs_samples else texts
    scores = strategy(inputs, TAGS5, reduction="mean", seed=3)
    return (lambda limit, cand: select(scores, embeddings, limit, diversity=diversity, seed=3, candidates=cand)), scores


@pytest.fixture(params=CASES, ids=lambda c: f"{c[0]}-{'cold' if c[1] is None else ('div' if c[1] else 'topk')}")
def case(request) -> tuple[str, bool | None]:
    return request.param


LABELLED = np.arange(30) % 3 == 0
UNLABELLED = np.flatnonzero(~LABELLED)  # 20 items


@pytest.mark.parametrize("limit", [1, 7, 20, 50])
def test_contract(case, pool, limit: int) -> None:
    run, scores = _selector(case, pool)
    picked = run(limit, ~LABELLED)
    assert len(picked) <= limit
    assert len(picked) == len(set(picked))  # no duplicates
    assert all(isinstance(i, int) for i in picked)
    assert not any(LABELLED[i] for i in picked)  # never a labelled task
    assert set(picked) <= set(UNLABELLED.tolist())
    if limit >= len(UNLABELLED):
        assert sorted(picked) == UNLABELLED.tolist()  # the whole remaining pool
    else:
        assert len(picked) == limit
    assert run(limit, ~LABELLED) == picked  # deterministic under a fixed seed
    assert run(limit, UNLABELLED) == picked  # an index list means the same as a mask
    if case[0] != "cold_start":
        ordered = scores[picked]
        assert np.all(ordered[:-1] >= ordered[1:])  # most uncertain first


def test_contract_empty_pool(case, pool) -> None:
    run, _ = _selector(case, pool)
    assert run(5, np.zeros(30, dtype=bool)) == []
