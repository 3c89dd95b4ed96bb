import itertools

import numpy as np
import pytest

from text.spans.viterbi import transition_mask, viterbi_path

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def is_iob2(sequence, tags):
    """Written out plainly, independent of transition_mask: I-X only after B-X/I-X, unless X has no B- tag."""
    with_b = {t[2:] for t in tags if t.startswith("B-")}
    previous = "O"
    for index in sequence:
        tag = tags[index]
        if tag.startswith("I-") and tag[2:] in with_b and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True


def brute_force(probs, tags):
    logp = np.log(np.maximum(probs, 1e-12))
    valid = (s for s in itertools.product(range(len(tags)), repeat=len(probs)) if is_iob2(s, tags))
    return list(max(valid, key=lambda s: sum(logp[i, k] for i, k in enumerate(s))))


def random_probs(rng, n, k):
    return rng.dirichlet(np.full(k, 0.5), size=n)


@pytest.mark.parametrize("tags", [TAGS, ["O", "B-PER", "I-PER", "I-LOC", "B-MISC"]], ids=["bio", "missing B and I"])
def test_viterbi_equals_brute_force_over_all_valid_sequences(tags):
    rng = np.random.default_rng(0)
    for _ in range(60):
        probs = random_probs(rng, int(rng.integers(1, 6)), len(tags))
        assert viterbi_path(probs, tags).tolist() == brute_force(probs, tags)


def test_a_stray_i_after_o_becomes_a_valid_entity():
    probs = np.array(
        [
            [0.9, 0.05, 0.03, 0.01, 0.01],
            [0.3, 0.2, 0.45, 0.03, 0.02],  # argmax I-PER right after O
            [0.1, 0.1, 0.7, 0.05, 0.05],
        ]
    )
    assert probs.argmax(axis=1).tolist() == [0, 2, 2]
    assert viterbi_path(probs, TAGS).tolist() == [0, 1, 2]  # O B-PER I-PER: 0.2 * 0.7 beats O O's 0.3 * 0.1


def test_a_stray_i_with_little_evidence_is_dropped_rather_than_promoted():
    probs = np.array([[0.9, 0.05, 0.03, 0.01, 0.01], [0.4, 0.05, 0.5, 0.03, 0.02], [0.9, 0.02, 0.04, 0.02, 0.02]])
    assert viterbi_path(probs, TAGS).tolist() == [0, 0, 0]


def test_a_text_cannot_start_inside_an_entity():
    probs = np.array([[0.1, 0.3, 0.6, 0.0, 0.0]])
    assert viterbi_path(probs, TAGS).tolist() == [1]


def test_when_argmax_is_already_valid_viterbi_returns_it():
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(300):
        probs = random_probs(rng, int(rng.integers(1, 9)), len(TAGS))
        best = probs.argmax(axis=1).tolist()
        if is_iob2(best, TAGS):
            assert viterbi_path(probs, TAGS).tolist() == best
            checked += 1
    assert checked > 50


def test_empty_text_gives_an_empty_path():
    path = viterbi_path(np.zeros((0, len(TAGS))), TAGS)
    assert path.shape == (0,) and path.dtype.kind == "i"


def test_zero_probabilities_are_very_unlikely_not_impossible():
    one_hot_i = np.array([[0.0, 0.0, 1.0, 0.0, 0.0]] * 3)  # every valid path has some zero-probability word
    assert viterbi_path(one_hot_i, TAGS).tolist() == [1, 2, 2]


def test_a_non_finite_row_is_read_as_uniform():
    uniform = np.array([[0.05, 0.9, 0.03, 0.01, 0.01], [0.2] * 5, [0.9, 0.02, 0.04, 0.02, 0.02]])
    expected = viterbi_path(uniform, TAGS).tolist()
    assert expected[0] == 1 and expected[2] == 0  # the broken row does not drag its neighbours along
    for broken in ([np.nan] * 5, [np.inf, 0, 0, 0, 0], [0.5, -np.inf, 0.5, 0, 0]):
        probs = uniform.copy()
        probs[1] = broken
        assert viterbi_path(probs, TAGS).tolist() == expected


def test_other_schemes_are_read_like_parse_tag():
    may_start, may_follow = transition_mask(["O", "S-PER", "E-PER"])  # E- reads as I-, S- as B-
    assert may_start.tolist() == [True, True, False]
    assert may_follow[:, 2].tolist() == [False, True, True]


def test_probs_that_do_not_match_the_tags_are_refused():
    with pytest.raises(ValueError):
        viterbi_path(np.ones((2, 3)) / 3, TAGS)
