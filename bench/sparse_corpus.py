"""A sparse variant of a CoNLL-format corpus: most sentences hold no entity, as in many real projects.

    python -m bench.sparse_corpus --source ../shared/data/conll2003/train.tsv --size 3000 --empty-share 0.75 \\
        --seed 0 --out /tmp/conll-sparse/train.tsv

Sentences are copied line for line (any `token ... tag` format and label set; `-DOCSTART-` lines dropped), drawn
with a fixed seed: `round(size * empty_share)` without any entity, the rest with at least one, in a seeded shuffled
order. The output is data: write it outside the repository (it is never committed), then point
`python -m bench.simulate --train <out> --test-file ...` at it.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Iterable, Sequence

from text.spans.bio import OUTSIDE


def sentence_blocks(lines: Iterable[str]) -> list[list[str]]:
    """The file's sentences, each as its lines (without the blank separator)."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line.strip() or line.startswith("-DOCSTART-"):
            if current:
                blocks.append(current)
                current = []
            continue
        current.append(line)
    if current:
        blocks.append(current)
    return blocks


def has_entity(block: Sequence[str]) -> bool:
    return any((line.split("\t") if "\t" in line else line.split())[-1].strip() != OUTSIDE for line in block)


def sparse_sample(blocks: Sequence[list[str]], size: int, empty_share: float, seed: int) -> list[list[str]]:
    """`size` sentences, `round(size * empty_share)` of them entity-free; ValueError when the source lacks either."""
    if not 0.0 <= empty_share <= 1.0:
        raise ValueError(f"empty_share must be in [0, 1], got {empty_share}")
    empty = [b for b in blocks if not has_entity(b)]
    full = [b for b in blocks if has_entity(b)]
    n_empty = round(size * empty_share)
    n_full = size - n_empty
    if n_empty > len(empty) or n_full > len(full):
        raise ValueError(
            f"the source has {len(empty)} sentences without an entity and {len(full)} with one: it cannot give "
            f"{n_empty} and {n_full}"
        )
    rng = random.Random(seed)
    picked = rng.sample(empty, n_empty) + rng.sample(full, n_full)
    rng.shuffle(picked)
    return picked


def main(argv: Sequence[str] | None = None) -> Path:
    p = argparse.ArgumentParser(prog="python -m bench.sparse_corpus", description=__doc__.split("\n\n")[0])
    p.add_argument("--source", required=True, help="a CoNLL-format file (token ... tag lines, blank lines between)")
    p.add_argument("--size", type=int, default=3000, help="sentences in the output")
    p.add_argument("--empty-share", type=float, default=0.75, help="share of sentences without any entity")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="the file to write (outside the repository)")
    args = p.parse_args(argv)
    with open(args.source, encoding="utf-8") as handle:
        blocks = sentence_blocks(handle)
    picked = sparse_sample(blocks, args.size, args.empty_share, args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join("\n".join(b) + "\n\n" for b in picked), encoding="utf-8")
    empty = sum(not has_entity(b) for b in picked)
    print(f"{out}: {len(picked)} sentences, {empty} without an entity ({empty / len(picked):.0%}), seed {args.seed}")
    return out


if __name__ == "__main__":
    main()
