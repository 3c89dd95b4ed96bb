import pytest
import torch

from modeling.base_model import load_base_model
from tests.support.rule_model import NER_TAGS
from training.deploy_gate import decide_deployment
from training.trainer import adapt_head, plan_epochs


def test_epochs_are_raised_until_the_minimum_number_of_steps():
    assert plan_epochs(40, 8, 10, 150) == (30, 5)  # 50 tasks, 20% held out: 5 steps an epoch
    assert plan_epochs(800, 8, 10, 150) == (10, 100)  # many tasks: NUM_TRAIN_EPOCHS governs
    assert plan_epochs(1, 8, 2, 0) == (2, 1)


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


def tiny_fit(rule_model_dir, seed: int, **env):
    """A few-step NER fit of the rule model (both task types train through `training.hf_training`)."""
    from bench.corpus import LABEL_CONFIG, make_tasks
    from settings import Settings
    from text.label_config import parse_ner_config
    from training.annotations import tasks_to_examples
    from training.trainer import fine_tune

    config = parse_ner_config(LABEL_CONFIG)
    values = {"BASELINE_MODEL_NAME": str(rule_model_dir), "MIN_TRAIN_STEPS": "6", "NUM_TRAIN_EPOCHS": "1"}
    settings = Settings.from_env({**values, "LEARNING_RATE": "0.05", "MAX_SEQUENCE_LENGTH": "64", **env})
    data = tasks_to_examples(make_tasks(24, seed=0), config)[0]
    loaded = load_base_model(str(rule_model_dir), list(config.labels), config.predicted_values)
    adapt_head(loaded, config.labels)
    seen = []
    result = fine_tune(loaded, data[:16], data[16:], settings, progress=lambda f, m: seen.append((f, m)), seed=seed)
    return loaded.model.classifier.weight.detach().clone(), result, seen


@pytest.mark.slow
def test_the_same_seed_trains_the_same_model_and_progress_only_rises(rule_model_dir):
    first, result, seen = tiny_fit(rule_model_dir, seed=3)
    again, _, _ = tiny_fit(rule_model_dir, seed=3)
    other, _, _ = tiny_fit(rule_model_dir, seed=4)

    assert torch.equal(first, again) and not torch.equal(first, other)
    assert (result.epochs, result.steps) == (3, 6)  # 16 tasks, batches of 8: raised to 3 epochs for 6 steps
    assert [h["epoch"] for h in result.history] == [1, 2, 3] and all("val_entity_f1" in h for h in result.history)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert seen[0][1] == "epoch 1/3, step 1/6" and any(m.startswith("epoch 3/3: loss ") for _, m in seen)
