"""Label Studio's labelling view in headless Chromium: what an annotator sees, read from the page's DOM.

Debian's `chromium` and `chromium-driver` (/usr/bin/chromium, /usr/bin/chromedriver; CHROMIUM_BIN and CHROMEDRIVER
override them), driven by Selenium, which is pointed at that driver so it never downloads a browser. A missing
browser is a test failure, not a skip: `.ci/run` installs both packages.

What Label Studio 1.23.2's editor draws for a text region (read from its page source, see the artifacts the test
saves): the region's characters are wrapped in `<span class="htx-highlight htx-highlight-<region id> ...">`
(several spans when the region crosses another element), each with `data-start` / `data-end` (the region's offsets
in code points) and `data-label="<index>:<label>"`; the label is drawn as the span's colour, and the *Regions* panel
lists each region as `.lsf-outliner-item` with its label (`.lsf-labels-list`) and text
(`.lsf-outliner-item__text`). The tabs above the text are `.lsf-annotation-button[data-annotation-id=<id>]`, a
prediction's named by its model_version (`.lsf-annotation-button__name`, shortened when long, see `shown_name`).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
PAGE_TIMEOUT_S = 60.0

# Reads what the editor shows, in the page, so it sees exactly the DOM the browser renders: the highlighted regions
# of the text (grouped by their region class, in document order), the Regions panel and the annotation tabs.
_READ_VIEW_JS = """
const editor = document.querySelector('.lsf-main-view') || document;
const regions = new Map();
for (const span of editor.querySelectorAll('span.htx-highlight')) {
  const id = Array.from(span.classList).find(c => c.startsWith('htx-highlight-') && c !== 'htx-highlight-last');
  if (!regions.has(id)) regions.set(id, {text: '', label: null, start: null, end: null});
  const region = regions.get(id);
  // Only the span's own characters: a nested highlight belongs to another (overlapping) region.
  for (const node of span.childNodes) {
    if (node.nodeType === Node.TEXT_NODE) region.text += node.textContent;
  }
  const label = span.getAttribute('data-label');
  if (label !== null) region.label = label.slice(label.indexOf(':') + 1);
  const start = parseInt(span.getAttribute('data-start')), end = parseInt(span.getAttribute('data-end'));
  if (!isNaN(start)) region.start = region.start === null ? start : Math.min(region.start, start);
  if (!isNaN(end)) region.end = region.end === null ? end : Math.max(region.end, end);
}
const listed = Array.from(document.querySelectorAll('.lsf-outliner-item')).map(item => ({
  label: (item.querySelector('.lsf-labels-list') || {innerText: ''}).innerText.trim(),
  text: (item.querySelector('.lsf-outliner-item__text') || {innerText: ''}).innerText,
}));
const tabs = Array.from(document.querySelectorAll('.lsf-annotation-button[data-annotation-id]')).map(tab => ({
  id: tab.getAttribute('data-annotation-id'),
  name: (tab.querySelector('.lsf-annotation-button__name') || {innerText: ''}).innerText.trim(),
  selected: tab.classList.contains('lsf-annotation-button_selected'),
}));
const text = document.querySelector('.lsf-htx-richtext');
return {regions: Array.from(regions.values()), listed: listed, tabs: tabs, text: text ? text.textContent : null};
"""


_READ_CHOICES_JS = """
const editor = document.querySelector('.lsf-main-view') || document;
const text = document.querySelector('.lsf-htx-richtext');
const checked = Array.from(editor.querySelectorAll('input[type=radio], input[type=checkbox]'))
  .filter(input => input.checked)
  .map(input => {
    const label = (input.closest('label') || input.parentElement).cloneNode(true);
    for (const hint of label.querySelectorAll('sup')) hint.remove();  // the hotkey hint drawn after the name: [1]
    return label.textContent.trim();
  });
return {checked: checked, text: text ? text.textContent : null};
"""


def checked_choices(
    driver, base_url: str, project: int, task: int, text_marker: str, timeout: float = PAGE_TIMEOUT_S
) -> list[str]:
    """Open the labelling view of `task` and return the choices it shows selected (their labels as drawn), once the
    task's text is there and the same choices were read on two polls in a row."""
    from selenium.common.exceptions import TimeoutException

    driver.get(f"{base_url}/projects/{project}/data?task={task}")
    wait(driver, timeout).until(lambda d: text_marker in (d.execute_script(_READ_CHOICES_JS)["text"] or ""))
    seen: list[list[str]] = []

    def settled(d):
        seen.append(d.execute_script(_READ_CHOICES_JS)["checked"])
        return seen[-1] if len(seen) >= 2 and seen[-1] and seen[-1] == seen[-2] else False

    try:
        return wait(driver, timeout / 2).until(settled)
    except TimeoutException:
        return seen[-1] if seen else []


