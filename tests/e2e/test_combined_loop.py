"""A project whose label config holds a `<Labels>` and a `<Choices>` on one text, through the loop against a real
Label Studio 1.23.2 whose prediction validation is on (tests/e2e/conftest.py): Label Studio refuses a whole batch of
predictions when one item does not fit the config, so every combined prediction the refresh imports must be valid
for both controls at once.

Real parts: gunicorn serving the backend, an `rq worker` running the job on a Redis of this test's own, the rule
model of tests/support/rule_model.py as the base checkpoint (its NER head serves the Labels; the classifier part
starts from its encoder with a fresh head, so the Choices are untrained until the job). Annotations holding both
spans and a choice are made through Label Studio's API; its webhooks start one job that trains both parts into one
version, deploys it and re-predicts the unlabelled tasks into Label Studio. Every wait is on a condition.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.e2e.backend import Backend, Steps, Worker, project_key
from tests.support.combined import COMBINED_CONFIG, CUES, combined_tasks

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

N = 12  # START_TRAINING_EACH_N_UPDATES, and the annotations made
JOB_TIMEOUT = 300
UNLABELLED = [f"{cue} angela merkel in berlin {50 + i}" for i, cue in enumerate(CUES.values())]


def test_a_labels_and_choices_project_trains_one_version_whose_combined_predictions_label_studio_accepts(
    label_studio, private_redis, rule_model_dir, tmp_path
):
    ls = label_studio.client()
    env = dict(
        LABEL_STUDIO_HOST=label_studio.url,
        LABEL_STUDIO_API_KEY=label_studio.personal_access_token(),
        BASELINE_MODEL_NAME=rule_model_dir,
        MODEL_DIR=tmp_path / "models",
        START_TRAINING_EACH_N_UPDATES=N,
        MIN_TRAIN_STEPS=4,
        FINAL_FIT="train",
        DEPLOY_POLICY="always",
        HF_HUB_OFFLINE=1,
    )
    worker = Worker(tmp_path, private_redis.url, **env)
    backend = None
    try:
        backend = Backend(tmp_path, REDIS_URL=private_redis.url, **env)
        logs = {"Label Studio": label_studio.log_tail, "gunicorn": backend.tail, "rq worker": worker.tail}
        steps = Steps(lambda: {name: tail(60) for name, tail in logs.items()})
        run_loop(ls, backend, worker, steps)
    finally:
        for process in (backend, worker):
            if process is not None:
                process.stop()


def run_loop(ls, backend: Backend, worker: Worker, steps: Steps) -> None:
    annotated = combined_tasks(N)

    with steps.step("1 project and tasks"):
        project = ls.projects.create(title="labels and choices e2e", label_config=COMBINED_CONFIG)
        pid, key = project.id, project_key(project)
        texts = [t["data"]["text"] for t in annotated] + UNLABELLED
        ls.projects.import_tasks(pid, request=[{"text": t} for t in texts], return_task_ids=True)
        ids = {t.data["text"]: t.id for t in ls.tasks.list(project=pid)}
        assert set(ids) == set(texts), sorted(ids)

    with steps.step("2 connect the backend: both controls are served"):
        ls.ml.create(project=pid, url=backend.url, title="combined-e2e", is_interactive=True)
        before = backend.setup(key, COMBINED_CONFIG)
        r = backend.post("/setup", {"project": key, "schema": COMBINED_CONFIG}, timeout=10)
        assert {c["name"] for c in r.json()["served_controls"]} == {"label", "sentiment"}, r.json()

    with steps.step(f"3 {N} annotations with spans and a choice train one version of both parts"):
        for task in annotated:
            ls.annotations.create(id=ids[task["data"]["text"]], result=task["annotations"][0]["result"])
        state = backend.wait_for_job(pid, runs=1, timeout=JOB_TIMEOUT, worker=worker)
        assert state.get("deployed") is True, f"the job did not deploy: {state}"
        assert state["extraction"]["ner"]["examples"] == N and state["extraction"]["choices"]["examples"] == N, state
        version = state["version"]
        assert version != before and backend.setup(key, COMBINED_CONFIG) == version, (version, state)

    with steps.step("4 Label Studio accepted one combined prediction per unlabelled task"):
        predictions = list(ls.predictions.list(project=pid))
        assert {p.model_version for p in predictions} == {version}, [(p.task, p.model_version) for p in predictions]
        per_task = Counter(p.task for p in predictions)
        assert set(per_task) == {ids[t] for t in UNLABELLED} and set(per_task.values()) == {1}, per_task
        for p in predictions:
            kinds = Counter(item["type"] for item in p.result)
            assert kinds["choices"] == 1 and kinds["labels"] >= 1, p.result
            (choice,) = [item for item in p.result if item["type"] == "choices"]
            assert choice["from_name"] == "sentiment" and choice["value"]["choices"][0] in CUES, choice
            assert {item["from_name"] for item in p.result if item["type"] == "labels"} == {"label"}
            assert 0.0 <= p.score <= 1.0, p
