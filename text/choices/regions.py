"""Class probabilities -> Label Studio `choices` result items, one per control that has a choice to show.

Item score: single choice, the probability of the chosen class; multiple choice, the confidence of its least sure
class decision (min over classes of max(p, 1 - p)). A multiple-choice control with no class at or above its
threshold gets no item (Label Studio shows it unselected), rather than an item with an empty list.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def choice_regions(probs: np.ndarray, chosen: Sequence[Sequence[int]], config) -> list[dict]:
    """`chosen[s]`: class indices picked for the config's s-th control (`ClassificationConfig.segments` order)."""
    regions = []
    for (control, a, b), picked in zip(config.segments(), chosen):
        if not picked:
            continue
        part = np.asarray(probs[a:b], dtype=np.float64)
        if control.multiple:
            score = float(np.min(np.maximum(part, 1.0 - part)))
        else:
            score = float(probs[picked[0]])
        regions.append(
            {
                "from_name": control.from_name,
                "to_name": control.to_name,
                "type": "choices",
                "value": {"choices": [control.choices[i - a] for i in picked]},
                "score": round(score, 6),
            }
        )
    return regions
