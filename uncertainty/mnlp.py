"""Maximum Normalised Log-Probability of Shen et al. 2017 ("Deep Active Learning for Named Entity
Recognition"), turned into an uncertainty in [0, 1].

MNLP = (1/n) sum_i log max_k p_i[k]   (the argmax sequence of independent per-word softmaxes)
U    = 1 - exp(MNLP)                  (1 - geometric mean of the chosen tags' probabilities; at most 1 - 1/K)
"""

from __future__ import annotations

import numpy as np

from .batch import prepare_probs, word_sum

__all__ = ["mnlp_uncertainty"]

_TINY = np.finfo(np.float64).tiny


def mnlp_uncertainty(probs: np.ndarray, *, mask: np.ndarray | None = None) -> float | np.ndarray:
    """Dividing the sequence log-probability by its length removes the plain-sum bias towards long
    texts that Shen et al. measured. Empty text -> 0.0. One text (n, K) gives a float; a padded batch
    with ``mask`` gives (batch,)."""
    p, word_mask = prepare_probs(probs, mask)
    if p.shape[-1] == 0 or p.shape[-2] == 0:
        result = np.zeros(p.shape[:-2], dtype=np.float64)
    else:
        log_best = np.where(word_mask, np.log(np.maximum(p.max(axis=-1), _TINY)), 0.0)
        n_words = word_mask.sum(axis=-1)
        mean_log = word_sum(log_best) / np.maximum(n_words, 1)
        result = np.where(n_words > 0, np.clip(1.0 - np.exp(mean_log), 0.0, 1.0), 0.0)
    if p.ndim == 2:
        return float(result)
    return np.asarray(result, dtype=np.float64)
