"""Whether a new version replaces the deployed one (DEPLOY_POLICY), and on what evidence.

`if_better` compares both models on the same validation tasks. Early in a project that split is tiny (a real
project's second job held out 4 tasks: F1 0.727 against 0.762 kept a model trained on half the labels), so a lower
F1 alone is no evidence: the gate keeps the current model only when a paired bootstrap over the validation tasks
says the new one is worse in at least `CONFIDENCE` of resamples. Otherwise the new version, trained on more labels,
is deployed and the reason says the comparison could not tell them apart. The same rule needs no special case for
a split too small to judge: there the resamples disagree and the new model ships.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

POLICIES = ("always", "if_better", "manual")
CONFIDENCE = 0.95  # share of resamples on which the new model must be worse to be refused
ROUNDS = 2000
CHUNK = 250  # resamples drawn at once: memory stays at CHUNK x tasks

Counts = Sequence[tuple[int, int, int]]  # per validation task: true positives, false positives, false negatives


def _f1(sums: np.ndarray) -> np.ndarray:
    """Micro F1 from summed (tp, fp, fn) rows; nothing to find and nothing found is 1, as in the scores."""
    tp, fp, fn = sums[:, 0], sums[:, 1], sums[:, 2]
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 1.0)


def worse_share(new: Counts, current: Counts, rounds: int = ROUNDS, seed: int = 0) -> float:
    """The share of bootstrap resamples of the validation tasks (drawn with replacement, the same tasks for both
    models) on which the new model's micro F1 is below the current one's."""
    a, b = np.asarray(new, dtype=np.float64).reshape(-1, 3), np.asarray(current, dtype=np.float64).reshape(-1, 3)
    if a.shape != b.shape:
        raise ValueError(f"the models were scored on different tasks: {len(a)} and {len(b)}")
    n = a.shape[0]
    if n == 0:
        return 0.0
    rng = np.random.default_rng(seed)
    worse = 0
    for start in range(0, rounds, CHUNK):
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=min(CHUNK, rounds - start)).astype(np.float64)
        worse += int(np.sum(_f1(weights @ a) < _f1(weights @ b)))
    return worse / rounds


def decide_deployment(
    policy: str,
    new_f1: float,
    current_f1: float,
    validation_is_train: bool = False,
    new_counts: Counts | None = None,
    current_counts: Counts | None = None,
) -> tuple[bool, str]:
    """(deploy?, reason) under DEPLOY_POLICY: always; manual; if_better = not worse on the validation split, where
    "worse" needs the paired evidence above when both models' per-task counts are given (else a lower F1 is enough).
    """
    where = "the training set (too few tasks to hold any out)" if validation_is_train else "the validation split"
    if policy == "always":
        return True, f"DEPLOY_POLICY=always (F1 {new_f1:.3f} vs {current_f1:.3f} on {where})"
    if policy == "manual":
        return False, f"DEPLOY_POLICY=manual: saved, not deployed (F1 {new_f1:.3f} vs {current_f1:.3f} on {where})"
    if policy != "if_better":
        raise ValueError(f"unknown deploy policy {policy!r} (expected one of {', '.join(POLICIES)})")
    if new_f1 >= current_f1:
        return True, f"new F1 {new_f1:.3f} >= current F1 {current_f1:.3f} on {where}"
    if new_counts is None or current_counts is None:
        return False, f"new F1 {new_f1:.3f} < current F1 {current_f1:.3f} on {where}: kept the current model"
    share = worse_share(new_counts, current_counts)
    tasks = len(new_counts)
    if share >= CONFIDENCE:
        return False, (
            f"new F1 {new_f1:.3f} < current F1 {current_f1:.3f} on {where} ({tasks} tasks; worse in {share:.0%} of "
            f"paired resamples): kept the current model"
        )
    return True, (
        f"new F1 {new_f1:.3f} < current F1 {current_f1:.3f} on {where}, but {tasks} tasks cannot tell them apart "
        f"(worse in {share:.0%} of paired resamples, {CONFIDENCE:.0%} needed): deployed the model trained on more "
        "labels"
    )


def control_scores(entity_f1: float | None, ner_control: str, choice_metrics: dict | None) -> dict[str, float]:
    """Each served control's own deploy figure on its validation tasks: entity F1 for the Labels control, macro-F1
    for each Choices control (`choice_metrics["controls"]`, from `training.classification.score_classifier`). A
    part that did not train in the job (None) has no figure: it is the same model on both sides."""
    scores = {} if entity_f1 is None else {ner_control: float(entity_f1)}
    for name, figures in ((choice_metrics or {}).get("controls") or {}).items():
        scores[name] = float(figures["macro_f1"])
    return scores


def mean_control_score(scores: dict[str, float]) -> float:
    """What DEPLOY_POLICY=if_better compares for a version that serves several controls: the mean over controls of
    each control's own figure, so one that gains and one that loses weigh alike (as several Choices controls'
    macro-F1 are combined). Every figure is in [0, 1] with 1 = every answer right, so the mean is on one scale."""
    if not scores:
        raise ValueError("no control to score")
    return float(np.mean(list(scores.values())))
