"""Word segmentation shared by prediction, training and the benchmark.

A *word* is the unit that carries one BIO tag. Words never contain whitespace, so a span built from whole
words never starts or ends with whitespace. Scripts written without spaces (Han, kana, Thai) get one word per
character so entities inside them can still be delimited. Offsets are Python code points.
"""

from __future__ import annotations

import regex

# One character of a script written without spaces; a run of letters/digits/marks; or any other single
# non-space character (punctuation, symbols, emoji).
_NO_SPACE_SCRIPT = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]"
_WORD = regex.compile(
    rf"{_NO_SPACE_SCRIPT}|(?:(?!{_NO_SPACE_SCRIPT})[\p{{L}}\p{{N}}\p{{M}}_])+|[^\s\p{{M}}]\p{{M}}*|\p{{M}}+"
)


def split_words(text: str) -> list[tuple[int, int]]:
    """(start, end) code-point offsets of every word of `text`, in order."""
    return [m.span() for m in _WORD.finditer(text)]
