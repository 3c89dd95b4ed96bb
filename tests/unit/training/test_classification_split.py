from training.classification import stratified_split
from training.classification_data import ChoiceExample
from training.dataset import is_validation

FRACTION = 0.2


def example(task_id: int, cls: int) -> ChoiceExample:
    targets = tuple(1.0 if c == cls else 0.0 for c in range(3))
    return ChoiceExample(task_id, f"text {task_id}", targets, (True,))


def test_a_rare_class_the_hash_split_left_out_of_validation_is_held_out_once():
    trained = [i for i in range(1, 400) if not is_validation(example(i, 0), FRACTION)]
    rare = [example(i, 2) for i in trained[:2]]  # both on the training side by their hash
    common = [example(i, i % 2) for i in range(400, 440)]
    split = stratified_split(common + rare, FRACTION)
    held_rare = [e for e in split.validation if e.targets[2]]
    assert len(held_rare) == 1 and any(e.targets[2] for e in split.train)
    assert {e.task_id for e in split.train} | {e.task_id for e in split.validation} == {
        e.task_id for e in common + rare
    }
    assert not set(map(id, split.train)) & set(map(id, split.validation))


def test_a_class_with_a_single_example_stays_in_training():
    trained = [i for i in range(1, 400) if not is_validation(example(i, 0), FRACTION)]
    common = [example(i, i % 2) for i in range(400, 440)]
    split = stratified_split([*common, example(trained[0], 2)], FRACTION)
    assert not any(e.targets[2] for e in split.validation)
