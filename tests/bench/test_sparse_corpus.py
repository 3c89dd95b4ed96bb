"""The sparse corpus builder keeps the format, the requested share of entity-free sentences, and its seed."""

from __future__ import annotations

import pytest

from bench import sparse_corpus
from bench.conll import read_conll

SOURCE = """-DOCSTART- -X- O O

EU NNP B-NP B-ORG
rejects VBZ B-VP O

Peter NNP B-NP B-PER

The DT B-NP O
end NN I-NP O

A DT O O
b NN O O

Paris NNP B-NP B-LOC
is VBZ O O
"""


def test_the_sample_has_the_share_of_empty_sentences_and_reads_back_as_conll(tmp_path):
    source = tmp_path / "train.tsv"
    source.write_text(SOURCE)
    out = sparse_corpus.main(
        [
            "--source",
            str(source),
            "--size",
            "4",
            "--empty-share",
            "0.5",
            "--out",
            str(tmp_path / "sparse" / "train.tsv"),
        ]
    )
    examples = read_conll(out)
    assert len(examples) == 4
    assert sum(1 for e in examples if not e.spans) == 2
    texts = {e.text for e in examples}
    assert texts <= {"EU rejects", "Peter", "The end", "A b", "Paris is"}
    again = sparse_corpus.main(
        ["--source", str(source), "--size", "4", "--empty-share", "0.5", "--out", str(tmp_path / "again.tsv")]
    )
    assert again.read_text() == out.read_text()  # seeded


def test_a_source_without_enough_sentences_of_a_kind_is_refused():
    blocks = sparse_corpus.sentence_blocks(SOURCE.splitlines())
    assert len(blocks) == 5 and sum(not sparse_corpus.has_entity(b) for b in blocks) == 2
    with pytest.raises(ValueError, match="cannot give 3 and 1"):
        sparse_corpus.sparse_sample(blocks, 4, 0.75, seed=0)
