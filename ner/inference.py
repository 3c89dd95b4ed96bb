"""Batched forward passes: per-word tag probabilities and a pooled embedding for every text.

Windows from all texts are sorted by length and run in micro-batches with dynamic padding, so a request with
thousands of short tasks pays for little padding, and one long text does not inflate the others' batches.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ner.encoding import EncodedText, TextEncoder


@dataclass
class TextOutput:
    """Model output for one text: words (code-point offsets), probs (n_words, K), embedding (hidden,)."""

    words: list[tuple[int, int]]
    probs: np.ndarray
    embedding: np.ndarray


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

    def predict(self, texts: list[str]) -> list[TextOutput]:
        encoded = self.encoder.encode(texts)
        return self.predict_encoded(encoded)

    def predict_encoded(self, encoded: list[EncodedText]) -> list[TextOutput]:
        outputs = [
            TextOutput(e.words, np.zeros((len(e.words), self.num_tags), np.float32), np.zeros(self.hidden, np.float32))
            for e in encoded
        ]
        jobs = [(t, w) for t, e in enumerate(encoded) for w in range(len(e.windows))]
        jobs.sort(key=lambda j: len(encoded[j[0]].windows[j[1]].input_ids), reverse=True)
        pooled_sum = np.zeros((len(encoded), self.hidden), np.float64)
        pooled_count = np.zeros(len(encoded), np.float64)
        with torch.inference_mode():
            for b in range(0, len(jobs), self.batch_size):
                batch = jobs[b : b + self.batch_size]
                windows = [encoded[t].windows[w] for t, w in batch]
                width = max(len(w.input_ids) for w in windows)
                ids = torch.full((len(windows), width), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(windows), width), dtype=torch.long)
                for r, w in enumerate(windows):
                    ids[r, : len(w.input_ids)] = torch.tensor(w.input_ids)
                    mask[r, : len(w.input_ids)] = 1
                out = self.model(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device), output_hidden_states=True
                )
                probs = torch.softmax(out.logits.float(), dim=-1).cpu().numpy()
                hidden = out.hidden_states[-1].float().cpu().numpy()
                for r, ((t, _), w) in enumerate(zip(batch, windows)):
                    win = w.window
                    for k in range(win.own_start, win.own_end):
                        outputs[t].probs[k] = probs[r, w.first_positions[k - win.start]]
                    content = hidden[r, len(self.encoder.prefix) : len(w.input_ids) - len(self.encoder.suffix)]
                    pooled_sum[t] += content.sum(axis=0)
                    pooled_count[t] += len(content)
        for t, out in enumerate(outputs):
            if pooled_count[t]:
                out.embedding = (pooled_sum[t] / pooled_count[t]).astype(np.float32)
        return outputs
