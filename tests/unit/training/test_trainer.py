import random

import pytest
import torch

from modeling.base_model import load_base_model
from tests.support.rule_model import NER_TAGS
from training.deploy_gate import decide_deployment
from training.trainer import adapt_head, length_grouped_batches, plan_epochs


def test_epochs_are_raised_until_the_minimum_number_of_steps():
    assert plan_epochs(40, 8, 10, 150) == (30, 5)  # 50 tasks, 20% held out: 5 steps an epoch
    assert plan_epochs(800, 8, 10, 150) == (10, 100)  # many tasks: NUM_TRAIN_EPOCHS governs
    assert plan_epochs(1, 8, 2, 0) == (2, 1)


def test_length_grouped_batches_cover_every_row_once():
    lengths = [random.Random(1).randint(3, 60) for _ in range(203)]
    batches = length_grouped_batches(lengths, 8, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(203)) and max(map(len, batches)) == 8
    assert batches == length_grouped_batches(lengths, 8, random.Random(0))


def test_extending_the_head_keeps_what_the_model_knew(rule_model_dir):
    loaded = load_base_model(str(rule_model_dir), ["Person", "LOC", "DATE"], {"Person": ["PER"]})
    assert loaded.trained and loaded.label_map == {"PER": "Person", "LOC": "LOC"}
    ids = loaded.tokenizer(["angela merkel in berlin"], return_tensors="pt")
    with torch.no_grad():
        before = loaded.model(**ids).logits
    tags = adapt_head(loaded, ["Person", "LOC", "DATE"])
    assert tags == [
        "O",
        "B-Person",
        "I-Person",
        "B-ORG",
        "I-ORG",
        "B-LOC",
        "I-LOC",
        "B-MISC",
        "I-MISC",
        "B-DATE",
        "I-DATE",
    ]
    assert loaded.model.config.id2label[9] == "B-DATE" and loaded.model.num_labels == 11
    assert loaded.label_map == {"Person": "Person", "LOC": "LOC", "DATE": "DATE"}  # MISC, ORG: not the project's
    with torch.no_grad():
        after = loaded.model(**ids).logits
    assert after.shape[-1] == 11
    assert torch.allclose(after[..., : len(NER_TAGS)], before)


@pytest.mark.parametrize(
    "policy,new,cur,expected",
    [
        ("always", 0.1, 0.9, True),
        ("manual", 0.9, 0.1, False),
        ("if_better", 0.5, 0.5, True),
        ("if_better", 0.49, 0.5, False),
        ("if_better", 0.6, 0.0, True),
    ],
)
def test_deploy_policy(policy, new, cur, expected):
    deploy, reason = decide_deployment(policy, new, cur)
    assert deploy is expected and reason


def test_unknown_policy_is_an_error():
    with pytest.raises(ValueError):
        decide_deployment("sometimes", 1, 0)
