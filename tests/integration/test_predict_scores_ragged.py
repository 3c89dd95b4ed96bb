"""/predict scores its tasks over ragged word arrays: a task's score does not depend on the tasks it comes with,
and one 2,000-word text among 255 short ones costs its own words, not 2,000 x 256 padded rows."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from services.predict import ranking_from_settings
from settings import Settings
from uncertainty import REDUCTIONS, STRATEGIES

CONFIG = (
    '<View><Labels name="label" toName="text"><Label value="PER"/><Label value="ORG"/><Label value="LOC"/>'
    '<Label value="MISC"/></Labels><Text name="text" value="$text"/></View>'
)
ONE_PASS = [name for name, strategy in STRATEGIES.items() if not strategy.needs_samples]


def body(texts):
    return {
        "project": "4",
        "label_config": CONFIG,
        "tasks": [{"id": i, "data": {"text": t}} for i, t in enumerate(texts)],
    }


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_each_task_scores_in_a_mixed_request_as_it_scores_alone(make_client, rule_model_dir, reduction):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, UNCERTAINTY_REDUCTION=reduction, PREDICT_BATCH_WINDOW_MS=0)
    texts = ["Angela Merkel maybe visited Berlin.", "perhaps " * 300 + "Tokyo", "", "Sony perhaps", "Bob " * 40]
    together = [r["score"] for r in client.post("/predict", json=body(texts)).get_json()["results"]]
    alone = [client.post("/predict", json=body([t])).get_json()["results"][0]["score"] for t in texts]
    assert together == alone
    assert len(set(together)) > 2  # the texts really score differently


@pytest.mark.parametrize("strategy", ONE_PASS)
def test_scoring_one_long_text_among_short_ones_allocates_no_padded_pool(strategy):
    ranking = ranking_from_settings(Settings.from_env({"UNCERTAINTY_STRATEGY": strategy}), None).single_pass()
    rng = np.random.default_rng(0)
    tags = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    probs = [rng.dirichlet(np.ones(9), size=20).astype(np.float32) for _ in range(255)]
    probs.append(rng.dirichlet(np.ones(9), size=2000).astype(np.float32))
    ranking.uncertainties(probs[:2], tags, keys=["a", "b"])  # warm-up: imports and caches outside the measurement
    tracemalloc.start()
    try:
        scores = ranking.uncertainties(probs, tags, keys=[str(i) for i in range(256)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    padded = 256 * 2000 * 9 * 8  # one float64 (texts, longest, K) array: 37 MB
    assert peak < padded / 4, f"{strategy}: {peak / 1e6:.1f} MB peak while scoring"
    alone = [ranking.uncertainties([p], tags, keys=[str(i)])[0] for i, p in enumerate(probs)]
    np.testing.assert_array_equal(scores, alone)
