"""Texts to model inputs: words, their sub-tokens, and the windows that cover them.

The same encoding serves prediction (which reads the first sub-token of each owned word) and training
(which puts each word's label on its first sub-token and -100 elsewhere).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from text.windows import Window, plan_windows
from text.words import split_words

IGNORE_INDEX = -100


@dataclass
class WindowInputs:
    """One model input: token ids with special tokens, and where each of its words' first sub-token sits."""

    input_ids: list[int]
    first_positions: list[int]  # one per word in window.start..window.end
    window: Window


@dataclass
class EncodedText:
    """A text's words (code-point offsets) and the windows covering them. Words with no sub-token are dropped."""

    words: list[tuple[int, int]]
    windows: list[WindowInputs] = field(default_factory=list)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _tokenizable(word: str) -> str:
    """The word as the tokenizer can take it: a lone surrogate (invalid in UTF-8) becomes U+FFFD, same length."""
    return _SURROGATE.sub("\ufffd", word) if _SURROGATE.search(word) else word


class TextEncoder:
    """Splits texts into words and words into windows of at most `max_length` tokens (special tokens included)."""

    def __init__(self, tokenizer, max_length: int, overlap_fraction: float = 0.25):
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("a fast tokenizer is required (word ids and offsets)")
        self.tokenizer = tokenizer
        probe = tokenizer([["x"]], is_split_into_words=True, add_special_tokens=True)
        ids, word_ids = probe["input_ids"][0], probe.word_ids(0)
        first = word_ids.index(0)
        last = len(word_ids) - 1 - word_ids[::-1].index(0)
        self.prefix, self.suffix = ids[:first], ids[last + 1 :]
        self.max_content = max(1, max_length - len(self.prefix) - len(self.suffix))
        self.overlap = int(self.max_content * overlap_fraction)

    def encode(self, texts: list[str]) -> list[EncodedText]:
        """Encode a batch of texts in one tokenizer call."""
        all_words = [split_words(t) for t in texts]
        word_strings = [[_tokenizable(t[s:e]) for s, e in ws] for t, ws in zip(texts, all_words)]
        nonempty = [i for i, ws in enumerate(word_strings) if ws]
        out = [EncodedText(words=[]) for _ in texts]
        if not nonempty:
            return out
        enc = self.tokenizer([word_strings[i] for i in nonempty], is_split_into_words=True, add_special_tokens=False)
        for row, i in enumerate(nonempty):
            out[i] = self._windows(all_words[i], enc["input_ids"][row], enc.word_ids(row))
        return out

    def _windows(self, words: list[tuple[int, int]], ids: list[int], word_ids: list[int | None]) -> EncodedText:
        pieces: dict[int, list[int]] = {}
        for token_id, w in zip(ids, word_ids):
            if w is not None:
                pieces.setdefault(w, []).append(token_id)
        kept = sorted(pieces)  # words that produced at least one sub-token
        kept_words = [words[w] for w in kept]
        counts = [len(pieces[w]) for w in kept]
        encoded = EncodedText(words=kept_words)
        for window in plan_windows(counts, self.max_content, self.overlap):
            input_ids = list(self.prefix)
            positions = []
            for k in range(window.start, window.end):
                positions.append(len(input_ids))
                input_ids.extend(pieces[kept[k]])
            input_ids = input_ids[: len(self.prefix) + self.max_content] + list(self.suffix)
            encoded.windows.append(WindowInputs(input_ids, positions, window))
        return encoded
