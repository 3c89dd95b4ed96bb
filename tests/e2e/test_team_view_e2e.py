"""The team view against a real Label Studio and headless Chromium: what annotators did in the labelling view is
what the page reports, a long retrain shows live progress, and the new version lands on the curve.

An annotator opens three tasks in Label Studio's labelling view, where the rule model's predictions are drawn
(tests/support/rule_model.py, so the served regions are known): accepts one task's regions as they are, deletes a
region in the second, relabels one in the third, and submits each. The team page's acceptance for the served version
must be exactly those figures (4 of 6 regions kept, 1 changed, 1 deleted). Then Start Training runs a retrain made
long by its settings (MIN_TRAIN_STEPS, not sleeps): the JSON API must give at least two distinct, increasing progress
values while it runs, and the open page (its script polls that JSON) must show at least two. After it, the new
version is listed with its F1 and the curve has one more point. Screenshots, the page source and the annotations as
Label Studio sent them go to $NERB_ARTIFACTS/team-view (default /tmp/nerb-artifacts/team-view).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import requests

from bench.corpus import LABEL_CONFIG
from tests.e2e.backend import Backend, Steps, project_key
from tests.e2e.browser import BrowserMissing, artifacts, chromium, log_in, open_task, screenshot, wait

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARTIFACTS = artifacts("team-view")
JOB_TIMEOUT_S = 600
TRAIN_STEPS = 100  # 3 tasks: 100 epochs of one step, each scored: long enough for several progress writes (1/s)

ACCEPTED = ("Angela Merkel visited Paris.", [("Angela Merkel", "PER"), ("Paris", "LOC")])
DELETED = ("Apple opened an office in Berlin.", [("Apple", "ORG"), ("Berlin", "LOC")])  # Berlin is deleted
RELABELLED = ("Tim Cook flew to Tokyo.", [("Tim Cook", "PER"), ("Tokyo", "LOC")])  # Tokyo becomes MISC
UNLABELLED = ["Sony and Siemens met in Geneva.", "Alice met Bob in London."]

# Acts on the labelling view the way an annotator does: select a region in the Regions panel, then delete it
# (Backspace, the editor's hotkey) or click another label; Submit.
_SELECT_JS = """
const wanted = arguments[0];
const item = Array.from(document.querySelectorAll('.lsf-outliner-item'))
  .find(i => ((i.querySelector('.lsf-outliner-item__text') || {}).innerText || '').trim() === wanted);
if (!item) return false;
item.click();
return true;
"""
_LABEL_JS = """
const wanted = arguments[0];
const label = Array.from(document.querySelectorAll('.lsf-label'))
  .find(l => (l.innerText || '').trim().startsWith(wanted));
if (!label) return false;
label.click();
return true;
"""
_SUBMIT_JS = """
const button = Array.from(document.querySelectorAll('button'))
  .find(b => (b.innerText || '').trim() === 'Submit' && !b.disabled);
