"""Uncertainty over whole entities: each predicted entity counts once, whatever its length (issue 21's candidate
"uncertainty over whole entities"; written here because the measures we reuse score words or whole sequences).

Word-level measures count a three-word entity of unsure type three times and a one-word one once, and they count
every word of an entity the model missed. Here the unit is the entity. For cleaned probabilities p_i of the words of
one text, with a_i = argmax_k p_i[k] read as a BIO tag (`uncertainty.tags`), the predicted spans are the runs a
B-X starts (or an I-X that does not continue an X, as decoding repairs it) and I-X words continue. Then per word:

  a span of label X over words s..e:  v_s = 1 - prod_{i=s..e} p_i[a_i] * (1 - p_{e+1}[I-X])
                                      v_i = 0 for s < i <= e
  (the chance that this exact span, type and boundaries, is wrong, words read as independent; the last factor is
  the chance the span does not go on, 1 for the text's last word)
  a word predicted O:                 v_i = min(1, sum_X p_i[B-X])
  (the chance an entity the model missed starts here; its further words add nothing)

The per-word values are reduced like every other strategy's (`uncertainty.aggregation`): with `sum`, a text's
score is about the number of entities it gets wrong, so a text is worth asking about for its entities, not its
length. Boundary weights do not apply (boundaries are already inside each span's value).
"""

from __future__ import annotations

import numpy as np

from .ragged import Ragged
from .tags import EntityColumns, entity_columns

__all__ = ["span_word_values"]

_TINY = np.finfo(np.float64).tiny
_OUTSIDE, _BEGIN, _INSIDE = 0, 1, 2


def _column_roles(tags: list[str]) -> tuple[np.ndarray, np.ndarray, EntityColumns]:
    """Per tag column: its label row in `entity_columns` (-1 for O) and whether it begins or continues a span."""
    columns = entity_columns(tags)
    label = np.full(len(tags), -1, dtype=np.intp)
    role = np.full(len(tags), _OUTSIDE, dtype=np.intp)
    for row in range(len(columns.labels)):
        for kind, found in ((_BEGIN, columns.begin[row]), (_INSIDE, columns.inside[row])):
            real = found[found < len(tags)]
            label[real] = row
            role[real] = kind
    return label, role, columns


def span_word_values(flat: np.ndarray, ragged: Ragged, tags: list[str]) -> np.ndarray:
    """v_i (see the module docstring) for cleaned probabilities of texts laid end to end, (total_words, K)."""
    total = ragged.total
    if not total or flat.shape[-1] == 0:
        return np.zeros(total, dtype=np.float64)
    label_of, role_of, columns = _column_roles(tags)
    padded = np.concatenate([flat, np.zeros((total, 1))], axis=-1)
    begin = padded[:, columns.begin].sum(axis=-1)  # (total, labels): P(an X span starts here)
    inside = padded[:, columns.inside].sum(axis=-1)  # P(the word continues an X span)

    last = ragged.last_word()
    first = np.zeros(total, dtype=bool)
    first[ragged.starts[ragged.nonempty]] = True
    best = flat.argmax(axis=-1)
    label, role = label_of[best], role_of[best]
    previous = np.concatenate([[-1], label[:-1]])
    continues = (role == _INSIDE) & ~first & (previous == label)
    in_span = role != _OUTSIDE
    starts = in_span & ~continues

    values = np.zeros(total, dtype=np.float64)
    outside = ~in_span
    values[outside] = np.minimum(1.0, begin[outside].sum(axis=-1)) if begin.shape[1] else 0.0
    if not starts.any():
        return values
    span = np.cumsum(starts) - 1  # span number of every word in a span
    log_word = np.log(np.maximum(flat[np.arange(total), best], _TINY))
    log_span = np.bincount(span[in_span], weights=log_word[in_span], minlength=int(starts.sum()))
    next_continues = np.concatenate([continues[1:], [False]])
    ends = np.flatnonzero(in_span & ~next_continues)
    goes_on = np.zeros(len(ends))
    inner = ~last[ends]
    goes_on[inner] = inside[ends[inner] + 1, label[ends[inner]]]
    log_span[span[ends]] += np.log(np.maximum(1.0 - goes_on, _TINY))
    values[starts] = np.clip(1.0 - np.exp(log_span), 0.0, 1.0)
    return values
