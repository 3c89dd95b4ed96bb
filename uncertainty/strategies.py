"""The registry of query strategies: each maps a pool of texts' (n_words, K) probabilities to one
uncertainty per text (high = ask a human first), in [0, 1] for the bounded reductions ("sum" ranks only).

boundary_entropy  reduce(entropy, boundary weights)      entropy          reduce(entropy)
least_confidence  reduce(least confidence)                margin           reduce(margin)
mnlp              1 - exp(MNLP) (Shen et al. 2017)         random           U ~ Uniform[0, 1), seeded, per text key
span_confidence   reduce(1 - P(span right), once per predicted entity; P(a missed one starts) on O words)
bald              reduce(BALD over MC dropout samples)     mc_entropy       reduce(entropy of the samples' mean)

The two Bayesian strategies take (T, n_words, K) MC dropout samples per text instead of (n_words, K)
probabilities (`Strategy.needs_samples`); `deterministic` names the strategy that stands in for them where only
one forward pass is run (/predict's task score).

The texts are laid end to end and reduced per text (`uncertainty.ragged`): no padding to the longest text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .aggregation import DEFAULT_REDUCTION, DEFAULT_TOP_K, check_reduction, reduce_ragged
from .bayesian import bald, mc_entropy
from .boundary import BOUNDARY_WEIGHT, flat_weights
from .errors import InvalidProbabilitiesError, UnknownStrategyError
from .measures import least_confidence, margin, token_entropy
from .mnlp import mnlp_ragged
from .probs import as_text_probs, prepare_probs
from .ragged import Ragged
from .spans import span_word_values

__all__ = ["Strategy", "STRATEGIES", "DEFAULT_STRATEGY", "get_strategy", "flatten"]


def flatten(probs_list: Sequence[np.ndarray], n_tags: int) -> tuple[np.ndarray, Ragged]:
    """Validate every text once and lay them end to end: (total_words, K) and the word counts."""
    texts = [as_text_probs(p, n_tags) for p in probs_list]
    ragged = Ragged([t.shape[0] for t in texts])
    flat = np.concatenate(texts, axis=0) if texts else np.zeros((0, n_tags))
    flat = prepare_probs(flat, n_tags=n_tags)
    return flat, ragged


def flatten_samples(samples_list: Sequence[np.ndarray], n_tags: int) -> tuple[np.ndarray, Ragged]:
    """MC samples (T, n_words, K) per text laid end to end along the word axis: (T, total_words, K)."""
    texts = [np.asarray(s, dtype=np.float64) for s in samples_list]
    for s in texts:
        if s.ndim != 3 or (s.shape[1] and s.shape[2] != n_tags):
            raise InvalidProbabilitiesError(f"MC samples of one text must be (T, n_words, {n_tags}), got {s.shape}")
    passes = {s.shape[0] for s in texts if s.shape[1]}
    if len(passes) > 1:
        raise InvalidProbabilitiesError(f"texts have different numbers of MC samples: {sorted(passes)}")
    t = passes.pop() if passes else 1
    ragged = Ragged([s.shape[1] for s in texts])
    parts = [s for s in texts if s.shape[1]]
    flat = np.concatenate(parts, axis=1) if parts else np.zeros((t, 0, n_tags))
    return flat, ragged


@dataclass(frozen=True)
class Strategy:
    """A word measure, optionally boundary-weighted, reduced per text; every strategy takes the same keywords
    so callers can switch by name (unused ones are ignored).

    `keys` (optional, one str or bytes per text, e.g. the text itself) identify the texts for strategies that do not
    read probabilities: `random` then draws per key, so a text scores alike in a pool of one and a pool of many."""

    name: str
    score: Callable[..., np.ndarray]
    needs_samples: bool = False
    deterministic: str = ""  # the one-pass strategy that stands in for a Bayesian one

    def __call__(
        self,
        probs_list: Sequence[np.ndarray],
        tags: list[str],
        *,
        boundary_weight: float = BOUNDARY_WEIGHT,
        reduction: str = DEFAULT_REDUCTION,
        top_k: int = DEFAULT_TOP_K,
        seed: int = 0,
        keys: Sequence[str | bytes] | None = None,
    ) -> np.ndarray:
        check_reduction(reduction, top_k)
        if keys is not None and len(keys) != len(probs_list):
            raise ValueError(f"{len(keys)} keys for {len(probs_list)} texts")
        flat, ragged = (flatten_samples if self.needs_samples else flatten)(probs_list, len(tags))
        return np.asarray(
            self.score(
                flat,
                ragged,
                list(tags),
                boundary_weight=boundary_weight,
                reduction=reduction,
                top_k=top_k,
                seed=seed,
                keys=keys,
            ),
            dtype=np.float64,
        )


def _token_strategy(measure: Callable[[np.ndarray], np.ndarray], weighted: bool):
    """The strategies that differ only in the word measure and whether boundaries are weighted."""

    def score(flat, ragged, tags, *, boundary_weight, reduction, top_k, seed, keys=None):
        weights = None
        if weighted:
            weights = flat_weights(flat, ragged.last_word(), tags, boundary_weight)
        return reduce_ragged(measure(flat), ragged, weights, reduction, top_k)

    return score


def _sampled(measure: Callable[[np.ndarray], np.ndarray]):
    def score(flat, ragged, tags, *, boundary_weight, reduction, top_k, seed, keys=None):
        words = measure(flat) if ragged.total else np.zeros(0)
        return reduce_ragged(words, ragged, None, reduction, top_k)

    return score


def _mnlp(flat, ragged, tags, *, boundary_weight, reduction, top_k, seed, keys=None):
    """MNLP has its own length normalisation, so ``reduction`` and ``boundary_weight`` do not apply."""
    return mnlp_ragged(flat, ragged)


def _span_confidence(flat, ragged, tags, *, boundary_weight, reduction, top_k, seed, keys=None):
    """Entities, not words, are the unit (`uncertainty.spans`); ``boundary_weight`` does not apply."""
    return reduce_ragged(span_word_values(flat, ragged, tags), ragged, None, reduction, top_k)


def keyed_uniform(keys: Sequence[str | bytes], seed: int) -> np.ndarray:
    """One Uniform[0, 1) draw per key from a hash of (seed, key): the same text gets the same draw whichever pool
    it is scored in (a one-task /predict included), different texts differ, and a seed still repeats a run."""
    salt = str(int(seed)).encode() + b"\0"
    draws = np.empty(len(keys))
    for i, key in enumerate(keys):
        raw = key.encode("utf-8", "surrogatepass") if isinstance(key, str) else bytes(key)
        bits = int.from_bytes(hashlib.blake2b(salt + raw, digest_size=8).digest(), "big") >> 11
        draws[i] = bits / float(1 << 53)  # 53 random bits: every double in [0, 1) that a generator could give
    return draws


def _random(flat, ragged, tags, *, boundary_weight, reduction, top_k, seed, keys=None):
    """The baseline every other strategy has to beat; seeded so experiments repeat. With `keys` each text's draw
    depends on its key; without, on its position in the pool. Empty texts still score 0 (nothing to label), like in
    every other strategy."""
    draws = np.random.default_rng(seed).random(len(ragged)) if keys is None else keyed_uniform(keys, seed)
    return np.where(ragged.nonempty, draws, 0.0)


DEFAULT_STRATEGY: str = "boundary_entropy"

STRATEGIES: Mapping[str, Strategy] = MappingProxyType(
    {
        **{
            name: Strategy(name, score)
            for name, score in {
                "boundary_entropy": _token_strategy(token_entropy, weighted=True),
                "entropy": _token_strategy(token_entropy, weighted=False),
                "least_confidence": _token_strategy(least_confidence, weighted=False),
                "margin": _token_strategy(margin, weighted=False),
                "mnlp": _mnlp,
                "random": _random,
                "span_confidence": _span_confidence,
            }.items()
        },
        "bald": Strategy("bald", _sampled(bald), needs_samples=True, deterministic="entropy"),
        "mc_entropy": Strategy("mc_entropy", _sampled(mc_entropy), needs_samples=True, deterministic="entropy"),
    }
)


def get_strategy(name: str = DEFAULT_STRATEGY) -> Strategy:
    """Resolve a configured name once at start-up, so a typo fails loudly with the valid choices."""
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):
        raise UnknownStrategyError(str(name), sorted(STRATEGIES)) from None
