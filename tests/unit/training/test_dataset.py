import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling.base_model import load_tokenizer, resolve_model_path
from text.encoding import IGNORE_INDEX, TextEncoder
from text.spans.bio import bio_tags
from text.spans.span import Span
from training.annotations import Example
from training.dataset import (
    build_dataset,
    encode_examples,
    is_epoch_choice,
    is_validation,
    split_examples,
    with_epoch_choice,
)

TAGS = bio_tags(["PER", "LOC"])
TAG_IDS = {t: i for i, t in enumerate(TAGS)}


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(resolve_model_path(None))


def test_first_sub_token_carries_the_tag_and_the_rest_is_ignored(tokenizer):
    encoder = TextEncoder(tokenizer, 64)
    text = "Angela Merkel visited Cupertino"
    example = Example(1, text, (Span(0, 13, "PER"), Span(22, 31, "LOC")))
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
            spans.append(Span(pos, pos + 5, "LOC"))
        pos += len(w) + 1
    dataset, _ = build_dataset(
        [Example(7, text, tuple(spans)), Example(8, "Bob", (Span(0, 3, "PER"),))], encoder, TAG_IDS
    )
    rows = [r for r in dataset if r["example"] == 0]
    assert len(rows) > 2 and all(len(r["input_ids"]) <= 16 for r in rows)
    encoded = encoder.encode([text])[0]
    for row, window in zip(rows, encoded.windows):
        labelled = [l for l in row["labels"] if l != IGNORE_INDEX]
        expected = ["B-LOC" if words[k] == "Paris" else "O" for k in range(window.window.start, window.window.end)]
        assert [TAGS[l] for l in labelled] == expected
    assert [TAGS[l] for l in dataset[len(dataset) - 1]["labels"] if l != IGNORE_INDEX] == ["B-PER"]


def ids(examples) -> set:
    return {e.task_id if e.task_id is not None else e.text for e in examples}


def test_split_membership_is_a_property_of_the_task_not_of_the_list():
    examples = [Example(i, f"text {i}") for i in range(50)]
    split = split_examples(examples, 0.2)
    assert not split.validation_is_train and split.train and split.validation
    assert ids(split.validation) == {e.task_id for e in examples if is_validation(e, 0.2)}
    assert ids(split.train) == {e.task_id for e in examples if not is_validation(e, 0.2)}
    assert ids(split_examples(list(reversed(examples)), 0.2).validation) == ids(split.validation)
    grown = split_examples(examples + [Example(i, "x") for i in range(50, 60)], 0.2)
    assert ids(split.validation) <= ids(grown.validation) and ids(split.train) <= ids(grown.train)


def test_a_task_without_id_is_placed_by_its_text():
    assert is_validation(Example(None, "some text"), 0.5) == is_validation(Example(None, "some text"), 0.5)
    texts = [f"sentence {i}" for i in range(200)]
    assert 0 < sum(is_validation(Example(None, t), 0.5) for t in texts) < 200


def test_about_the_fraction_of_10000_tasks_is_held_out():
    for fraction in (0.1, 0.2, 0.5):
        share = sum(is_validation(Example(i, ""), fraction) for i in range(1, 10_001)) / 10_000
        assert abs(share - fraction) < 0.015, (fraction, share)  # 3 to 4 binomial standard deviations


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=10**9), unique=True, min_size=1, max_size=80),
    st.sampled_from([0.1, 0.2, 0.5]),
)
def test_a_task_never_changes_side_as_the_project_grows(task_ids, fraction):
    examples = [Example(None if i % 3 == 0 else i, f"text {i}") for i in task_ids]
    trained, validated = set(), set()
    for n in range(1, len(examples) + 1):  # the project after each new annotated task
        split = split_examples(examples[:n], fraction)
        if not split.validation_is_train:
            trained |= ids(split.train)
            validated |= ids(split.validation)
    assert not trained & validated


def test_few_examples_train_on_all_and_say_so():
    examples = [Example(i, "t") for i in range(4)]
    split = split_examples(examples, 0.2)
    assert split.validation_is_train and split.train == split.validation == examples and "only 4" in split.note
    assert split_examples([Example(i, "t") for i in range(9)], 0.0).validation_is_train


def test_a_split_with_an_empty_side_trains_on_all_and_says_so():
    candidates = [Example(i, "t") for i in range(200)]
    none_held = [e for e in candidates if not is_validation(e, 0.2)][:6]
    all_held = [e for e in candidates if is_validation(e, 0.2)][:6]
    for examples, side in ((none_held, "validation"), (all_held, "training")):
        split = split_examples(examples, 0.2)
        assert split.validation_is_train and split.train == split.validation == examples
        assert f"on the {side} side" in split.note


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=10**9), unique=True, min_size=1, max_size=80),
    st.sampled_from([0.2, 0.5]),
)
def test_a_task_that_chose_an_epoch_never_judges_a_model_later_nor_is_trained_on(task_ids, fraction):
    """Sides are disjoint in every job, and over a project's growth a task moves at most from deciding to choosing
    (while one half is too small to use, all held-out tasks decide), never back, never to or from training."""
    examples = [Example(i, f"text {i}") for i in task_ids]
    trained, chose = set(), set()
    for n in range(1, len(examples) + 1):  # the project after each new annotated task
        split = with_epoch_choice(split_examples(examples[:n], fraction), fraction)
        if split.validation_is_train:
            continue
        train, choice, decision = ids(split.train), ids(split.epoch_choice), ids(split.validation)
        assert len(train) + len(choice) + len(decision) == len(train | choice | decision) == n
        assert not decision & chose and not (choice | decision) & trained
        trained |= train
        chose |= choice
        assert not trained & chose


def test_the_held_out_tasks_are_halved_by_the_hash_rule():
    examples = [Example(i, "t") for i in range(400)]
    split = with_epoch_choice(split_examples(examples, 0.2), 0.2)
    assert ids(split.epoch_choice) == {e.task_id for e in examples if is_epoch_choice(e, 0.2)}
    assert ids(split.validation) == {
        e.task_id for e in examples if is_validation(e, 0.2) and not is_epoch_choice(e, 0.2)
    }
    assert 20 < len(split.epoch_choice) < 60 and 20 < len(split.validation) < 60


def test_a_held_out_side_too_small_to_halve_keeps_every_task_for_the_decision_and_says_so():
    candidates = [Example(i, "t") for i in range(400)]
    decision_only = [e for e in candidates if is_validation(e, 0.2) and not is_epoch_choice(e, 0.2)][:2]
    train_side = [e for e in candidates if not is_validation(e, 0.2)][:8]
    split = with_epoch_choice(split_examples(train_side + decision_only, 0.2), 0.2)
    assert split.epoch_choice == [] and split.validation == decision_only and "last epoch is kept" in split.note
