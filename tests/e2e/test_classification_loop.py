"""Text classification (a single-choice `<Choices>` on a `<Text>`) through the whole loop against a real Label Studio
1.23.2 whose prediction validation is on (tests/e2e/conftest.py): a batch of predictions with one that does not fit
the label config is refused whole, so every prediction the refresh imports has to be valid.

Real parts: gunicorn serving the backend, an `rq worker` running its training job on a Redis of this test's own,
and the small classifier of tests/support/choice_model.py (its encoder puts "good" and "bad" on dimensions of their
own; its head is fresh, because its classes match none of the project's, so the project serves `untrained` until the
job). Annotations are made through Label Studio's API; its webhooks start the job; the job trains, deploys and
re-predicts the unlabelled tasks into Label Studio; Label Studio's *Uncertainty sampling* then serves the task that
holds both cue words first, and headless Chromium, logged in as an annotator, sees that task's predicted choice
selected in the labelling view (screenshot in $NERB_ARTIFACTS/classification). Training is shortened to 60 steps at
learning rate 0.002 (at 0.05, as in tests/integration/test_classification.py, every score saturates at 1.0, the
mixed text's included; at 0.002 the mixed text scored 0.03 and the others 1.0). A run takes about a minute on the
2-core test machine, and every wait is on a condition.
"""

from __future__ import annotations

from collections import Counter

import pytest
import requests

from tests.e2e.backend import Backend, Steps, Worker, project_key
from tests.e2e.browser import artifacts, checked_choices, chromium, log_in, screenshot
from tests.support.choice_model import build_choice_model

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARTIFACTS = artifacts("classification")

CONFIG = """<View><Text name="text" value="$text"/>
<Choices name="sentiment" toName="text" choice="single"><Choice value="positive"/><Choice value="negative"/></Choices>
</View>"""
N = 16  # START_TRAINING_EACH_N_UPDATES, and the annotations made
JOB_TIMEOUT = 300
UNSURE = "good bad item 99"  # one cue of each class: the trained model cannot tell


def annotated_texts() -> list[tuple[str, str]]:
    return [(f"good item {i}", "positive") if i % 2 == 0 else (f"bad item {i}", "negative") for i in range(N)]


def unlabelled_texts() -> dict[str, str | None]:
    """Text -> the class the trained model must choose (None: the unsure one)."""
    texts: dict[str, str | None] = {f"good item {i}": "positive" for i in range(50, 53)}
    texts.update({f"bad item {i}": "negative" for i in range(60, 63)})
    texts[UNSURE] = None
    return texts


