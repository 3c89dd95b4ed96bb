"""What the annotator sees: our predictions drawn in Label Studio's labelling view, in a real (headless) browser.

The most common complaint about ML backends is "the backend returned predictions but nothing shows in the
labelling view" (a wrong result shape, predictions of a model version the view does not pick, offsets that drift
after an emoji or a CRLF). This test guards the whole path: Label Studio itself fetches predictions from our
backend (the data manager's "Retrieve Predictions" action), then Chromium opens each task's labelling view and
reads what it shows: the highlighted regions (their count, characters, offsets and labels must be exactly the
spans the backend served), the Regions panel, and the prediction's tab, named by its model version. Texts hold
emoji, ZWJ sequences, skin tones, flags, CRLF line ends, accents and CJK. After a retrain the view must show the
new version's predictions and name that version. A control proves the reader sees drift when there is some.

The model is the rule model (tests/support/rule_model.py: a real BertForTokenClassification whose tag per word piece
is set by hand), so the served spans are known in advance and checked too: the test fails if the backend's offsets
are wrong, not only if the browser draws them wrong. Training settings are tiny (one epoch, 5 steps,
DEPLOY_POLICY=always): the retrain must produce a new version, not a better model.

Screenshots and page sources go to $NERB_ARTIFACTS/labelling-view (default /tmp/nerb-artifacts/labelling-view).
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from bench.corpus import LABEL_CONFIG
from tests.e2e.backend import Backend, Steps, project_key
from tests.e2e.browser import (
    BrowserMissing,
    Listed,
    Region,
    artifacts,
    chromium,
    log_in,
    open_task,
    screenshot,
    shown_name,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARTIFACTS = artifacts("labelling-view")
JOB_TIMEOUT_S = 180

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # man ZWJ woman ZWJ girl ZWJ boy
CODER = "\U0001f469\U0001f3fd\u200d\U0001f4bb"  # woman, medium skin tone, ZWJ laptop
HOLDING_HANDS = "\U0001f9d1\u200d\U0001f91d\u200d\U0001f9d1"
JAPAN_FLAG = "\U0001f1ef\U0001f1f5"

# (task text, the spans the rule model must find: (characters, label) in text order). 18 spans in 5 tasks; each
# task has spans after an emoji, a ZWJ sequence, a CRLF or CJK characters, where offsets drift if they ever do.
VIEW_TASKS = [
    (
        f"{FAMILY} Angela Merkel met Tim Cook in Berlin.",
        [("Angela Merkel", "PER"), ("Tim Cook", "PER"), ("Berlin", "LOC")],
    ),
    (
        f"Alice \U0001f642 flew from Paris to Tokyo {JAPAN_FLAG} with Bob.",
        [("Alice", "PER"), ("Paris", "LOC"), ("Tokyo", "LOC"), ("Bob", "PER")],
    ),
    (
        "Siemens opened an office in Munich.\r\nSony \U0001f44d followed in London.\r\n",
        [("Siemens", "ORG"), ("Munich", "LOC"), ("Sony", "ORG"), ("London", "LOC")],
    ),
    (
        "会议在北京举行。Apple \U0001f34e and the UN met in Geneva.",
        [("北京", "LOC"), ("Apple", "ORG"), ("UN", "ORG"), ("Geneva", "LOC")],
    ),
    (
        f"{CODER} Angela Merkel\r\nvisited Cupertino {HOLDING_HANDS} and the Café.",
        [("Angela Merkel", "PER"), ("Cupertino", "LOC"), ("Café", "LOC")],
    ),
]
# Plain tasks annotated to start a retrain (the view tasks stay unlabelled, so they keep showing predictions).
TRAIN_TASKS = [
    ("Angela Merkel visited Paris.", [("Angela Merkel", "PER"), ("Paris", "LOC")]),
    ("Apple opened an office in Berlin.", [("Apple", "ORG"), ("Berlin", "LOC")]),
    ("Tim Cook flew to Tokyo.", [("Tim Cook", "PER"), ("Tokyo", "LOC")]),
    ("Sony and Siemens met in Geneva.", [("Sony", "ORG"), ("Siemens", "ORG"), ("Geneva", "LOC")]),
    ("Alice met Bob in London.", [("Alice", "PER"), ("Bob", "PER"), ("London", "LOC")]),
    ("The UN office in Munich was closed.", [("UN", "ORG"), ("Munich", "LOC")]),
]


def located(text: str, spans: list[tuple[str, str]]) -> list[tuple[int, int, str]]:
    """(start, end, label) in code points for spans given as (characters, label) in text order."""
    found, position = [], 0
    for characters, label in spans:
        start = text.index(characters, position)
        position = start + len(characters)
        found.append((start, position, label))
    return found


def region_result(text: str, start: int, end: int, label: str, offsets: tuple[int, int] | None = None) -> dict:
    """A Labels region over text[start:end]; `offsets` overrides the start/end it claims (the control's bad ones)."""
    claimed = offsets or (start, end)
    return {
        "from_name": "label",
        "to_name": "text",
        "type": "labels",
        "value": {"start": claimed[0], "end": claimed[1], "text": text[start:end], "labels": [label]},
    }


def utf16(text: str, offset: int) -> int:
    """The UTF-16 offset of code point `offset`: what a backend that counts like JavaScript sends."""
    return len(text[:offset].encode("utf-16-le")) // 2


def served_spans(prediction) -> list[tuple[int, int, str]]:
    return sorted((r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in prediction.result)


def drawn_as(text: str, spans: list[tuple[int, int, str]]) -> list[Region]:
    """The regions the view must draw for `spans`, in text order: the characters at each span's offsets, its label
    and the same offsets."""
    return [Region(text[start:end], label, start, end) for start, end, label in sorted(spans)]


def listed_as(text: str, spans: list[tuple[int, int, str]]) -> Counter:
    """The rows the Regions panel must list for `spans` (in any order: the panel can sort them)."""
    return Counter(Listed(label, text[start:end]) for start, end, label in spans)


class View:
    """State the ordered tests share: Label Studio, the backend, one browser and one project."""

    def __init__(self, label_studio, backend: Backend, driver):
        self.label_studio = label_studio
        self.ls = label_studio.client()
        self.backend = backend
        self.driver = driver
        self.steps = Steps(lambda: {"Label Studio": label_studio.log_tail(40), "gunicorn": backend.tail(60)})
        self.project = None
        self.view_tasks: dict[int, str] = {}  # task id -> text
        self.train_tasks: dict[int, str] = {}
        self.ml_id: int | None = None
        self.versions: list[str] = []

    def predictions(self) -> dict[int, list]:
        by_task: dict[int, list] = {}
        for p in self.ls.predictions.list(project=self.project.id):
            by_task.setdefault(p.task, []).append(p)
        return by_task

    def retrieve_predictions(self) -> float:
        """The data manager's "Retrieve Predictions" on every task: Label Studio calls our /predict itself."""
        t0 = time.monotonic()
        self.ls.actions.create(
            id="retrieve_tasks_predictions", project=self.project.id, selected_items={"all": True, "excluded": []}
        )
        return time.monotonic() - t0

    def check_views(self, version: str, tag: str) -> int:
        """Open every view task: the view must draw and list exactly its served spans, from the prediction of
        `version`, and name that version on the prediction's tab. Returns how many regions were drawn."""
        predictions = self.predictions()
        drawn = 0
        for n, (task_id, text) in enumerate(sorted(self.view_tasks.items()), 1):
            wanted = dict(VIEW_TASKS)[text]
            held = predictions.get(task_id, [])
            assert [p.model_version for p in held] == [version], (
                f"task {task_id} holds predictions of {[p.model_version for p in held]}, expected one of {version}"
            )
            prediction = held[0]
            spans = served_spans(prediction)
            expected = located(text, wanted)
            assert spans == expected, f"task {task_id}: the backend served {spans}, the rule model gives {expected}"
            marker = wanted[-1][0]  # the last entity's characters: the editor holds the text
            seen = open_task(self.driver, self.label_studio.url, self.project.id, task_id, marker, len(spans))
            picture = screenshot(self.driver, ARTIFACTS / f"{tag}-task{n}.png")
            (ARTIFACTS / f"{tag}-task{n}.html").write_text(self.driver.page_source)
            where = f"task {task_id} ({text!r}, screenshot {picture})"
            # The editor shows every character; it draws each CR and LF as a line break (<br>), not as text.
            assert seen.text == text.replace("\r", "").replace("\n", ""), f"{where}: the editor shows {seen.text!r}"
            assert seen.regions == drawn_as(text, spans), (
                f"{where}: the view draws {seen.regions}, the backend served {drawn_as(text, spans)}"
            )
            assert Counter(seen.listed) == listed_as(text, spans), (
                f"{where}: the Regions panel lists {seen.listed}, the backend served {listed_as(text, spans)}"
            )
            tab = next((t for t in seen.tabs if t.id == str(prediction.id)), None)
            assert tab is not None and tab.name == shown_name(version), (
                f"{where}: no tab names prediction {prediction.id} as {shown_name(version)!r}; tabs: {seen.tabs}"
            )
            drawn += len(seen.regions)
        return drawn


@pytest.fixture(scope="module")
def driver():
    try:
        browser, missing = chromium(), None
    except BrowserMissing as exc:
        browser, missing = None, str(exc)
    if missing:
        pytest.fail(missing, pytrace=False)  # never a skip: .ci/run installs the browser
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture(scope="module")
def view(label_studio, rule_model_dir, tmp_path_factory, driver):
    tmp_path = tmp_path_factory.mktemp("labelling-view")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\n[e2e] labelling-view screenshots and page sources: {ARTIFACTS}")
    backend = Backend(
        tmp_path,
        LABEL_STUDIO_HOST=label_studio.url,
        LABEL_STUDIO_API_KEY=label_studio.api_key,
        MODEL_DIR=tmp_path / "models",
        BASELINE_MODEL_NAME=rule_model_dir,
        START_TRAINING_EACH_N_UPDATES=0,
        DEPLOY_POLICY="always",
        NUM_TRAIN_EPOCHS=1,
        MIN_TRAIN_STEPS=5,
        BATCH_SIZE=16,
        HF_HUB_OFFLINE=1,
    )
    state = View(label_studio, backend, driver)
    try:
        log_in(driver, label_studio.url, label_studio.username, label_studio.password)
        yield state
    finally:
        backend.stop()
        print(f"\n[e2e] labelling view, per-step timings:\n{state.steps.table()}")


def test_1_view_draws_the_served_spans(view):
    name = "1 retrieve predictions + open 5 views"
    with view.steps.step(name):
        ls = view.ls
        view.project = project = ls.projects.create(title="labelling view e2e", label_config=LABEL_CONFIG)
        texts = [text for text, _ in VIEW_TASKS] + [text for text, _ in TRAIN_TASKS]
        ids = ls.projects.import_tasks(project.id, request=[{"text": t} for t in texts], return_task_ids=True).task_ids
        stored = {t.id: t.data["text"] for t in ls.tasks.list(project=project.id)}
        assert [stored[i] for i in ids] == texts, "Label Studio changed a task text on import"
        view.view_tasks = dict(zip(ids[: len(VIEW_TASKS)], texts[: len(VIEW_TASKS)]))
        view.train_tasks = dict(zip(ids[len(VIEW_TASKS) :], texts[len(VIEW_TASKS) :]))

        view.ml_id = ls.ml.create(
            project=project.id, url=view.backend.url, title="ner-view-e2e", is_interactive=True
        ).id
        version = view.backend.setup(project_key(project), LABEL_CONFIG)
        view.versions.append(version)
        retrieve_s = view.retrieve_predictions()
        counts = Counter({task: len(held) for task, held in view.predictions().items()})
        assert set(counts) == set(ids) and set(counts.values()) == {1}, f"predictions per task: {dict(counts)}"

        shown = view.check_views(version, "before-retrain")
        expected = sum(len(spans) for _, spans in VIEW_TASKS)
        assert shown == expected, (shown, expected)
        view.steps.note(name, f"{version}: retrieve {retrieve_s:.1f} s, {shown} of {expected} spans drawn")


def test_2_view_shows_the_retrained_version(view):
    name = "2 retrain + views show the new version"
    with view.steps.step(name):
        ls, backend, pid = view.ls, view.backend, view.project.id
        for task_id, text in view.train_tasks.items():
            spans = located(text, dict(TRAIN_TASKS)[text])
            ls.annotations.create(id=task_id, result=[region_result(text, *span) for span in spans])
        runs = int(backend.job(pid).get("runs") or 0)
        ls.ml.train(id=view.ml_id)
        state = backend.wait_for_job(pid, runs=runs + 1, timeout=JOB_TIMEOUT_S)
        assert state.get("deployed") is True, f"the retrain did not deploy: {state}"
        version = backend.setup(project_key(view.project), LABEL_CONFIG)
        assert version == state["version"] and version not in view.versions, (version, view.versions, state)
        view.versions.append(version)
        # What a user does after a retrain; the backend's refresh already holds the new version's predictions, so
        # Label Studio must leave them as they are (one per unlabelled task, of the new version).
        view.retrieve_predictions()
        # With several predictions and no annotation, the editor drafts from the one of the project's model version.
        assert ls.projects.get(id=pid).model_version == version
        shown = view.check_views(version, "after-retrain")
        view.steps.note(name, f"{view.versions[0]} -> {version} in {state.get('duration_s')} s, {shown} spans drawn")


def test_3_control_offsets_that_drift_are_caught(view):
    """The check can fail: a prediction with UTF-16 offsets (the classic bug of a backend that counts like
    JavaScript) is drawn on the wrong characters after an emoji, and the view reader reports exactly those."""
    name = "3 control: UTF-16 offsets drawn wrong"
    with view.steps.step(name, independent=True):
        ls = view.ls
        project = ls.projects.create(title="labelling view control", label_config=LABEL_CONFIG)
        text, wanted = VIEW_TASKS[0]
        task_id = ls.projects.import_tasks(project.id, request=[{"text": text}], return_task_ids=True).task_ids[0]
        spans = located(text, wanted)
        drifted = [(utf16(text, start), utf16(text, end), label) for start, end, label in spans]
        assert drifted != spans
        ls.predictions.create(
            task=task_id,
            model_version="utf16-offsets",
            score=0.5,
            result=[
                region_result(text, start, end, label, offsets=bad[:2])
                for (start, end, label), bad in zip(spans, drifted)
            ],
        )
        seen = open_task(view.driver, view.label_studio.url, project.id, task_id, wanted[-1][0], len(spans))
        screenshot(view.driver, ARTIFACTS / "control-utf16-offsets.png")
        assert seen.regions == drawn_as(text, drifted), f"the view draws {seen.regions}"
        assert seen.regions != drawn_as(text, spans)
        view.steps.note(name, f"drawn {[r.text for r in seen.regions]} for {[text[s:e] for s, e, _ in spans]}")