class BrowserMissing(RuntimeError):
    """Chromium or its driver is not installed where the test looks for it."""


@dataclass(frozen=True)
class Region:
    """A highlighted region as the editor draws it: its characters, label and offsets (code points)."""

    text: str
    label: str | None
    start: int | None
    end: int | None


@dataclass(frozen=True)
class Listed:
    """A row of the Regions panel: the label and the text the annotator reads there."""

    label: str
    text: str


@dataclass(frozen=True)
class Tab:
    """An annotation or prediction tab above the text: its id (a prediction's id in Label Studio) and name."""

    id: str
    name: str
    selected: bool


@dataclass(frozen=True)
class Seen:
    """Everything read from one labelling view."""

    regions: list[Region]
    listed: list[Listed]
    tabs: list[Tab]
    text: str | None


def artifacts(name: str) -> Path:
    """Where an e2e test keeps its screenshots and page sources: $NERB_ARTIFACTS/<name> (default under
    /tmp/nerb-artifacts)."""
    return Path(os.environ.get("NERB_ARTIFACTS", "/tmp/nerb-artifacts")) / name


def shown_name(model_version: str) -> str:
    """The name a prediction's tab shows: Label Studio 1.23.2 cuts names over 15 characters to the first 8, "..."
    and the last 6 (read from its editor bundle, and seen: "base-rule-model0" is shown as "base-rul...model0")."""
    return model_version if len(model_version) <= 15 else f"{model_version[:8]}...{model_version[-6:]}"


def chromium(window: tuple[int, int] = (1400, 900)):
    """A headless Chromium WebDriver on Debian's browser and driver (never Selenium Manager's downloads)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not (Path(path).exists() or shutil.which(path))]
    if missing:
        raise BrowserMissing(
            f"{', '.join(missing)} not found: install Debian's chromium and chromium-driver "
            "(`apt-get install chromium chromium-driver`, as .ci/run does)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={window[0]},{window[1]}",
        "--lang=en-US",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    return driver


def wait(driver, timeout: float = PAGE_TIMEOUT_S):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2)


def log_in(driver, base_url: str, email: str, password: str) -> None:
    """Log in through Label Studio's own form, so the browser holds a session cookie as an annotator's would."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    driver.get(f"{base_url}/user/login/")
    wait(driver).until(ec.presence_of_element_located((By.NAME, "email"))).send_keys(email)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()
    wait(driver).until(lambda d: "/user/login" not in d.current_url)


def read_view(driver) -> Seen:
    """What the labelling view shows now (see `_READ_VIEW_JS`)."""
    found = driver.execute_script(_READ_VIEW_JS)
    return Seen(
        [Region(r["text"], r["label"], r["start"], r["end"]) for r in found["regions"]],
        [Listed(r["label"], r["text"]) for r in found["listed"]],
        [Tab(t["id"], t["name"], t["selected"]) for t in found["tabs"]],
        found["text"],
    )


def open_task(
    driver, base_url: str, project: int, task: int, text_marker: str, regions: int, timeout: float = PAGE_TIMEOUT_S
) -> Seen:
    """Open the labelling view of `task` and return what it shows once `regions` regions are drawn and listed.

    Waits (explicitly, no sleeps) for the editor to hold the task's text (`text_marker` is a piece of it), then for
    the drawn and listed regions to number `regions` on two polls in a row (the editor draws them one by one). On
    timeout it returns what it saw last, so the caller's assertion shows what the annotator got instead.
    """
    from selenium.common.exceptions import TimeoutException

    driver.get(f"{base_url}/projects/{project}/data?task={task}")
    wait(driver, timeout).until(lambda d: text_marker in (read_view(d).text or ""))
    seen: list[Seen] = []

    def settled(d):
        seen.append(read_view(d))
        return (
            seen[-1] if len(seen) >= 2 and all(len(s.regions) == len(s.listed) == regions for s in seen[-2:]) else False
        )

    try:
        return wait(driver, timeout / 2).until(settled)
    except TimeoutException:
        return seen[-1] if seen else read_view(driver)


def screenshot(driver, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    return path