def choice(label: str) -> list[dict]:
    return [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


def test_choices_project_trains_from_label_studio_annotations_and_its_least_sure_task_is_served_first(
    label_studio, private_redis, tmp_path
):
    ls = label_studio.client()
    env = dict(
        LABEL_STUDIO_HOST=label_studio.url,
        LABEL_STUDIO_API_KEY=label_studio.personal_access_token(),
        BASELINE_MODEL_NAME=build_choice_model(tmp_path / "base", classes=["x", "y"], cues={"good": "x", "bad": "y"}),
        MODEL_DIR=tmp_path / "models",
        START_TRAINING_EACH_N_UPDATES=N,
        MIN_TRAIN_STEPS=60,
        LEARNING_RATE=0.002,
        DEPLOY_POLICY="always",
        HF_HUB_OFFLINE=1,
    )
    worker = Worker(tmp_path, private_redis.url, **env)
    backend = None
    try:
        backend = Backend(tmp_path, REDIS_URL=private_redis.url, **env)
        logs = {"Label Studio": label_studio.log_tail, "gunicorn": backend.tail, "rq worker": worker.tail}
        steps = Steps(lambda: {name: tail(60) for name, tail in logs.items()})
        run_loop(ls, label_studio, backend, worker, steps)
    finally:
        for process in (backend, worker):
            if process is not None:
                process.stop()


def run_loop(ls, label_studio, backend: Backend, worker: Worker, steps: Steps) -> None:
    headers = {"Authorization": f"Token {label_studio.api_key}"}
    unlabelled = unlabelled_texts()

    with steps.step("1 project, tasks, and Label Studio's validation refuses an invalid batch"):
        project = ls.projects.create(title="classification e2e", label_config=CONFIG)
        pid, key = project.id, project_key(project)
        texts = [text for text, _ in annotated_texts()] + list(unlabelled)
        ls.projects.import_tasks(pid, request=[{"text": t} for t in texts], return_task_ids=True)
        ids = {t.data["text"]: t.id for t in ls.tasks.list(project=pid)}
        assert set(ids) == set(texts), sorted(ids)
        # The control that makes the later import meaningful: one invalid item and Label Studio stores nothing.
        r = requests.post(
            f"{label_studio.url}/api/projects/{pid}/import/predictions",
            headers=headers,
            timeout=30,
            json=[
                {"task": ids[UNSURE], "result": choice("positive"), "score": 0.5, "model_version": "probe"},
                {"task": ids["good item 50"], "result": choice("maybe"), "score": 0.5, "model_version": "probe"},
            ],
        )
        assert r.status_code == 400, f"an invalid prediction was not refused: {r.status_code} {r.text[:300]}"
        assert not list(ls.predictions.list(project=pid)), "part of a refused batch was stored"

    with steps.step("2 connect the backend"):
        ls.ml.create(project=pid, url=backend.url, title="choices-e2e", is_interactive=True)
        assert backend.setup(key, CONFIG) == "untrained"

    with steps.step(f"3 {N} annotations through Label Studio train, deploy and refresh a version"):
        for text, label in annotated_texts():
            ls.annotations.create(id=ids[text], result=choice(label))
        state = backend.job(pid)
        assert state.get("reason") == f"{N} annotation updates", state
        state = backend.wait_for_job(pid, runs=1, timeout=JOB_TIMEOUT, worker=worker)
        assert state.get("deployed") is True, f"the job did not deploy: {state}"
        assert state["extraction"]["examples"] == N, state
        version = state["version"]
        assert version.startswith(f"p{pid}-v1") and backend.setup(key, CONFIG) == version, (version, state)

    with steps.step("4 Label Studio stored the refreshed predictions"):
        predictions = [p for p in ls.predictions.list(project=pid)]
        assert {p.model_version for p in predictions} == {version}, [(p.task, p.model_version) for p in predictions]
        per_task = Counter(p.task for p in predictions)
        assert set(per_task) == {ids[t] for t in unlabelled} and set(per_task.values()) == {1}, per_task
        assert ls.projects.get(id=pid).model_version == version
        text_of = {task_id: text for text, task_id in ids.items()}
        scores = {}
        for p in predictions:
            (item,) = p.result
            assert (item["from_name"], item["to_name"], item["type"]) == ("sentiment", "text", "choices"), item
            expected = unlabelled[text_of[p.task]]
            if expected is not None:
                assert item["value"]["choices"] == [expected], (text_of[p.task], item)
            assert 0.0 <= p.score <= 1.0, p
            scores[p.task] = p.score
        print("[e2e]   scores: " + ", ".join(f"{text_of[t]!r} {s:.3f}" for t, s in scores.items()), flush=True)

    with steps.step("5 Uncertainty sampling serves the least sure task first"):
        ls.projects.update(id=pid, sampling="Uncertainty sampling", model_version=version)
        r = requests.get(f"{label_studio.url}/api/projects/{pid}/next", headers=headers, timeout=30)
        assert r.status_code == 200, f"GET /api/projects/{pid}/next -> {r.status_code}: {r.text[:300]}"
        served = r.json()["id"]
        assert scores[served] == min(scores.values()), (served, scores)
        assert served == ids[UNSURE], f"served {text_of[served]!r} first; scores by text: " + str(
            {text_of[t]: round(s, 4) for t, s in scores.items()}
        )
        assert scores[served] < min(s for t, s in scores.items() if t != served) - 0.1, scores

    with steps.step("6 the labelling view shows the served task's predicted choice selected"):
        (prediction,) = [p for p in predictions if p.task == served]
        (item,) = prediction.result
        driver = chromium()
        try:
            log_in(driver, label_studio.url, label_studio.username, label_studio.password)
            shown = checked_choices(driver, label_studio.url, pid, served, UNSURE)
            screenshot(driver, ARTIFACTS / "served-task.png")
        finally:
            driver.quit()
        assert shown == item["value"]["choices"], f"the view shows {shown}; the prediction holds {item['value']}"
