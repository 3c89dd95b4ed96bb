"""Classification corpora for the label-efficiency benchmark: `label<TAB>text` files (e.g. TREC-6), any label set,
read at run time and never copied.

Each line becomes an annotated single-choice task (`training.classification_data.tasks_from_rows`), read into a
`ChoiceExample` by the service's own annotation reader, so the simulated annotator's answers reach training exactly
as Label Studio's would. The label set is the training file's labels, sorted; a test or dev label the training
file lacks is refused, since no head class could ever predict it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from text.label_config import ChoicesConfig, ClassificationConfig
from training.classification_data import ChoiceExample, read_label_tsv, tasks_from_rows, tasks_to_choice_examples

FROM_NAME, TO_NAME, VALUE_KEY = "label", "text", "text"
SNIFF_LINES = 100


class ChoiceCorpusError(ValueError):
    """A classification corpus the benchmark cannot use (a malformed line, a label the training file lacks)."""


def looks_like_choices(path: str | Path) -> bool:
    """True when `path` reads as `label<TAB>text` lines rather than CoNLL `token<TAB>tag` lines.

    Of its first SNIFF_LINES non-blank lines, at least one has a space after its first tab: the text of a
    classification line holds words, where a CoNLL line has one token and its tag (or tab-separated columns) and a
    space-separated CoNLL file has no tab at all. `--task` overrides this guess.
    """
    seen = 0
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip() or line.startswith("-DOCSTART-"):
                continue
            _, tab, rest = line.rstrip("\r\n").partition("\t")
            if tab and " " in rest.strip():
                return True
            seen += 1
            if seen >= SNIFF_LINES:
                break
    return False


def choice_config(labels: Sequence[str]) -> ClassificationConfig:
    """The project the simulation stands for: one single-choice control over `labels` on data["text"]."""
    return ClassificationConfig((ChoicesConfig(FROM_NAME, TO_NAME, VALUE_KEY, tuple(labels)),))


def read_rows(path: str | Path) -> list[tuple[str, str]]:
    try:
        return read_label_tsv(path)
    except ValueError as exc:
        raise ChoiceCorpusError(str(exc)) from None


def labels_of_rows(rows: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    return tuple(sorted({label for label, _ in rows}))


def to_examples(rows: Sequence[tuple[str, str]], labels: Sequence[str], name: str) -> list[ChoiceExample]:
    """Examples in file order, through the service's annotation reader (every row has a choice of `labels`)."""
    unknown = sorted({label for label, _ in rows} - set(labels))
    if unknown:
        raise ChoiceCorpusError(
            f"{name}: labels {', '.join(unknown)} are not in the training file's labels ({', '.join(labels)})"
        )
    config = choice_config(labels)
    examples, stats = tasks_to_choice_examples(tasks_from_rows(list(rows), FROM_NAME, TO_NAME), config)
    if stats.examples != len(rows):  # every row is a text with a known choice, so this is a reader change
        raise ChoiceCorpusError(f"{name}: {len(rows) - stats.examples} rows did not read as examples ({stats})")
    return examples
