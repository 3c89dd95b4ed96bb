from __future__ import annotations

import random

import numpy as np
import pytest

from uncertainty import rarity, select, select_cold_start, select_random_start, select_seed_set
from uncertainty.errors import InvalidLimitError, InvalidParameterError, NonFiniteWarning

# 0 and 1 are exact duplicates; 2 is orthogonal to them; 3 is opposite to 0.
EMB = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
UNC = np.array([0.9, 0.85, 0.5, 0.2])


def test_top_k_without_diversity() -> None:
    assert select(UNC, None, 2, diversity=False) == [0, 1]
    assert select(np.array([0.5, 0.7, 0.5, 0.7]), None, 3, diversity=False) == [1, 3, 0]  # ties -> index


def test_diversity_takes_one_task_per_group_of_near_duplicates() -> None:
    # three tight groups; the most uncertain group has three near-copies: top-3 would take all of them
    rng = np.random.default_rng(0)
    centres = np.eye(3, 8)
    emb = np.repeat(centres, 3, axis=0) + rng.normal(scale=0.01, size=(9, 8))
    unc = np.array([0.95, 0.94, 0.93, 0.6, 0.55, 0.5, 0.4, 0.35, 0.3])
    assert select(unc, None, 3, diversity=False) == [0, 1, 2]
    picked = select(unc, emb, 3)
    assert sorted(i // 3 for i in picked) == [0, 1, 2]
    assert [unc[i] for i in picked] == sorted((unc[i] for i in picked), reverse=True)


def test_diversity_clusters_only_the_most_uncertain_shortlist() -> None:
    # four groups, but the two least uncertain groups fall outside the prefilter x limit shortlist
    emb = np.repeat(np.eye(4, 4), 2, axis=0)
    unc = np.array([0.9, 0.9, 0.8, 0.8, 0.2, 0.2, 0.1, 0.1])
    picked = select(unc, emb, 2, prefilter=2)
    assert sorted(i // 2 for i in picked) == [0, 1]
    with pytest.raises(InvalidParameterError):
        select(unc, emb, 2, prefilter=0)


def test_candidates_exclude_labelled_items() -> None:
    mask = np.array([False, True, True, True])
    assert select(UNC, EMB, 2, candidates=mask) == select(UNC, EMB, 2, candidates=[1, 2, 3])
    assert 0 not in select(UNC, EMB, 2, candidates=mask)
    assert select(UNC, EMB, 2, candidates=[]) == []
    with pytest.raises(InvalidParameterError):
        select(UNC, EMB, 2, candidates=[4])


def test_cold_start_takes_a_typical_task_of_each_group_largest_first() -> None:
    # a group of five around x, a group of three around y, one outlier at -x
    emb = np.array(
        [
            [1.0, 0.1],
            [1.0, -0.1],
            [1.0, 0.0],
            [1.0, 0.05],
            [1.0, -0.05],
            [0.1, 1.0],
            [-0.1, 1.0],
            [0.0, 1.0],
            [-1.0, -0.2],
        ]
    )
    picked = select_cold_start(emb, 2)
    assert picked[0] == 2 and picked[1] in (5, 6, 7)  # a typical task of each group, the bigger first; no outlier
    assert select_cold_start(emb, 2) == picked  # seeded
    assert sorted(select_cold_start(emb, 9)) == list(range(9))  # whole pool
    assert select_cold_start(emb, 2, candidates=[5, 6, 7, 8]) in ([7, 8], [8, 7])


def test_a_stratified_cold_start_draws_one_member_of_every_group_not_always_the_typical_one() -> None:
    # three tight groups of 20; within each, member 0 sits exactly on the centre
    rng = np.random.default_rng(1)
    centres = np.eye(3, 6)
    emb = np.repeat(centres, 20, axis=0) + rng.normal(scale=0.05, size=(60, 6))
    emb[[0, 20, 40]] = centres
    typical = select_cold_start(emb, 3, seed=0)
    assert sorted(typical) == [0, 20, 40]
    draws = [select_cold_start(emb, 3, seed=s, within="random") for s in range(20)]
    assert all(sorted(i // 20 for i in d) == [0, 1, 2] for d in draws)  # one per group, always
    assert len({tuple(sorted(d)) for d in draws}) > 10  # and a different member from seed to seed
    assert select_cold_start(emb, 3, seed=4, within="random") == draws[4]  # seeded
    assert all(i >= 20 for i in select_cold_start(emb, 2, seed=0, candidates=range(20, 60), within="random"))
    with pytest.raises(InvalidParameterError):
        select_cold_start(emb, 3, within="central")


def test_rarity_ranks_texts_of_rare_words_above_texts_of_common_ones() -> None:
    common = ["the match ended in a draw .", "the match was a draw .", "it ended in a draw ."]
    texts = common + ["Kovell signed for Norvane in Bergen .", "the match ended ."]
    scores = rarity(texts)
    assert scores.shape == (5,) and int(np.argmax(scores)) == 3
    assert scores[4] < scores[3] and np.all(scores[:3] < scores[3])
    assert rarity(["THE Draw", "the draw"])[0] == rarity(["THE Draw", "the draw"])[1]  # case does not count
    assert rarity(["", "word"])[0] == 0.0  # no words: 0
    assert rarity(["word", "word"]).tolist() == [0.0, 0.0]  # a word in every text: log(1) = 0
    assert rarity(["東京に行く", "京都に行く"])[0] > 0  # scripts without spaces count per character


def test_the_shipped_seed_set_is_a_seeded_random_sample_of_the_allowed_tasks():
    picked = select_random_start(1000, 50, seed=3)
    assert len(set(picked)) == 50 and select_random_start(1000, 50, seed=3) == picked
    assert select_random_start(1000, 50, seed=4) != picked
    assert sorted(select_random_start(5, 50)) == [0, 1, 2, 3, 4]  # a small pool comes back whole
    assert set(select_random_start(10, 3, candidates=[7, 8, 9])) == {7, 8, 9}
    assert select_random_start(10, 3, candidates=[]) == []
    # the benchmark's random arm drew its seed sets this way before: old runs stay reproducible
    assert select_random_start(3000, 50, seed=1) == random.Random(1).sample(range(3000), 50)


def test_the_seed_set_comes_from_the_texts_of_rarer_words_and_fills_up_from_the_rest():
    # 20 texts of common words only, 20 that each name someone; the embeddings do not tell them apart
    common = [f"the match ended in a draw on day {i % 2}" for i in range(20)]
    named = [f"the match ended with {name} scoring" for name in ("Ana Kovell Bergen Lisbon Norvane".split() * 4)]
    texts = common + named
    emb = np.random.default_rng(0).normal(size=(40, 8))
    picked = select_seed_set(emb, texts, 10)
    assert len(picked) == 10 and all(i >= 20 for i in picked)  # every pick names someone
    assert select_seed_set(emb, texts, 10) == picked  # seeded
    everything = select_seed_set(emb, texts, 100)
    assert sorted(everything) == list(range(40)) and all(i >= 20 for i in everything[:20])  # the rare half first
    assert select_seed_set(np.zeros((0, 8)), [], 5) == []
    with pytest.raises(InvalidParameterError):
        select_seed_set(emb, texts[:3], 5)


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


def test_large_pools_give_full_unique_batches() -> None:
    """Speed at 10,000 x 384 is measured in bench/speed_select.py; here only the result at scale is pinned."""
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(3_000, 384))
    unc = rng.random(3_000)
    picked = select(unc, emb, 100)
    cold = select_cold_start(emb, 300)
    assert len(set(picked)) == 100 and len(set(cold)) == 300
    assert unc[picked].min() >= np.sort(unc)[-1000]  # drawn from the prefilter x limit most uncertain
