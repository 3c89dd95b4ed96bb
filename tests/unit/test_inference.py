"""The Predictor computes only what a call asks for: probs always, the pooled embedding and MC dropout samples
on request, with the samples drawn over the last layers and the head of the one shared model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeling.base_model import load_tokenizer, resolve_model_path
from modeling.inference import Predictor
from modeling.mc_dropout import McDropoutUnsupportedError

TEXTS = [
    "Angela Merkel met Tim Cook in Berlin on Monday.",
    "Sony",
    "",
    "The talks in Geneva , said a spokesman for the UN , went on until late at night and resumed the "
    "following morning with delegations from Paris , London and Tokyo .",
]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: several intra-op threads only contend with each other (and with other jobs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(resolve_model_path(None))


def tiny_model(tokenizer, model_type: str = "bert", dropout: float = 0.1, layers: int = 3, seed: int = 0):
    """A randomly initialised token classifier of `model_type` over the default tokenizer's vocabulary."""
    from transformers import AutoConfig, AutoModelForTokenClassification

    config = AutoConfig.for_model(
        model_type, vocab_size=tokenizer.vocab_size, pad_token_id=0, num_labels=5, max_position_embeddings=512
    )
    sizes = (
        {"dim": 32, "n_layers": layers, "n_heads": 2, "hidden_dim": 64, "dropout": dropout}
        if model_type == "distilbert"
        else {
            "hidden_size": 32,
            "num_hidden_layers": layers,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "hidden_dropout_prob": dropout,
            "attention_probs_dropout_prob": dropout,
        }
    )
    for key, value in sizes.items():
        setattr(config, key, value)
    if model_type == "electra":
        config.embedding_size = 32
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForTokenClassification.from_config(config)
    with torch.no_grad():  # a sharper head, so dropout visibly moves the probabilities
        model.classifier.weight.mul_(20)
    return model.eval()


@pytest.fixture(scope="module")
def predictor(tokenizer):
    return Predictor(tiny_model(tokenizer), tokenizer, max_length=16, batch_size=3)  # windows and batches


def forward_kwargs(model) -> list[dict]:
    """Record the keyword arguments of every call to the model."""
    seen: list[dict] = []
    model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(dict(kwargs)), with_kwargs=True)
    return seen


def test_plain_predict_keeps_no_hidden_states_and_returns_no_embedding(tokenizer):
    model = tiny_model(tokenizer)
    seen = forward_kwargs(model)
    outputs = Predictor(model, tokenizer, max_length=16).predict(TEXTS)
    assert seen and all(kwargs["output_hidden_states"] is False for kwargs in seen)
    assert all(o.embedding is None and o.samples is None for o in outputs)
    assert [o.probs.shape for o in outputs] == [(len(o.words), 5) for o in outputs]


def test_probs_do_not_depend_on_what_else_was_asked(predictor):
    plain = predictor.predict(TEXTS)
    rich = predictor.predict(TEXTS, embeddings=True, mc_samples=3)
    for a, b in zip(plain, rich):
        assert a.words == b.words and np.array_equal(a.probs, b.probs)


def test_embedding_is_the_mean_last_hidden_state_over_every_windows_content_tokens(predictor):
    outputs = predictor.predict(TEXTS, embeddings=True)
    prefix, suffix = len(predictor.encoder.prefix), len(predictor.encoder.suffix)
    for text, out, encoded in zip(TEXTS, outputs, predictor.encoder.encode(TEXTS)):
        assert out.embedding.shape == (32,) and out.embedding.dtype == np.float32
        rows = []
        for window in encoded.windows:  # one window at a time, no padding: the reference the batches must match
            with torch.no_grad():
                hidden = predictor.model(
                    input_ids=torch.tensor([window.input_ids]), output_hidden_states=True
                ).hidden_states[-1][0]
            rows.append(hidden[prefix : len(window.input_ids) - suffix].double().numpy())
        if not rows:
            assert not text and np.array_equal(out.embedding, np.zeros(32, np.float32))
            continue
        np.testing.assert_allclose(out.embedding, np.concatenate(rows).mean(axis=0), atol=1e-5)
    assert len(predictor.encoder.encode(TEXTS)[3].windows) > 1  # the long text really was split


def test_mc_samples_have_one_row_per_word_and_tag(predictor):
    outputs = predictor.predict(TEXTS, mc_samples=4)
    for out in outputs:
        assert out.samples.shape == (4, len(out.words), 5) and out.samples.dtype == np.float32
        np.testing.assert_allclose(out.samples.sum(axis=-1), 1.0, atol=1e-5)


