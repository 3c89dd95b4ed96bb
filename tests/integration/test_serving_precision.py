"""SERVING_PRECISION end to end: the training job's parity gate, its figures in meta.json, and the precision the
web process then serves at (a version that fails the gate, or has no figures, is served fp32)."""

from __future__ import annotations

import pytest
import torch

from bench.corpus import LABEL_CONFIG
from modeling.base_model import load_saved_model
from modeling.cache import ModelCache
from modeling.device import pick_device
from modeling.inference import Predictor
from modeling.precision import fast_bf16, resolve_precision, to_precision
from settings import Settings
from store.local import LocalStore
from tests.support.rule_model import NER_TAGS, RULES, build_rule_model
from text.label_config import parse_ner_config
from text.spans.decoding import decode_probs
from text.spans.span import Span
from training.annotations import Example
from training.pipeline import run_training

QUANTIZED = torch.ao.nn.quantized.dynamic.Linear
SENTENCES = [
    ("Angela Merkel visited Berlin.", [(0, 13, "PER"), (22, 28, "LOC")]),
    ("Tim Cook met Sony in Tokyo.", [(0, 8, "PER"), (13, 17, "ORG"), (21, 26, "LOC")]),
    ("Alice flew from Paris to London.", [(0, 5, "PER"), (16, 21, "LOC"), (25, 31, "LOC")]),
    ("Siemens opened an office in Munich.", [(0, 7, "ORG"), (28, 34, "LOC")]),
    ("Bob works for Apple in Geneva.", [(0, 3, "PER"), (14, 19, "ORG"), (23, 29, "LOC")]),
]
TEXTS = [text for text, _ in SENTENCES]
GOLD = [spans for _, spans in SENTENCES]
EXAMPLES = [
    Example(f"{i}-{j}", text, tuple(Span(*s) for s in spans))
    for i in range(4)
    for j, (text, spans) in enumerate(SENTENCES)
]


@pytest.fixture(scope="module")
def fragile_model_dir(tmp_path_factory):
    return build_rule_model(tmp_path_factory.mktemp("fragile-model"), NER_TAGS, RULES, int8_fragile=True)


def served_spans(model, tokenizer, texts):
    outputs = Predictor(model, tokenizer, 64).predict(texts)
    return [[(s.start, s.end, s.label) for s in decode_probs(o.words, o.probs, NER_TAGS, None)] for o in outputs]


def test_int8_and_bf16_serve_the_same_spans_as_fp32_and_really_convert_the_model(rule_model_dir):
    loaded = load_saved_model(str(rule_model_dir), {})
    assert served_spans(loaded.model, loaded.tokenizer, TEXTS) == GOLD
    int8 = to_precision(loaded.model, "int8", inplace=False)
    assert isinstance(int8.classifier, QUANTIZED) and not isinstance(loaded.model.classifier, QUANTIZED)
    assert served_spans(int8, loaded.tokenizer, TEXTS) == GOLD
    bf16 = to_precision(loaded.model, "bf16", inplace=False)
    assert bf16.classifier.weight.dtype == torch.bfloat16 and loaded.model.classifier.weight.dtype == torch.float32
    assert served_spans(bf16, loaded.tokenizer, TEXTS) == GOLD


def test_the_fragile_model_is_exact_at_fp32_and_blind_at_int8(fragile_model_dir):
    loaded = load_saved_model(str(fragile_model_dir), {})
    assert served_spans(loaded.model, loaded.tokenizer, TEXTS) == GOLD
    assert served_spans(to_precision(loaded.model, "int8", inplace=False), loaded.tokenizer, TEXTS) != GOLD


def train(tmp_path, base_dir, **env):
    """One gentle job (learning rate 1e-8: the weights stay the rule model's) from `base_dir`, deployed."""
    settings = Settings.from_env(
        {
            "MODEL_DIR": str(tmp_path / "models"),
            "BASELINE_MODEL_NAME": str(base_dir),
            "MAX_SEQUENCE_LENGTH": "64",
            "LEARNING_RATE": "1e-8",
            "NUM_TRAIN_EPOCHS": "1",
            "MIN_TRAIN_STEPS": "0",
            "FINAL_FIT": "train",
            "DEPLOY_POLICY": "always",
            **env,
        }
    )
    store = LocalStore(settings.model_dir)
    config = parse_ner_config(LABEL_CONFIG)
    outcome = run_training("5", EXAMPLES, config, settings, store)
    assert outcome.deployed
    return settings, store, config, store.get("5", outcome.version).meta


