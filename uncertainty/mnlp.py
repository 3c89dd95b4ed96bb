"""Maximum Normalised Log-Probability of Shen et al. 2017 ("Deep Active Learning for Named Entity
Recognition"), turned into an uncertainty in [0, 1].

MNLP = (1/n) sum_i log max_k p_i[k]   (the argmax sequence of independent per-word softmaxes)
U    = 1 - exp(MNLP)                  (1 - geometric mean of the chosen tags' probabilities; at most 1 - 1/K)

Dividing the sequence log-probability by its length removes the plain-sum bias towards long texts that Shen et al.
measured. An empty text scores 0.
"""

from __future__ import annotations

import numpy as np

from .ragged import Ragged, segment_sum

__all__ = ["mnlp_ragged"]

_TINY = np.finfo(np.float64).tiny


def mnlp_ragged(flat: np.ndarray, ragged: Ragged) -> np.ndarray:
    """U per text for cleaned probabilities laid end to end (total_words, K) (see `uncertainty.ragged`)."""
    if flat.shape[-1] == 0 or not ragged.total:
        return np.zeros(len(ragged), dtype=np.float64)
    log_best = np.log(np.maximum(flat.max(axis=-1), _TINY))
    mean_log = np.divide(
        segment_sum(log_best, ragged), ragged.lengths, out=np.zeros(len(ragged)), where=ragged.nonempty
    )
    return np.where(ragged.nonempty, np.clip(1.0 - np.exp(mean_log), 0.0, 1.0), 0.0)
