"""Batched forward passes: per-word tag probabilities, and on request a pooled embedding and MC dropout samples.

Windows from all texts are sorted by length and run in micro-batches with dynamic padding, so a request with
thousands of short tasks pays for little padding, and one long text does not inflate the others' batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from modeling.mc_dropout import LastLayersSampler
from text.encoding import EncodedText, TextEncoder, WindowInputs

DEFAULT_MC_DROPOUT = 0.1


@dataclass
class TextOutput:
    """Model output for one text: words (code-point offsets) and probs (n_words, K) from one deterministic pass;
    embedding (hidden,) and MC dropout samples (T, n_words, K) only when the call asked for them, else None."""

    words: list[tuple[int, int]]
    probs: np.ndarray
    embedding: np.ndarray | None = None
    samples: np.ndarray | None = None


class Predictor:
    """Runs a token-classification model over texts; holds no per-request state, so threads may share it."""

    def __init__(self, model, tokenizer, max_length: int, batch_size: int = 32):
        self.model = model.eval()
        self.encoder = TextEncoder(tokenizer, max_length)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.batch_size = batch_size
        self.num_tags = int(model.config.num_labels)
        self.hidden = int(model.config.hidden_size)
        self.device = next(model.parameters()).device

    def predict(
        self,
        texts: list[str],
        *,
        embeddings: bool = False,
        mc_samples: int = 0,
        mc_layers: int = 2,
        mc_dropout: float | None = DEFAULT_MC_DROPOUT,
        mc_seed: int = 0,
    ) -> list[TextOutput]:
        """Compute only what the caller uses: /predict needs probs alone (no hidden states are kept), selection
        adds the pooled embedding (diversity, cold start) and, for Bayesian strategies, MC dropout samples.

        mc_samples: T stochastic passes over the last `mc_layers` layers and the head, at dropout rate
        `mc_dropout` (None: the checkpoint's own rates, which may be 0 and then give T equal samples), seeded by
        `mc_seed`; see modeling.mc_dropout. `probs` stays the deterministic pass either way.
        """
        return self.predict_encoded(
            self.encoder.encode(texts),
            embeddings=embeddings,
            mc_samples=mc_samples,
            mc_layers=mc_layers,
            mc_dropout=mc_dropout,
            mc_seed=mc_seed,
        )

    def predict_encoded(
        self,
        encoded: list[EncodedText],
        *,
        embeddings: bool = False,
        mc_samples: int = 0,
        mc_layers: int = 2,
        mc_dropout: float | None = DEFAULT_MC_DROPOUT,
        mc_seed: int = 0,
    ) -> list[TextOutput]:
        if isinstance(mc_samples, bool) or not isinstance(mc_samples, int) or mc_samples < 0:
            raise ValueError(f"mc_samples must be a non-negative integer, got {mc_samples!r}")
        sampler = LastLayersSampler(self.model, mc_layers, mc_dropout, mc_seed) if mc_samples else None
        outputs = [TextOutput(e.words, np.zeros((len(e.words), self.num_tags), np.float32)) for e in encoded]
        if sampler is not None:
            for out in outputs:
                out.samples = np.zeros((mc_samples, len(out.words), self.num_tags), np.float32)
        jobs = [(t, w) for t, e in enumerate(encoded) for w in range(len(e.windows))]
        jobs.sort(key=lambda j: len(encoded[j[0]].windows[j[1]].input_ids), reverse=True)
        pooled = _Pooling(len(encoded), self.hidden, self.device) if embeddings else None
        hidden_states = embeddings or sampler is not None  # /predict keeps none
        with torch.inference_mode():
            for b in range(0, len(jobs), self.batch_size):
                batch = jobs[b : b + self.batch_size]
                windows = [encoded[t].windows[w] for t, w in batch]
                ids, mask = self._pad(windows)
                out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=hidden_states)
                probs = torch.softmax(out.logits.float(), dim=-1).cpu().numpy()
                drawn = None
                if sampler is not None:
                    drawn = sampler.sample(out.hidden_states[sampler.first], mask, mc_samples).cpu().numpy()
                for r, ((t, _), w) in enumerate(zip(batch, windows)):
                    win = w.window
                    own = w.first_positions[win.own_start - win.start : win.own_end - win.start]
                    outputs[t].probs[win.own_start : win.own_end] = probs[r, own]
                    if drawn is not None:
                        outputs[t].samples[:, win.own_start : win.own_end] = drawn[:, r, own]
                if pooled is not None:
                    lo = len(self.encoder.prefix)
                    hi = [len(w.input_ids) - len(self.encoder.suffix) for w in windows]
                    pooled.add(out.hidden_states[-1], [t for t, _ in batch], lo, hi)
        if pooled is not None:
            for out, embedding in zip(outputs, pooled.means()):
                out.embedding = embedding
        return outputs

    def _pad(self, windows: list[WindowInputs]) -> tuple[torch.Tensor, torch.Tensor]:
        return pad_windows(windows, self.pad_id, self.device)


class _Pooling:
    """Mean of the last hidden layer over each text's content tokens (no special tokens), summed on the device
    across the text's windows, so only one (hidden,) vector per text is copied back."""

    def __init__(self, n_texts: int, hidden: int, device: torch.device):
        self.sums = torch.zeros((n_texts, hidden), dtype=torch.float32, device=device)
        self.counts = torch.zeros(n_texts, dtype=torch.float32, device=device)

    def add(self, last_hidden: torch.Tensor, texts: list[int], lo: int, hi: list[int]) -> None:
        device = last_hidden.device
        positions = torch.arange(last_hidden.shape[1], device=device)[None, :]
        content = (positions >= lo) & (positions < torch.tensor(hi, device=device)[:, None])
        weights = content.to(torch.float32)
        sums = torch.bmm(weights[:, None, :], last_hidden.float())[:, 0]
        index = torch.tensor(texts, device=device)
        self.sums.index_add_(0, index, sums)
        self.counts.index_add_(0, index, weights.sum(dim=1))

    def means(self) -> np.ndarray:
        """(n_texts, hidden) float32; a text with no content tokens (no words) gets zeros."""
        return (self.sums / self.counts.clamp(min=1.0)[:, None]).cpu().numpy()


def pad_windows(windows, pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Input ids and attention mask of one micro-batch, padded to its longest window, on `device` (token
    classification and sequence classification batch their windows alike)."""
    width = max(len(w.input_ids) for w in windows)
    ids = torch.full((len(windows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(windows), width), dtype=torch.long)
    for r, w in enumerate(windows):
        ids[r, : len(w.input_ids)] = torch.tensor(w.input_ids)
        mask[r, : len(w.input_ids)] = 1
    return ids.to(device), mask.to(device)
