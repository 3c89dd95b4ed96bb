"""SERVING_PRECISION for classifiers: the classification job's parity gate (macro-F1 and chosen classes against
fp32 on the held-out tasks), its figures in meta.json, and the precision the web process then serves the classifier
at; a combined version's classifier has figures of its own. The NER side is in `test_serving_precision`."""

from __future__ import annotations

import pytest
import torch

from modeling.base_model import LoadedModel
from modeling.cache import ModelCache
from modeling.classifier import load_saved_classifier
from modeling.precision import to_precision
from services.train_job import read_examples
from settings import Settings
from store.local import LocalStore
from tests.support.choice_model import CLASSES, SENTIMENT_CONFIG, build_choice_model
from tests.support.combined import COMBINED_CONFIG, combined_tasks
from tests.support.jobs import job_settings
from text.label_config import parse_project_config
from training.classification import classifier_predictor
from training.classification_data import ChoiceExample
from training.classification_pipeline import run_classification_training
from training.combined_pipeline import run_combined_training

QUANTIZED = torch.ao.nn.quantized.dynamic.Linear
CONFIG = parse_project_config(SENTIMENT_CONFIG).served
SAME = {c: c for c in CLASSES}
CUED = {"good": "positive", "bad": "negative", "okay": "neutral"}
TEXTS = ["a good film", "a bad film", "an okay film", "good good plot", "bad acting"]
CHOSEN = [[0], [1], [2], [0], [1]]  # the class index each text's cue gives
CHOSEN_BY_TEXT = [[c] for c in CHOSEN]  # per text, per control (one control): the chosen class indices
EXAMPLES = [
    ChoiceExample(
        f"{i}-{j}",
        text,
        tuple(1.0 if k == CHOSEN[j][0] else 0.0 for k in range(len(CLASSES))),
        (True,),
    )
    for i in range(4)
    for j, text in enumerate(TEXTS)
]


@pytest.fixture(scope="module")
def choice_dir(tmp_path_factory):
    return build_choice_model(tmp_path_factory.mktemp("choices"))


@pytest.fixture(scope="module")
def fragile_dir(tmp_path_factory):
    return build_choice_model(tmp_path_factory.mktemp("fragile-choices"), int8_fragile=True)


SETTINGS = Settings.from_env({"MAX_SEQUENCE_LENGTH": "32"})


def chosen(model, tokenizer) -> list[list[list[int]]]:
    """The classes served for TEXTS, per text and control, through the predictor /predict builds."""
    predictor = classifier_predictor(LoadedModel(model, tokenizer, list(CLASSES), SAME, True), CONFIG, SETTINGS)
    return [predictor.decide(o.probs) for o in predictor.predict(TEXTS)]


def gentle_settings(tmp_path, base_dir, **env) -> Settings:
    """A job that barely moves the weights (learning rate 1e-8: they stay the base's) from `base_dir`, deployed."""
    base = {
        "MODEL_DIR": str(tmp_path / "models"),
        "BASELINE_MODEL_NAME": str(base_dir),
        "MAX_SEQUENCE_LENGTH": "32",
        "LEARNING_RATE": "1e-8",
        "NUM_TRAIN_EPOCHS": "1",
        "MIN_TRAIN_STEPS": "0",
        "FINAL_FIT": "train",
        "DEPLOY_POLICY": "always",
        "TRAINING_START": "scratch",
    }
    return job_settings(base, **env)


def train(tmp_path, base_dir, **env):
    """One gentle job (`gentle_settings`) on EXAMPLES; (settings, store, the deployed version's meta)."""
    settings = gentle_settings(tmp_path, base_dir, **env)
    store = LocalStore(settings.model_dir)
    outcome = run_classification_training("6", EXAMPLES, CONFIG, settings, store)
    assert outcome.deployed
    return settings, store, store.get("6", outcome.version).meta


def test_int8_and_bf16_choose_the_same_classes_as_fp32_and_really_convert_the_classifier(choice_dir):
    loaded = load_saved_classifier(str(choice_dir), SAME)
    assert chosen(loaded.model, loaded.tokenizer) == CHOSEN_BY_TEXT
    int8 = to_precision(loaded.model, "int8", inplace=False)
    assert isinstance(int8.classifier, QUANTIZED) and not isinstance(loaded.model.classifier, QUANTIZED)
    assert chosen(int8, loaded.tokenizer) == CHOSEN_BY_TEXT
    bf16 = to_precision(loaded.model, "bf16", inplace=False)
    assert bf16.classifier.weight.dtype == torch.bfloat16 and loaded.model.classifier.weight.dtype == torch.float32
    assert chosen(bf16, loaded.tokenizer) == CHOSEN_BY_TEXT


def test_the_fragile_classifier_is_exact_at_fp32_and_blind_at_int8(fragile_dir):
    loaded = load_saved_classifier(str(fragile_dir), SAME)
    assert chosen(loaded.model, loaded.tokenizer) == CHOSEN_BY_TEXT
    assert chosen(to_precision(loaded.model, "int8", inplace=False), loaded.tokenizer) == [[[0]]] * len(TEXTS)


