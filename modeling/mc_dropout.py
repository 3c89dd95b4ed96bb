"""MC dropout over the last transformer layers and the head only: the encoder runs once, the top is sampled T times.

Monte Carlo dropout (Gal & Ghahramani 2016) reads T stochastic forward passes as samples from an approximate
posterior, the input of BALD and predictive entropy (uncertainty.bayesian). Keeping the lower layers deterministic
brings the cost down to one full pass plus T passes over the sampled layers.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

# Model types whose token classifier is `base_model.encoder.layer[...] -> dropout -> classifier`, with no work
# between the last layer and the head, and whose layers all take (hidden_states, extended attention mask).
SPLITTABLE_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "camembert", "electra")
SPLITTABLE_ATTENTION = (None, "eager", "sdpa")


class McDropoutUnsupportedError(ValueError):
    """The model cannot be split into an encoder run once and a sampled top (see SPLITTABLE_MODEL_TYPES)."""


class SeededDropout(nn.Module):
    """Inverted dropout drawn from a private generator, active whatever the module's train/eval mode.

    A private generator makes the samples repeat for a seed without touching torch's global RNG, which other
    threads (a training job, concurrent requests) use.
    """

    def __init__(self, p: float, generator: torch.Generator):
        super().__init__()
        self.p = float(p)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p <= 0.0:
            return x
        keep = torch.rand(x.shape, generator=self.generator, device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)


def _seeded_dropouts(module: nn.Module, rate: float | None, generator: torch.Generator) -> nn.Module:
    """Replace every nn.Dropout under `module` (in place) by a SeededDropout at `rate` (None: its own rate)."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Dropout):
            setattr(module, name, SeededDropout(child.p if rate is None else rate, generator))
        else:
            _seeded_dropouts(child, rate, generator)
    return module


def _linear(module) -> bool:
    """A Linear layer, also as SERVING_PRECISION=int8 leaves it (a dynamically quantized Linear)."""
    return isinstance(module, nn.Module) and hasattr(module, "out_features") and hasattr(module, "in_features")


def split_layers(model) -> tuple[nn.ModuleList, nn.Dropout, nn.Linear]:
    """The encoder's layer list and the head (dropout, classifier) of a splittable token classifier."""
    config = model.config
    model_type = getattr(config, "model_type", None)
    layers = getattr(getattr(getattr(model, "base_model", None), "encoder", None), "layer", None)
    dropout, classifier = getattr(model, "dropout", None), getattr(model, "classifier", None)
    attention = getattr(config, "_attn_implementation", None)
    if (
        model_type not in SPLITTABLE_MODEL_TYPES
        or not isinstance(layers, nn.ModuleList)
        or not len(layers)
        or not isinstance(dropout, nn.Dropout)
        or not _linear(classifier)
    ):
        raise McDropoutUnsupportedError(
            f"MC dropout over the last layers cannot split a {type(model).__name__} (model type {model_type!r}): "
            f"it needs a token classifier of type {', '.join(SPLITTABLE_MODEL_TYPES)} "
            f"(base_model.encoder.layer, then dropout, then classifier); use mc_samples=0"
        )
    if attention not in SPLITTABLE_ATTENTION:
        raise McDropoutUnsupportedError(
            f"MC dropout over the last layers needs eager or sdpa attention, the model uses {attention!r}"
        )
    return layers, dropout, classifier


class LastLayersSampler:
    """Samples the top `layers` transformer layers and the head with dropout, on hidden states computed once.

    Built per call from a copy of those layers, so the shared model is never switched to train mode and
    concurrent deterministic predictions stay deterministic. The copies stay in eval mode: the sampled dropouts
    are the module ones (after each attention and feed-forward sub-layer, and before the classifier);
    attention-probability dropout, which transformers applies inside the attention kernel in train mode with
    the global RNG, is not sampled.

    `rate` overrides every sampled dropout's probability (None keeps the checkpoint's, which may be 0: then
    every sample equals the deterministic pass). Samples repeat for the same seed, texts and batch size.
    """

    def __init__(self, model, layers: int, rate: float | None = 0.1, seed: int = 0):
        encoder_layers, dropout, classifier = split_layers(model)
        total = len(encoder_layers)
        if isinstance(layers, bool) or not isinstance(layers, int) or not 1 <= layers <= total:
            raise ValueError(f"mc_layers must be an integer in [1, {total}] for this model, got {layers!r}")
        if rate is not None and not 0.0 <= rate < 1.0:
            raise ValueError(f"mc_dropout must be in [0, 1) or None, got {rate!r}")
        device = next(model.parameters()).device
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(seed))
        self.first = total - layers  # index into hidden_states: the input of the first sampled layer
        self.layers = _seeded_dropouts(
            copy.deepcopy(nn.ModuleList(encoder_layers[self.first :])).eval(), rate, self.generator
        )
        self.dropout = SeededDropout(dropout.p if rate is None else rate, self.generator)
        self.classifier = classifier

    def sample(self, hidden: torch.Tensor, attention_mask: torch.Tensor, n: int) -> torch.Tensor:
        """(n, batch, seq, K) float32 tag probabilities from `hidden`, the input of the first sampled layer."""
        additive = (1 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        out = torch.empty(
            (n, *hidden.shape[:2], self.classifier.out_features), dtype=torch.float32, device=hidden.device
        )
        for t in range(n):
            h = hidden
            for layer in self.layers:
                h = layer(h, additive)
                h = h[0] if isinstance(h, tuple) else h
            out[t] = torch.softmax(self.classifier(self.dropout(h)).float(), dim=-1)
        return out