def test_a_version_within_the_bounds_is_served_int8_with_its_figures_in_meta(tmp_path, rule_model_dir):
    settings, store, config, meta = train(tmp_path, rule_model_dir, SERVING_PRECISION="int8")
    parity = meta["parity"]
    assert parity["precision"] == "int8" and parity["passed"], parity
    assert parity["examples"] >= 1 and parity["span_agreement"] == 1.0 and parity["f1_drop"] == 0.0
    assert parity["entity_f1_fp32"] == parity["entity_f1"] == 1.0
    assert (parity["max_f1_drop"], parity["min_agreement"]) == (0.005, 0.98)
    served = ModelCache(settings, store).get("5", config)
    assert served.precision == "int8" and isinstance(served.predictor.model.classifier, QUANTIZED)
    out = served.predictor.predict(["Angela Merkel visited Berlin."])[0]
    assert [(s.start, s.end, s.label) for s in decode_probs(out.words, out.probs, served.tags, served.label_map)] == [
        (0, 13, "PER"),
        (22, 28, "LOC"),
    ]


def test_a_version_that_fails_the_gate_is_served_fp32_and_says_why(tmp_path, fragile_model_dir, caplog):
    with caplog.at_level("WARNING"):
        settings, store, config, meta = train(tmp_path, fragile_model_dir, SERVING_PRECISION="int8")
    parity = meta["parity"]
    assert parity["precision"] == "int8" and not parity["passed"], parity
    assert parity["entity_f1_fp32"] == 1.0 and parity["f1_drop"] > 0.005 and parity["span_agreement"] < 0.98
    assert any("parity gate failed, served fp32" in r.getMessage() for r in caplog.records)
    with caplog.at_level("WARNING"):
        served = ModelCache(settings, store).get("5", config)
    assert served.precision == "fp32" and not isinstance(served.predictor.model.classifier, QUANTIZED)
    assert any("served fp32" in r.getMessage() and "entity F1" in r.getMessage() for r in caplog.records)
    # Forcing skips the gate: the same version at int8, blind as the gate saw it.
    forced = ModelCache(settings.replace(serving_precision_force=True), store).get("5", config)
    assert forced.precision == "int8"


def test_fp32_serving_records_no_figures(tmp_path, rule_model_dir):
    settings, store, config, meta = train(tmp_path, rule_model_dir, SERVING_PRECISION="fp32")
    assert "parity" not in meta
    assert ModelCache(settings, store).get("5", config).precision == "fp32"


def test_a_base_model_has_no_figures_so_it_is_served_fp32_unless_forced(make_client, rule_model_dir):
    for force, expected in (("false", "fp32"), ("true", "int8")):
        client = make_client(
            BASELINE_MODEL_NAME=rule_model_dir, SERVING_PRECISION="int8", SERVING_PRECISION_FORCE=force
        )
        body = {
            "project": "3.1",
            "label_config": LABEL_CONFIG,
            "tasks": [{"id": 1, "data": {"text": "Angela Merkel visited Berlin."}}],
        }
        result = client.post("/predict", json=body).get_json()["results"][0]["result"]
        assert [(r["value"]["start"], r["value"]["end"]) for r in result] == [(0, 13), (22, 28)]
        assert client.get("/health").get_json()["models"]["3"]["precision"] == expected


def test_the_default_auto_serves_bf16_where_the_cpu_has_it_natively_and_fp32_elsewhere(tmp_path, rule_model_dir):
    """The shipped default (SERVING_PRECISION unset = auto): this machine decides; on one without native bf16 the
    job records no figures and the version is served fp32."""
    expected = "bf16" if fast_bf16("cpu") else "fp32"
    settings, store, config, meta = train(tmp_path, rule_model_dir)
    assert settings.serving_precision == "auto"
    if expected == "bf16":
        assert meta["parity"]["precision"] == "bf16" and meta["parity"]["passed"], meta["parity"]
    else:
        assert "parity" not in meta
    served = ModelCache(settings, store).get("5", config)
    assert served.precision == expected
    assert served.predictor.device.type == pick_device().type  # served where training runs: a GPU when present
    assert next(served.predictor.model.parameters()).dtype == (torch.bfloat16 if expected == "bf16" else torch.float32)


def test_auto_resolves_to_bf16_only_on_a_device_that_computes_it_natively():
    assert resolve_precision("auto", "cpu") == ("bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32")
    assert resolve_precision("auto", "meta") == "fp32"  # no native bf16 known: never guess
    for setting in ("fp32", "bf16", "int8"):
        assert resolve_precision(setting, "meta") == setting  # an explicit choice is kept (the gate still checks it)


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_selection_embeddings_and_mc_dropout_run_at_reduced_precision(rule_model_dir, precision):
    loaded = load_saved_model(str(rule_model_dir), {})
    model = to_precision(loaded.model, precision)
    (out,) = Predictor(model, loaded.tokenizer, 64).predict(
        ["Angela Merkel visited Berlin."], embeddings=True, mc_samples=2, mc_layers=1
    )
    assert out.embedding.shape == (model.config.hidden_size,) and out.samples.shape == (
        2,
        len(out.words),
        len(NER_TAGS),
    )
    assert out.samples.dtype == out.probs.dtype == "float32"
