import pytest

from ner.base_model import load_tokenizer, resolve_model_path
from ner.encoding import IGNORE_INDEX, TextEncoder
from ner.tags import bio_tags
from training.annotations import Example
from training.dataset import build_dataset, encode_examples, split_examples

TAGS = bio_tags(["PER", "LOC"])
TAG_IDS = {t: i for i, t in enumerate(TAGS)}


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(resolve_model_path(None))


def test_first_sub_token_carries_the_tag_and_the_rest_is_ignored(tokenizer):
    encoder = TextEncoder(tokenizer, 64)
    text = "Angela Merkel visited Cupertino"
    example = Example(1, text, ((0, 13, "PER"), (22, 31, "LOC")))
    columns, stats = encode_examples([example], encoder, TAG_IDS)
    ids, labels = columns["input_ids"][0], columns["labels"][0]
    pieces = tokenizer.convert_ids_to_tokens(ids)
    assert stats.aligned == 2 and len(ids) == len(labels) == len(columns["attention_mask"][0])
    assert labels[0] == labels[-1] == IGNORE_INDEX  # [CLS] and [SEP]
    by_piece = list(zip(pieces, labels))
    starts = [(p, TAGS[l]) for p, l in by_piece if l != IGNORE_INDEX]
    assert starts == [("angela", "B-PER"), ("mer", "I-PER"), ("visited", "O"), ("cup", "B-LOC")]
    assert all(l == IGNORE_INDEX for p, l in by_piece if p.startswith("##"))


def test_a_long_text_becomes_several_windows_with_every_word_labelled(tokenizer):
    encoder = TextEncoder(tokenizer, 16)  # 14 content tokens per window
    words = [f"w{i}" if i % 5 else "Paris" for i in range(40)]
    text = " ".join(words)
    spans = []
    pos = 0
    for w in words:
        if w == "Paris":
            spans.append((pos, pos + 5, "LOC"))
        pos += len(w) + 1
    dataset, _ = build_dataset([Example(7, text, tuple(spans)), Example(8, "Bob", ((0, 3, "PER"),))], encoder, TAG_IDS)
    rows = [r for r in dataset if r["example"] == 0]
    assert len(rows) > 2 and all(len(r["input_ids"]) <= 16 for r in rows)
    encoded = encoder.encode([text])[0]
    for row, window in zip(rows, encoded.windows):
        labelled = [l for l in row["labels"] if l != IGNORE_INDEX]
        expected = ["B-LOC" if words[k] == "Paris" else "O" for k in range(window.window.start, window.window.end)]
        assert [TAGS[l] for l in labelled] == expected
    assert [TAGS[l] for l in dataset[len(dataset) - 1]["labels"] if l != IGNORE_INDEX] == ["B-PER"]


def test_split_is_deterministic_by_task_and_holds_out_the_fraction():
    examples = [Example(i, f"text {i}") for i in range(50)]
    split = split_examples(examples, 0.2)
    assert len(split.validation) == 10 and len(split.train) == 40 and not split.validation_is_train
    again = split_examples(list(reversed(examples)), 0.2)
    assert {e.task_id for e in again.validation} == {e.task_id for e in split.validation}
    assert not {e.task_id for e in split.train} & {e.task_id for e in split.validation}
    grown = split_examples(examples + [Example(i, "x") for i in range(50, 60)], 0.2)
    kept = {e.task_id for e in split.validation} & {e.task_id for e in grown.validation}
    assert len(kept) >= 7  # a growing project mostly keeps its validation tasks


def test_few_examples_train_on_all_and_say_so():
    examples = [Example(i, "t") for i in range(4)]
    split = split_examples(examples, 0.2)
    assert split.validation_is_train and split.train == split.validation == examples and "only 4" in split.note
    assert split_examples([Example(i, "t") for i in range(9)], 0.0).validation_is_train
    assert len(split_examples([Example(i, "t") for i in range(5)], 0.2).validation) == 1
