from types import SimpleNamespace

import numpy as np
import pytest

from text.spans.alignment import align_spans
from text.spans.decoding import decode_probs
from text.spans.span import Span
from text.words import split_words
from training.annotations import Example
from training.evaluation import SEQEVAL_MODE, evaluate_model, predicted_word_tags, score_tags


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
    assert m["seqeval_mode"] == SEQEVAL_MODE and "PER" in m["report_text"]


def test_boundary_errors_count_as_misses():
    m = score_tags([["B-PER", "I-PER"]], [["B-PER", "O"]])
    assert m["entity_f1"] == 0.0 and m["token_accuracy"] == 0.5


def test_no_entities_anywhere_is_perfect_and_lengths_must_match():
    assert score_tags([["O", "O"]], [["O", "O"]])["entity_f1"] == 1.0
    assert score_tags([["O"]], [["B-PER"]])["entity_f1"] == 0.0
    with pytest.raises(ValueError):
        score_tags([["O"]], [["O", "O"]])


def test_predicted_tags_are_renamed_and_unknown_labels_dropped():
    tags = ["O", "B-PER", "I-PER", "B-MISC", "I-MISC"]
    probs = np.array([[0.1, 0.8, 0.1, 0, 0], [0.1, 0.1, 0.7, 0.1, 0], [0.2, 0, 0, 0.8, 0], [0.9, 0, 0, 0, 0.1]])
    assert predicted_word_tags(probs, tags, {"PER": "Person"}) == ["B-Person", "I-Person", "O", "O"]
    assert predicted_word_tags(np.zeros((0, 5)), tags, None) == []


TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


class FixedPredictor:
    """Stands in for modeling.inference.Predictor: hands back fixed per-word probabilities, one text per output."""

    def __init__(self, outputs):
        self.outputs = outputs

    def predict(self, texts):
        assert len(texts) == len(self.outputs)
        return self.outputs


def output(text, probs):
    """What a Predictor returns for one text (without the embedding, which evaluation does not read)."""
    return SimpleNamespace(words=split_words(text), probs=np.asarray(probs, dtype=float))


def entity_runs(word_tags):
    """(first, end, label) word ranges of lenient BIO tags (a stray I- opens an entity), counted independently."""
    found, first, label = [], 0, None
    for i, tag in enumerate(list(word_tags) + ["O"]):
        prefix, tag_label = ("O", None) if tag == "O" else (tag[0], tag[2:])
        if label is not None and (tag_label != label or prefix == "B"):
            found.append((first, i, label))
            label = None
        if tag_label is not None and label is None:
            first, label = i, tag_label
    return found


def test_a_stray_i_is_scored_as_the_entity_predict_serves():
    text = "met Angela Merkel"
    probs = [[0.9, 0.05, 0.03, 0.01, 0.01], [0.3, 0.25, 0.4, 0.03, 0.02], [0.1, 0.1, 0.7, 0.05, 0.05]]
    out = output(text, probs)
    gold = Example(1, text, (Span(4, 17, "PER"),))
    argmax_tags = [TAGS[i] for i in out.probs.argmax(axis=1)]
    assert argmax_tags == ["O", "I-PER", "I-PER"]
    gold_tags, _ = align_spans(out.words, gold.spans)
    assert score_tags([gold_tags], [argmax_tags])["entity_recall"] == 0.0  # what argmax scoring used to say

    served = decode_probs(out.words, out.probs, TAGS)
    assert [(s.start, s.end, s.label) for s in served] == [(4, 17, "PER")]
    m = evaluate_model(FixedPredictor([out]), TAGS, [gold])
    assert m["entity_precision"] == m["entity_recall"] == m["entity_f1"] == 1.0
    assert m["seqeval_mode"] == SEQEVAL_MODE


def test_evaluation_equals_exact_matching_of_served_and_gold_spans():
    rng = np.random.default_rng(3)
    label_map = {"PER": "Person"}  # LOC is not a project label: never served, never gold
    examples, outputs, hits, n_served, n_gold = [], [], 0, 0, 0
    for t in range(40):
        n = int(rng.integers(0, 7))
        text = " ".join(f"w{t}x{i}" for i in range(n))
        out = output(text, rng.dirichlet(np.full(len(TAGS), 0.4), size=n).reshape(n, len(TAGS)))
        drawn = entity_runs([TAGS[i] for i in rng.integers(0, 3, size=n)])
        gold = tuple(Span(out.words[a][0], out.words[b - 1][1], label_map[label]) for a, b, label in drawn)
        served = {(s.start, s.end, s.label) for s in decode_probs(out.words, out.probs, TAGS, label_map)}
        aligned = {
            (out.words[a][0], out.words[b - 1][1], label)
            for a, b, label in entity_runs(align_spans(out.words, gold)[0])
        }
        hits += len(served & aligned)
        n_served += len(served)
        n_gold += len(aligned)
        examples.append(Example(t, text, gold))
        outputs.append(out)
    m = evaluate_model(FixedPredictor(outputs), TAGS, examples, label_map)
    assert 0 < hits < min(n_served, n_gold)
    assert m["entity_precision"] == pytest.approx(hits / n_served)
    assert m["entity_recall"] == pytest.approx(hits / n_gold)


def test_predicted_tags_need_no_word_offsets():
    rng = np.random.default_rng(4)
    probs = rng.dirichlet(np.full(len(TAGS), 0.4), size=6)
    words = [(0, 3), (4, 5), (6, 12), (13, 14), (15, 20), (22, 23)]
    assert predicted_word_tags(probs, TAGS, None, words) == predicted_word_tags(probs, TAGS, None)
