import numpy as np
import pytest

from training.evaluation import predicted_word_tags, score_tags


def test_strict_iob2_entity_scores_on_hand_made_tags():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-PER"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["I-ORG", "O", "B-PER"]]
    m = score_tags(gold, pred)
    # gold: PER, LOC, ORG, PER (4); predicted valid entities: PER, ORG, PER (the stray I-ORG is not one in strict mode)
    assert m["entity_precision"] == pytest.approx(2 / 3)
    assert m["entity_recall"] == pytest.approx(2 / 4)
    assert m["entity_f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert m["token_accuracy"] == pytest.approx(5 / 7)
    assert m["per_type"]["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert m["per_type"]["LOC"]["recall"] == 0.0 and m["per_type"]["ORG"]["support"] == 1
    assert m["seqeval_mode"] == "strict IOB2" and "PER" in m["report_text"]


def test_boundary_errors_count_as_misses():
    m = score_tags([["B-PER", "I-PER"]], [["B-PER", "O"]])
    assert m["entity_f1"] == 0.0 and m["token_accuracy"] == 0.5


def test_no_entities_anywhere_is_perfect_and_lengths_must_match():
    assert score_tags([["O", "O"]], [["O", "O"]])["entity_f1"] == 1.0
    assert score_tags([["O"]], [["B-PER"]])["entity_f1"] == 0.0
    with pytest.raises(ValueError):
        score_tags([["O"]], [["O", "O"]])


def test_argmax_tags_are_renamed_and_unknown_labels_dropped():
    tags = ["O", "B-PER", "I-PER", "B-MISC", "I-MISC"]
    probs = np.array([[0.1, 0.8, 0.1, 0, 0], [0.1, 0.1, 0.7, 0.1, 0], [0.2, 0, 0, 0.8, 0], [0.9, 0, 0, 0, 0.1]])
    assert predicted_word_tags(probs, tags, {"PER": "Person"}) == ["B-Person", "I-Person", "O", "O"]
    assert predicted_word_tags(np.zeros((0, 5)), tags, None) == []
