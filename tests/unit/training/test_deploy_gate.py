"""The deploy gate refuses a new version only on evidence that it is worse, paired on the same validation tasks."""

from __future__ import annotations

import pytest

from training.deploy_gate import CONFIDENCE, control_scores, decide_deployment, mean_control_score, worse_share
from training.evaluation import entity_counts, score_tags


def test_four_validation_tasks_cannot_refuse_a_model_trained_on_more_labels():
    # the real project's second job: F1 0.727 < 0.762 on 4 tasks; one entity more or less decides it
    current = [(2, 0, 0), (1, 1, 0), (2, 0, 1), (3, 0, 0)]
    new = [(2, 0, 0), (1, 1, 0), (1, 0, 2), (3, 1, 0)]
    share = worse_share(new, current)
    assert 0.3 < share < CONFIDENCE
    deploy, reason = decide_deployment("if_better", 0.727, 0.762, False, new, current)
    assert deploy and "cannot tell them apart" in reason and "4 tasks" in reason


def test_a_model_worse_on_many_tasks_is_refused():
    current = [(2, 0, 0)] * 60 + [(1, 0, 1)] * 20
    new = [(1, 1, 1)] * 60 + [(0, 1, 2)] * 20  # worse on every task
    assert worse_share(new, current) == 1.0
    deploy, reason = decide_deployment("if_better", 0.4, 0.9, False, new, current)
    assert not deploy and "kept the current model" in reason and "80 tasks" in reason


def test_a_small_consistent_loss_on_a_large_split_is_refused_and_a_small_split_with_the_same_loss_is_not():
    # the new model misses one entity in 10% of tasks: invisible on 10 tasks, clear on 400
    def split(tasks):
        current = [(3, 0, 0)] * tasks
        new = [(2, 0, 1) if i % 10 == 0 else (3, 0, 0) for i in range(tasks)]
        return new, current

    assert worse_share(*split(10)) < 0.95 and worse_share(*split(400)) >= 0.95


def test_a_better_or_equal_model_deploys_without_resampling_and_the_policies_stay():
    assert decide_deployment("if_better", 0.8, 0.8, False, [], [])[0]
    assert decide_deployment("always", 0.1, 0.9)[0] and not decide_deployment("manual", 0.9, 0.1)[0]
    assert not decide_deployment("if_better", 0.49, 0.5)[0]  # without per-task counts a lower F1 is enough
    with pytest.raises(ValueError):
        decide_deployment("sometimes", 1, 0)
    with pytest.raises(ValueError, match="different tasks"):
        worse_share([(1, 0, 0)], [(1, 0, 0), (1, 0, 0)])


def test_entity_counts_add_up_to_the_scores_micro_f1():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "O"], ["B-ORG", "O"]]
    predicted = [["B-PER", "I-PER", "O", "O"], ["B-MISC", "O"], ["B-LOC", "O"]]
    counts = entity_counts(gold, predicted)
    assert counts == [(1, 0, 1), (0, 1, 0), (0, 1, 1)]
    tp, fp, fn = (sum(c[i] for c in counts) for i in range(3))
    assert score_tags(gold, predicted)["entity_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert score_tags(gold, predicted)["entity_counts"] == counts


def test_a_version_of_several_controls_is_judged_on_the_mean_of_each_controls_own_figure():
    choices = {"macro_f1": 0.5, "controls": {"sentiment": {"macro_f1": 0.8}, "topic": {"macro_f1": 0.2}}}
    scores = control_scores(0.6, "label", choices)
    assert scores == {"label": 0.6, "sentiment": 0.8, "topic": 0.2}
    assert mean_control_score(scores) == pytest.approx((0.6 + 0.8 + 0.2) / 3)


@pytest.mark.parametrize(
    "new, current, deployed",
    [
        ({"label": 0.5, "sentiment": 0.9}, {"label": 0.7, "sentiment": 0.6}, True),  # -0.2 on Labels, +0.3 on Choices
        ({"label": 0.4, "sentiment": 0.7}, {"label": 0.7, "sentiment": 0.6}, False),  # -0.3 on Labels, +0.1 on Choices
        ({"label": 0.6, "sentiment": 0.7}, {"label": 0.7, "sentiment": 0.6}, True),  # a tie keeps the newer version
    ],
)
def test_if_better_weighs_a_control_that_gains_against_one_that_loses(new, current, deployed):
    decided, reason = decide_deployment("if_better", mean_control_score(new), mean_control_score(current))
    assert decided is deployed
    assert ("kept the current model" in reason) is not deployed
