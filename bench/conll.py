"""CoNLL-style NER data as training Examples for the label-efficiency benchmarks (read at run time, never copied).

A sentence becomes one Example: its tokens joined by single spaces, its entities as spans in code points, the tags
read by the service's one BIO reader (`text.spans.bio.parse_tag`: IOB2, IOB1, BIOES and BILOU alike). Subsamples
are drawn with a fixed seed so every run sees the same pool and test set.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Iterable, Sequence

from text.spans.bio import BEGIN, parse_tag, tag_labels
from text.spans.span import Span
from training.annotations import Example

# The shared copy beside the repository (../shared/data/conll2003); never committed, read at run time.
CONLL_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll2003"
CONLL_LABELS = ("PER", "ORG", "LOC", "MISC")


class ConllFormatError(ValueError):
    """A line of a CoNLL file is neither blank nor `token<TAB>tag` (or `token ... tag`), or a sentence's tokens and
    tags differ in number."""


class DatasetUnavailableError(RuntimeError):
    """`--dataset` named a hub dataset, but the `datasets` library or the hub cannot be reached."""


def tokens_to_example(task_id: object, tokens: Sequence[str], tags: Sequence[str]) -> Example:
    """One sentence: text = tokens joined by single spaces; an entity starts at a tag that begins one (B-, S-, U-,
    or a continuing tag that does not continue an entity of its label, read leniently as IOB1 would) and covers the
    continuing tokens (I-, E-, L-) after it; see `text.spans.bio` for every scheme."""
    if len(tokens) != len(tags):
        raise ConllFormatError(f"{task_id}: {len(tokens)} tokens but {len(tags)} tags")
    text_parts: list[str] = []
    spans: list[list] = []
    position = 0
    current: list | None = None
    for token, tag in zip(tokens, tags):
        start = position + (1 if text_parts else 0)
        end = start + len(token)
        text_parts.append(token)
        position = end
        prefix, label = parse_tag(tag)
        if label is None:
            current = None
        elif prefix == BEGIN or current is None or current[2] != label:
            current = [start, end, label]
            spans.append(current)
        else:
            current[1] = end
    return Example(task_id, " ".join(text_parts), tuple(Span(s, e, label) for s, e, label in spans))


def parse_conll(lines: Iterable[str], name: str = "conll") -> list[Example]:
    """Examples from `token<TAB>tag` lines (blank line between sentences; `-DOCSTART-` lines are skipped).

    Task ids are `name:index` so a sentence keeps its identity in every subsample drawn from the file.
    """
    examples: list[Example] = []
    tokens: list[str] = []
    tags: list[str] = []

    def flush() -> None:
        if tokens:
            examples.append(tokens_to_example(f"{name}:{len(examples)}", tokens, tags))
            tokens.clear()
            tags.clear()

    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            flush()
            continue
        if line.startswith("-DOCSTART-"):
            flush()
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        if len(fields) < 2 or not fields[0]:
            raise ConllFormatError(f"{name} line {number}: expected token<TAB>tag, got {line[:40]!r}")
        tokens.append(fields[0])
        tags.append(fields[-1].strip())
    flush()
    return examples


def read_conll(path: str | Path) -> list[Example]:
    path = Path(path)
    with path.open(encoding="utf-8") as handle:
        return parse_conll(handle, name=path.stem)


def subsample(examples: Sequence[Example], n: int | None, seed: int) -> list[Example]:
    """`n` examples drawn without replacement with `random.Random(seed)`, kept in file order; all when n is None
    or not smaller than the file."""
    if n is None or n >= len(examples):
        return list(examples)
    picked = sorted(random.Random(seed).sample(range(len(examples)), n))
    return [examples[i] for i in picked]


def carve(examples: Sequence, n: int, seed: int) -> tuple[list, list]:
    """(`n` examples drawn with `random.Random(seed)`, the others), both in file order: a dev set and what is left
    for the pool, disjoint by construction."""
    if n <= 0 or n >= len(examples):
        raise ValueError(f"cannot carve {n} examples out of {len(examples)}: leave some for the pool")
    picked = set(random.Random(seed).sample(range(len(examples)), n))
    return [e for i, e in enumerate(examples) if i in picked], [e for i, e in enumerate(examples) if i not in picked]


def load_hub_dataset(name: str, split: str) -> tuple[list[Example], tuple[str, ...]]:
    """A split of a hub dataset with `tokens` and `ner_tags` columns (e.g. conll2003), and its entity labels.

    Only works where the dataset hub is reachable; otherwise raises DatasetUnavailableError with the way out.
    """
    try:
        from datasets import load_dataset
    except ImportError as exc:
        raise DatasetUnavailableError(f"--dataset {name} needs the `datasets` library ({exc})") from None
    try:
        data = load_dataset(name, split=split)
    except Exception as exc:  # offline mode, no network, unknown name: all surface differently
        raise DatasetUnavailableError(
            f"could not load {name!r} split {split!r} from the dataset hub ({type(exc).__name__}: {str(exc)[:200]}). "
            "The hub is not reachable here (HF_HUB_OFFLINE=1 or no network): pass CoNLL files with --data-dir instead."
        ) from None
    feature = data.features["ner_tags"].feature
    names = list(getattr(feature, "names", []) or [])
    examples = []
    for index, row in enumerate(data):
        tags = [names[t] if names else str(t) for t in row["ner_tags"]]
        examples.append(tokens_to_example(f"{split}:{index}", row["tokens"], tags))
    labels = tuple(tag_labels(names))
    return examples, labels


def labels_of(examples: Iterable[Example]) -> tuple[str, ...]:
    """Entity labels in the conventional CoNLL order first, then any others in first-seen order."""
    seen = dict.fromkeys(span.label for e in examples for span in e.spans)
    return tuple([l for l in CONLL_LABELS if l in seen] + [l for l in seen if l not in CONLL_LABELS])


def token_count(example: Example) -> int:
    """Tokens an annotator reads: the CoNLL tokens (the text is them joined by single spaces)."""
    return len(example.text.split())