def test_a_classifier_within_the_bounds_is_served_int8_with_its_figures_in_meta(tmp_path, choice_dir):
    settings, store, meta = train(tmp_path, choice_dir, SERVING_PRECISION="int8")
    parity = meta["parity"]
    assert parity["precision"] == "int8" and parity["passed"], parity
    assert parity["examples"] == meta["validation_size"] >= 1
    assert parity["macro_f1_fp32"] == parity["macro_f1"] == 1.0
    assert parity["f1_drop"] == 0.0 and parity["choice_agreement"] == 1.0 and "span_agreement" not in parity
    served = ModelCache(settings, store).get("6", CONFIG)
    assert served.precision == "int8" and isinstance(served.predictor.model.classifier, QUANTIZED)
    outputs = served.predictor.predict(TEXTS)
    assert [served.predictor.decide(o.probs) for o in outputs] == CHOSEN_BY_TEXT


def test_a_classifier_that_fails_the_gate_is_served_fp32_and_says_why(tmp_path, fragile_dir, caplog):
    with caplog.at_level("WARNING"):
        settings, store, meta = train(tmp_path, fragile_dir, SERVING_PRECISION="int8")
    parity = meta["parity"]
    assert parity["precision"] == "int8" and not parity["passed"], parity
    assert parity["macro_f1_fp32"] == 1.0 and parity["f1_drop"] > 0.005 and parity["choice_agreement"] < 0.98
    assert "macro-F1" in parity["reason"]
    assert any("parity gate failed, served fp32" in r.getMessage() for r in caplog.records)
    with caplog.at_level("WARNING"):
        served = ModelCache(settings, store).get("6", CONFIG)
    assert served.precision == "fp32" and not isinstance(served.predictor.model.classifier, QUANTIZED)
    assert [served.predictor.decide(o.probs) for o in served.predictor.predict(TEXTS)] == CHOSEN_BY_TEXT
    assert any("served fp32" in r.getMessage() and "macro-F1" in r.getMessage() for r in caplog.records)
    # Forcing skips the gate: the same version at int8, blind as the gate saw it.
    forced = ModelCache(settings.replace(serving_precision_force=True), store).get("6", CONFIG)
    assert forced.precision == "int8"


def test_fp32_serving_records_no_figures_for_a_classifier(tmp_path, choice_dir):
    settings, store, meta = train(tmp_path, choice_dir, SERVING_PRECISION="fp32")
    assert "parity" not in meta
    assert ModelCache(settings, store).get("6", CONFIG).precision == "fp32"


def test_a_base_classifier_has_no_figures_so_it_is_served_fp32_unless_forced(make_client, choice_dir):
    for force, expected in (("false", "fp32"), ("true", "int8")):
        client = make_client(BASELINE_MODEL_NAME=choice_dir, SERVING_PRECISION="int8", SERVING_PRECISION_FORCE=force)
        body = {
            "project": "4.1",
            "label_config": SENTIMENT_CONFIG,
            "tasks": [{"id": 1, "data": {"text": "a bad film"}}],
        }
        result = client.post("/predict", json=body).get_json()["results"][0]["result"]
        assert [r["value"]["choices"] for r in result] == [["negative"]]
        assert client.get("/health").get_json()["models"]["4"]["precision"] == expected


@pytest.mark.parametrize("fragile", [False, True], ids=["within-bounds", "fragile"])
def test_a_combined_versions_classifier_is_served_by_its_own_figures(tmp_path, choice_dir, fragile_dir, fragile):
    """The classifier of a combined version is measured on the choices' held-out tasks and stored in `choices`,
    beside the spans' own figures; it is served int8 when they pass, fp32 when they fail."""
    settings = gentle_settings(tmp_path, fragile_dir if fragile else choice_dir, SERVING_PRECISION="int8")
    store = LocalStore(settings.model_dir)
    config = parse_project_config(COMBINED_CONFIG).served
    examples, _ = read_examples(combined_tasks(24), config)

    outcome = run_combined_training("9", examples, config, settings, store)

    meta = store.get("9", outcome.version).meta
    assert "span_agreement" in meta["parity"]  # the spans' figures, at the top as for an NER version
    parity = meta["choices"]["parity"]
    assert parity["precision"] == "int8" and parity["passed"] is not fragile, parity
    assert parity["macro_f1_fp32"] == 1.0 and parity["examples"] == meta["choices"]["validation_size"]
    cache = ModelCache(settings, store)
    served = cache.get("9", config)
    assert served.choices.precision == ("fp32" if fragile else "int8")
    assert isinstance(served.choices.predictor.model.classifier, QUANTIZED) is not fragile
    assert cache.status()["9"]["choices_precision"] == served.choices.precision  # what /health shows
