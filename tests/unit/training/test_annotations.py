from text.label_config import NerConfig
from text.spans.span import Span
from training.annotations import (
    Example,
    ExtractionStats,
    extract_spans,
    pick_annotation,
    task_to_example,
    tasks_to_examples,
)

CONFIG = NerConfig("label", "text", "text", ("PER", "LOC"))


def region(start, end, label, **over):
    r = {
        "from_name": "label",
        "to_name": "text",
        "type": "labels",
        "value": {"start": start, "end": end, "labels": [label]},
    }
    r.update(over)
    return r


def ann(id, result=(), updated="2024-01-01T00:00:00Z", cancelled=False, gt=False):
    return {
        "id": id,
        "result": list(result),
        "was_cancelled": cancelled,
        "ground_truth": gt,
        "created_at": "2023-01-01T00:00:00Z",
        "updated_at": updated,
    }


def test_cancelled_annotations_are_skipped_and_none_left_gives_none():
    task = {"id": 1, "data": {"text": "Alice"}, "annotations": [ann(1, cancelled=True)]}
    assert pick_annotation(task) is None
    stats = ExtractionStats()
    assert task_to_example(task, CONFIG, stats) is None and stats.no_annotation == 1


def test_ground_truth_beats_a_more_recent_annotation():
    task = {"annotations": [ann(1, updated="2024-05-01T00:00:00Z"), ann(2, updated="2024-01-01T00:00:00Z", gt=True)]}
    assert pick_annotation(task)["id"] == 2


def test_most_recently_updated_wins_then_highest_id():
    task = {
        "annotations": [
            ann(7, updated="2024-03-01T10:00:00.5Z"),
            ann(3, updated="2024-03-01T10:00:01Z"),
            ann(9, cancelled=True, updated="2025-01-01T00:00:00Z"),
        ]
    }
    assert pick_annotation(task)["id"] == 3
    tie = {"annotations": [ann(4), ann(12), ann(5)]}
    assert pick_annotation(tie)["id"] == 12


def test_spans_keep_known_labels_and_count_what_is_skipped():
    text = "Alice met Bob in Paris"
    a = ann(
        1,
        [
            region(0, 5, "PER"),
            region(17, 22, "LOC"),
            region(10, 13, "ORG"),  # not in the config
            region(10, 13, "PER", from_name="other"),  # another control
            region(3, 2, "PER"),  # empty range
            region(0, 99, "PER"),  # past the end of the text
            {
                "from_name": "label",
                "to_name": "text",
                "type": "labels",
                "value": {"start": "0", "end": 5, "labels": ["PER"]},
            },
            {"from_name": "label", "to_name": "text", "type": "labels", "value": {"start": 0, "end": 5, "labels": []}},
            {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["x"]}},
        ],
    )
    stats = ExtractionStats()
    assert extract_spans(a, CONFIG, text, stats) == [Span(0, 5, "PER"), Span(17, 22, "LOC")]
    assert (stats.unknown_label, stats.other_controls, stats.malformed) == (1, 2, 4)


def test_an_annotation_without_regions_is_a_negative_example():
    tasks = [
        {"id": 5, "data": {"text": "Nothing here."}, "annotations": [ann(1)]},
        {"id": 6, "data": {"other": "x"}, "annotations": [ann(2)]},
        {"id": 7, "data": {"text": "Bob"}, "annotations": []},
    ]
    examples, stats = tasks_to_examples(tasks, CONFIG)
    assert examples == [Example(5, "Nothing here.", ())]
    assert (stats.tasks, stats.examples, stats.no_text, stats.no_annotation) == (3, 1, 1, 1)


def test_generated_corpus_reads_back_exactly():
    from bench.corpus import LABEL_CONFIG, make_tasks
    from text.label_config import parse_ner_config

    config = parse_ner_config(LABEL_CONFIG)
    tasks = make_tasks(60, seed=3)
    assert tasks == make_tasks(60, seed=3)
    examples, stats = tasks_to_examples(tasks, config)
    assert len(examples) == 60 and stats.malformed == stats.unknown_label == 0
    assert any(not e.spans for e in examples) and sum(len(e.spans) for e in examples) > 60
    for task, example in zip(tasks, examples):
        texts = [r["value"]["text"] for r in task["annotations"][0]["result"]]
        assert sorted(example.text[s.start : s.end] for s in example.spans) == sorted(texts)
