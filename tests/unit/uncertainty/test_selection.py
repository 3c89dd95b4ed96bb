from __future__ import annotations


import numpy as np
import pytest

from uncertainty import InvalidLimitError, InvalidParameterError, NonFiniteWarning, select, select_cold_start

# 0 and 1 are exact duplicates; 2 is orthogonal to them; 3 is opposite to 0.
EMB = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
UNC = np.array([0.9, 0.85, 0.5, 0.2])


def test_top_k_without_diversity() -> None:
    assert select(UNC, None, 2, diversity=False) == [0, 1]
    assert select(np.array([0.5, 0.7, 0.5, 0.7]), None, 3, diversity=False) == [1, 3, 0]  # ties -> index


def test_diversity_skips_duplicates_by_the_documented_rule() -> None:
    # pick 0 (most uncertain); then u * d: item1 0.85*0, item2 0.5*1, item3 0.2*2 -> 2
    assert select(UNC, EMB, 2) == [0, 2]
    # then min distances: item1 0, item3 min(2, 1) = 1 -> 0.2 beats 0 -> 3
    assert select(UNC, EMB, 3) == [0, 2, 3]


def test_threshold_keeps_low_confidence_only() -> None:
    # confidences 0.1, 0.15, 0.5, 0.8; "below 0.5" excludes item 2
    assert select(UNC, EMB, 10, threshold=0.5) == [0, 1]
    assert select(UNC, EMB, 10, threshold=0.05) == []


def test_candidates_exclude_labelled_items() -> None:
    mask = np.array([False, True, True, True])
    assert select(UNC, EMB, 2, candidates=mask) == [1, 2]
    assert select(UNC, EMB, 2, candidates=[1, 2, 3]) == [1, 2]
    assert select(UNC, EMB, 2, candidates=[]) == []
    with pytest.raises(InvalidParameterError):
        select(UNC, EMB, 2, candidates=[4])


def test_cold_start_hand_computed() -> None:
    emb = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-0.6, 0.8]])
    # centroid (0.25, 0.65): closeness 0.25, 0.67, 0.65, 0.37 -> start at 1
    # distances to 1: 0.4, -, 0.2, 0.72 -> 3; then min(0.4, 1.6) = 0.4 vs min(0.2, 0.2) -> 0
    assert select_cold_start(emb, 3) == [1, 3, 0]
    assert select_cold_start(emb, 4) == [1, 2, 3, 0]  # whole pool: by closeness to the centroid
    assert select_cold_start(emb, 3, candidates=[0, 2, 3]) == [2, 3, 0]


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
def test_bad_limit(limit) -> None:
    with pytest.raises(InvalidLimitError):
        select(UNC, EMB, limit)
    with pytest.raises(InvalidLimitError):
        select_cold_start(EMB, limit)


def test_empty_pool_and_missing_embeddings() -> None:
    assert select(np.zeros(0), np.zeros((0, 3)), 5) == []
    assert select_cold_start(np.zeros((0, 3)), 5) == []
    with pytest.raises(InvalidParameterError):
        select(UNC, None, 2)
    with pytest.raises(InvalidParameterError):
        select(UNC, EMB[:3], 2)


def test_non_finite_uncertainty_is_warned_and_first() -> None:
    with pytest.warns(NonFiniteWarning):
        assert select(np.array([0.3, np.nan, 0.9]), None, 2, diversity=False) == [1, 2]


def test_zero_embedding_is_far_from_everything() -> None:
    emb = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    assert select(np.array([0.9, 0.8, 0.1]), emb, 2) == [0, 2]


def test_large_pools_give_full_unique_batches() -> None:
    """Speed at 10,000 x 384 is measured in bench/speed_select.py; here only the result at scale is pinned."""
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(3_000, 384))
    unc = rng.random(3_000)
    picked = select(unc, emb, 300)
    cold = select_cold_start(emb, 300)
    assert len(set(picked)) == 300 and len(set(cold)) == 300
    assert int(np.argmax(unc)) in picked