def test_mc_samples_repeat_for_a_seed_differ_between_draws_and_between_seeds(predictor):
    first = predictor.predict(TEXTS, mc_samples=5, mc_seed=1)
    again = predictor.predict(TEXTS, mc_samples=5, mc_seed=1)
    other = predictor.predict(TEXTS, mc_samples=5, mc_seed=2)
    for a, b, c in zip(first, again, other):
        assert np.array_equal(a.samples, b.samples)
        if len(a.words):
            assert not np.array_equal(a.samples, c.samples)
            assert all(not np.allclose(a.samples[0], a.samples[t]) for t in range(1, 5))


@pytest.mark.parametrize("model_type", ["bert", "roberta", "xlm-roberta", "electra"])
@pytest.mark.parametrize("layers", [1, 2, 3])
def test_at_zero_dropout_the_sampled_top_reproduces_the_deterministic_pass(tokenizer, model_type, layers):
    """The split (hidden states of layer L - layers, the extended attention mask, the head) is exact."""
    predictor = Predictor(tiny_model(tokenizer, model_type), tokenizer, max_length=16, batch_size=3)
    for out in predictor.predict(TEXTS, mc_samples=2, mc_layers=layers, mc_dropout=0.0):
        np.testing.assert_allclose(out.samples, np.broadcast_to(out.probs, out.samples.shape), atol=1e-5)


def test_a_checkpoint_without_dropout_gives_equal_samples_unless_a_rate_is_given(tokenizer):
    predictor = Predictor(tiny_model(tokenizer, dropout=0.0), tokenizer, max_length=16)
    own_rate = predictor.predict(TEXTS[:1], mc_samples=3, mc_dropout=None)[0]
    np.testing.assert_allclose(own_rate.samples, np.broadcast_to(own_rate.probs, own_rate.samples.shape), atol=1e-5)
    override = predictor.predict(TEXTS[:1], mc_samples=3, mc_dropout=0.1)[0]
    assert not np.allclose(override.samples[0], override.samples[1])


def test_sampling_leaves_the_shared_model_deterministic_and_in_eval_mode(predictor):
    before = predictor.predict(TEXTS)
    predictor.predict(TEXTS, mc_samples=3)
    assert not any(m.training for m in predictor.model.modules())
    assert all(isinstance(m, torch.nn.Dropout) for name, m in predictor.model.named_modules() if "dropout" in name)
    for a, b in zip(before, predictor.predict(TEXTS)):
        assert np.array_equal(a.probs, b.probs)


def test_sampling_does_not_touch_torchs_global_rng(predictor):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    predictor.predict(TEXTS, mc_samples=2)
    assert torch.equal(torch.rand(3), expected)


def test_an_architecture_that_cannot_be_split_is_a_clear_error_and_still_predicts(tokenizer):
    predictor = Predictor(tiny_model(tokenizer, "distilbert"), tokenizer, max_length=16)
    with pytest.raises(McDropoutUnsupportedError, match="DistilBertForTokenClassification.*distilbert"):
        predictor.predict(TEXTS, mc_samples=2)
    assert predictor.predict(TEXTS, embeddings=True)[0].embedding.shape == (32,)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mc_samples": -1},
        {"mc_samples": 2, "mc_layers": 0},
        {"mc_samples": 2, "mc_layers": 4},
        {"mc_samples": 2, "mc_dropout": 1.0},
    ],
)
def test_out_of_range_mc_parameters_are_errors(predictor, kwargs):
    with pytest.raises(ValueError):
        predictor.predict(TEXTS, **kwargs)


def test_on_the_default_encoder_the_sample_mean_stays_close_to_the_deterministic_probs():
    from bench.common import LABELS
    from modeling.base_model import load_base_model

    loaded = load_base_model(None, list(LABELS))
    with torch.no_grad():  # the fresh head is near uniform; a sharper one makes the comparison mean something
        loaded.model.classifier.weight.mul_(10)
    predictor = Predictor(loaded.model, loaded.tokenizer, max_length=128)
    outputs = predictor.predict(TEXTS, mc_samples=16, mc_layers=2)
    probs = np.concatenate([o.probs for o in outputs])  # 43 words
    samples = np.concatenate([o.samples for o in outputs], axis=1)
    mean = samples.mean(axis=0)
    # Measured over seeds 0-3: mean |difference| 0.012-0.014, argmax agreement 0.91-0.98, sample std 0.044.
    assert np.abs(mean - probs).mean() < 0.03
    assert (mean.argmax(axis=1) == probs.argmax(axis=1)).mean() >= 0.85
    assert samples.std(axis=0).mean() > 0.01  # dropout 0.1 over two layers and the head does move the samples