if (!button) return false;
button.click();
return true;
"""


def summary(backend: Backend, project: int) -> dict:
    r = backend.get(f"/team/api/projects/{project}")
    assert r.status_code == 200, f"GET /team/api/projects/{project} -> {r.status_code}: {r.text[:500]}"
    return r.json()


def until(condition, timeout: float, what: str, every: float = 0.2):
    """Poll `condition()` until it returns something truthy (returned); else fail saying `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s (last: {last!r})")


@pytest.fixture(scope="module")
def driver():
    try:
        browser, missing = chromium(window=(1300, 2400)), None
    except BrowserMissing as exc:
        browser, missing = None, str(exc)
    if missing:
        pytest.fail(missing, pytrace=False)  # never a skip: .ci/run installs the browser
    try:
        yield browser
    finally:
        browser.quit()


def annotate(driver, label_studio, project: int, task: int, text: str, regions: int, action=None) -> None:
    """Open the task's labelling view, wait for the predicted regions, apply `action(driver)` and submit."""
    seen = open_task(driver, label_studio.url, project, task, text.split()[0], regions)
    assert len(seen.regions) == regions, f"task {task}: the view draws {seen.regions}, expected {regions} regions"
    if action is not None:
        action(driver)
    wait(driver).until(lambda d: d.execute_script(_SUBMIT_JS))


def delete_region(characters: str):
    def act(driver):
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        assert driver.execute_script(_SELECT_JS, characters), f"no region {characters!r} in the Regions panel"
        ActionChains(driver).send_keys(Keys.BACKSPACE).perform()
        wait(driver).until(lambda d: not d.execute_script(_SELECT_JS, characters) or None)

    return act


def relabel_region(characters: str, label: str):
    def act(driver):
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        assert driver.execute_script(_SELECT_JS, characters), f"no region {characters!r} in the Regions panel"
        assert driver.execute_script(_LABEL_JS, label), f"no label {label!r} to click"
        wait(driver).until(
            lambda d: d.execute_script(
                "return Array.from(document.querySelectorAll('.lsf-outliner-item')).some(i => "
                "i.innerText.includes(arguments[0]) && i.innerText.includes(arguments[1]))",
                characters,
                label,
            )
        )
        ActionChains(driver).send_keys(Keys.ESCAPE).perform()

    return act


def test_team_view_reports_what_annotators_did_and_a_retrain_live(label_studio, rule_model_dir, tmp_path, driver):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    backend = Backend(
        tmp_path,
        LABEL_STUDIO_HOST=label_studio.url,
        LABEL_STUDIO_API_KEY=label_studio.api_key,
        MODEL_DIR=tmp_path / "models",
        BASELINE_MODEL_NAME=rule_model_dir,
        START_TRAINING_EACH_N_UPDATES=0,
        DEPLOY_POLICY="always",
        NUM_TRAIN_EPOCHS=1,
        MIN_TRAIN_STEPS=TRAIN_STEPS,
        FINAL_FIT="train",
        BATCH_SIZE=4,
        HF_HUB_OFFLINE=1,
    )
    steps = Steps(lambda: {"Label Studio": label_studio.log_tail(40), "gunicorn": backend.tail(80)})
    try:
        ls = label_studio.client()
        log_in(driver, label_studio.url, label_studio.username, label_studio.password)
        with steps.step("1 annotate three tasks in the labelling view"):
            project = ls.projects.create(title="team view e2e", label_config=LABEL_CONFIG)
            pid = project.id
            texts = [ACCEPTED[0], DELETED[0], RELABELLED[0], *UNLABELLED]
            ids = ls.projects.import_tasks(pid, request=[{"text": t} for t in texts], return_task_ids=True).task_ids
            ml = ls.ml.create(project=pid, url=backend.url, title="ner-team-e2e", is_interactive=True)
            served = backend.setup(project_key(project), LABEL_CONFIG)
            ls.actions.create(
                id="retrieve_tasks_predictions", project=pid, selected_items={"all": True, "excluded": []}
            )
            for task, (text, _), action in (
                (ids[0], ACCEPTED, None),
                (ids[1], DELETED, delete_region("Berlin")),
                (ids[2], RELABELLED, relabel_region("Tokyo", "MISC")),
            ):
                annotate(driver, label_studio, pid, task, text, 2, action)
                # the next task's view opens only once Label Studio stored this one (never mid-request)
                until(lambda t=task: len(list(ls.annotations.list(id=t))) == 1, 60, f"task {task}'s submit")

        with steps.step("2 the page's acceptance equals what the annotator did"):

            def row():
                rows = [q for q in summary(backend, pid)["quality"]["versions"] if q["model_version"] == served]
                return rows[0] if rows and rows[0]["tasks"] == 3 else None

            got = until(row, 60, f"three annotations of {served} reaching the team view")
            assert (got["kept"], got["changed"], got["deleted"], got["added"], got["predicted"]) == (4, 1, 1, 0, 6), got
            assert got["rate"] == pytest.approx(4 / 6)
            record_fixtures(tmp_path / "models" / str(pid), ids[:3])
            driver.get(f"{backend.url}/team/{pid}")
            shown = driver.execute_script(
                "const r = document.querySelector('#acceptance tr[data-version=\"' + arguments[0] + '\"] .rate');"
                "return r ? r.textContent : null;",
                served,
            )
            assert shown == "66.7%", f"the page shows {shown!r} kept for {served}"
            before = summary(backend, pid)
            screenshot(driver, ARTIFACTS / "team-view-before-retrain.png")

        with steps.step("3 a long retrain shows live progress in the API and on the page"):
            runs = int(backend.job(pid).get("runs") or 0)
            driver.get(f"{backend.url}/team/{pid}?poll=0.5")
            ls.ml.train(id=ml.id)
            api_values, page_values, during = [], [], None
            deadline = time.monotonic() + JOB_TIMEOUT_S
            while time.monotonic() < deadline:
                job = summary(backend, pid)["now"]["job"]
                if job["state"] == "running" and job["progress"] is not None:
                    if not api_values or api_values[-1] != job["progress"]:
                        api_values.append(job["progress"])
                shown = driver.execute_script(
                    "const e = document.querySelector('[data-field=\"now.job.progress\"][data-format=percent]');"
                    "return e ? e.textContent : null;"
                )
                if shown and (not page_values or page_values[-1] != shown):
                    page_values.append(shown)
                if int(backend.job(pid).get("runs") or 0) > runs and backend.job(pid).get("state") in (
                    "finished",
                    "failed",
                ):
                    break
                message = driver.execute_script(
                    "const e = document.querySelector('[data-field=\"now.job.message\"]');"
                    "return e ? e.textContent : '';"
                )
                if not during and "epoch" in (message or ""):  # fine-tuning: the docs' picture
                    during = screenshot(driver, ARTIFACTS / "team-view-during-retrain.png")
                time.sleep(0.2)
            state = backend.job(pid)
            assert state.get("state") == "finished", f"the retrain did not finish: {state}"
            assert len(api_values) >= 2 and api_values == sorted(api_values), f"API progress values: {api_values}"
            assert len(set(page_values) - {""}) >= 2, f"the page showed {page_values}"
            assert during is not None, "the page never showed a fine-tuning epoch"
            steps.note("3 a long retrain shows live progress in the API and on the page", f"API {api_values}")

        with steps.step("4 the new version with its F1 and one more curve point"):
            after = until(
                lambda: (s := summary(backend, pid))["history"]["total"] > before["history"]["total"] and s,
                60,
                "a new version",
            )
            new = after["history"]["versions"][0]
            assert new["version"] == state["version"] and new["f1"] is not None
            assert len(after["curve"]["points"]) == len(before["curve"]["points"]) + 1
            refreshed = {
                row[0]
                for line in (tmp_path / "models" / str(pid) / "served.jsonl").read_text().splitlines()
                if (row := json.loads(line))[1] == new["version"]
            }
            assert set(ids[3:]) <= refreshed, f"the refresh's imports were not kept as served: {refreshed}"
            driver.get(f"{backend.url}/team/{pid}")
            wait(driver).until(lambda d: state["version"] in d.page_source)
            page = driver.page_source
            assert f"{new['f1']:.3f}" in page
            (ARTIFACTS / "team-view.html").write_text(page)
            screenshot(driver, ARTIFACTS / "team-view.png")
            r = requests.get(f"{backend.url}/team/{pid}", timeout=10)
            assert r.status_code == 200
    finally:
        backend.stop()
        print(f"\n[e2e] team view, per-step timings:\n{steps.table()}\n[e2e] artifacts: {ARTIFACTS}")


def record_fixtures(project_dir: Path, task_ids: list[int]) -> None:
    """Keep what Label Studio sent (the mirrored annotations) and what was served, for the unit tests' fixtures."""
    target = ARTIFACTS / "recorded"
    target.mkdir(parents=True, exist_ok=True)
    tasks = [json.loads((project_dir / "annotations" / f"{t}.json").read_text()) for t in task_ids]
    (target / "labelling_view_tasks.json").write_text(json.dumps(tasks, indent=1, ensure_ascii=False))
    shutil.copy2(project_dir / "served.jsonl", target / "served.jsonl")
