"""Maximum Normalised Log-Probability of Shen et al. 2017 ("Deep Active Learning for Named Entity
Recognition"), turned into an uncertainty in [0, 1].

MNLP = (1/n) sum_i log max_k p_i[k]   (the argmax sequence of independent per-word softmaxes)
U    = 1 - exp(MNLP)                  (1 - geometric mean of the chosen tags' probabilities; at most 1 - 1/K)
"""

from __future__ import annotations

import numpy as np

from .batch import prepare_probs
from .ragged import Ragged, segment_sum

__all__ = ["mnlp_ragged", "mnlp_uncertainty"]

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


def mnlp_uncertainty(probs: np.ndarray, *, mask: np.ndarray | None = None) -> float | np.ndarray:
    """Dividing the sequence log-probability by its length removes the plain-sum bias towards long
    texts that Shen et al. measured. Empty text -> 0.0. One text (n, K) gives a float; a padded batch
    with ``mask`` gives (batch,) (its real words are gathered and scored by `mnlp_ragged`)."""
    p, word_mask = prepare_probs(probs, mask)
    rows, rows_mask = (p, word_mask) if p.ndim == 3 else (p[None], word_mask[None])
    result = mnlp_ragged(rows[rows_mask], Ragged(rows_mask.sum(axis=-1)))
    return float(result[0]) if p.ndim == 2 else result
