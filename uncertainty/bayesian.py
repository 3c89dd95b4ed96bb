"""Per-word Bayesian uncertainty from T stochastic samples of one text's tag distributions (e.g. MC dropout).

Each function takes one text's (T, n_words, K) samples and returns (n_words,) in [0, 1], divided by log K:

mc_entropy        u = H(mean_t p_t)                      predictive entropy ("Max Entropy", Gal et al. 2017)
bald              u = H(mean_t p_t) - mean_t H(p_t)      mutual information between the tag and the weights;
                                                          mean_t H(p_t), the expected entropy, is the doubt every
                                                          plausible model shares (noise in the data) that more
                                                          labels will not remove
                                                          (Houlsby et al. 2011; Gal et al. 2017; used for NER by
                                                          Siddhant & Lipton 2018)
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidProbabilitiesError
from .measures import token_entropy
from .probs import prepare_probs

__all__ = ["bald", "mc_entropy"]


def _samples(samples: np.ndarray) -> np.ndarray | None:
    """One text's samples as float64 (T, n_words, K), a non-finite row replaced by the uniform distribution
    (with a warning) before averaging, so one broken draw does not hide the others; None for an empty text,
    which may come as any size-0 array."""
    array = np.asarray(samples, dtype=np.float64)
    if array.ndim != 3:
        if array.size == 0:
            return None
        raise InvalidProbabilitiesError(f"samples of one text must be (T, n_words, K), got shape {array.shape}")
    if array.shape[0] == 0:
        raise InvalidProbabilitiesError("samples need at least one draw (T >= 1), got T = 0")
    if array.shape[1] == 0:
        return None
    return prepare_probs(array.reshape(-1, array.shape[-1])).reshape(array.shape)


def mc_entropy(samples: np.ndarray) -> np.ndarray:
    """Entropy of the averaged prediction: high when the samples agree on doubt or disagree with each other,
    so it ranks like plain entropy but with the model's weight uncertainty folded in (Gal et al. 2017)."""
    s = _samples(samples)
    return np.zeros(0) if s is None else token_entropy(s.mean(axis=0))


def bald(samples: np.ndarray) -> np.ndarray:
    """Mutual information between a word's tag and the model weights (Houlsby et al. 2011, with MC dropout
    samples as in Gal et al. 2017): high only where the samples disagree, i.e. where a label would tell the
    model something, not where the word is ambiguous for every model. Identical samples give 0; two
    opposite one-hot samples over K = 2 give 1."""
    s = _samples(samples)
    if s is None:
        return np.zeros(0)
    return np.clip(token_entropy(s.mean(axis=0)) - token_entropy(s).mean(axis=0), 0.0, 1.0)
