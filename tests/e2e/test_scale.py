"""A 20,000-task project against the real Label Studio: listing streams what the server filtered, each deploy's
refresh is bounded by REFRESH_MAX_TASKS, and the database keeps one version's predictions however many deploys.

The numbers (time and peak Python memory of the listings, time of each refresh, prediction rows before and after
each deploy) are printed and, with SCALE_RESULTS=<file>, written as JSON for bench/SCALE.md.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import tracemalloc
from collections import Counter

import pytest

from bench.corpus import LABEL_CONFIG, make_tasks
from infra.label_studio import LabelStudioAPI
from modeling.cache import ModelCache
from services.predict import ranking_from_settings
from services.refresh import PredictionRefresh
from settings import Settings
from store.local import LocalStore
from tests.support.rule_model import NER_TAGS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TASKS = int(os.environ.get("SCALE_TASKS", 20_000))
ANNOTATED = 40
REFRESH_MAX_TASKS = 500
LEGACY = 2000  # tasks holding a prediction the old refresh left behind
DEPLOYS = 3


def measured(fn):
    """(result, seconds, peak MiB of Python allocations while it ran)."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = fn()
    finally:
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return result, round(seconds, 2), round(peak, 1)


def rows(api: LabelStudioAPI, project: int) -> int:
    return sum(api.model_versions(project).values())


def deploy_copy(store: LocalStore, project: int, source, annotations: int) -> str:
    def write(directory):
        for f in source.iterdir():
            shutil.copy(f, directory / f.name)

    info = store.save(project, annotations, write, {"labels": ["PER", "ORG", "LOC", "MISC"], "tags": NER_TAGS})
    store.deploy(project, info.name)
    return info.name


def test_a_20000_task_project_lists_by_streaming_and_keeps_one_prediction_per_task_over_deploys(
    label_studio, rule_model_dir, tmp_path
):
    numbers: dict = {
        "tasks": TASKS,
        "annotated": ANNOTATED,
        "legacy_predictions": LEGACY,
        "refresh_max_tasks": REFRESH_MAX_TASKS,
        "load_average": os.getloadavg(),
    }
    api = LabelStudioAPI(label_studio.url, label_studio.api_key)
    client = api.client
    project = client.projects.create(title="scale 20k", label_config=LABEL_CONFIG).id
    texts = [t["data"]["text"] for t in make_tasks(TASKS, seed=11)]
    started = time.perf_counter()
    ids = client.projects.import_tasks(id=project, request=[{"text": t} for t in texts], return_task_ids=True).task_ids
    numbers["import_tasks_s"] = round(time.perf_counter() - started, 1)
    assert len(ids) == TASKS
    for task_id in ids[:: TASKS // ANNOTATED]:
        client.annotations.create(id=task_id, result=[])
    # A project that ran the old refresh: predictions of an older version, never removed.
    started = time.perf_counter()
    client.projects.import_predictions(
        id=project,
        request=[{"task": task_id, "result": [], "score": 0.5, "model_version": "legacy"} for task_id in ids[:LEGACY]],
    )
    numbers["import_legacy_predictions_s"] = round(time.perf_counter() - started, 1)

    annotated, numbers["list_annotated_s"], numbers["list_annotated_peak_mib"] = measured(
        lambda: list(api.tasks(project, annotated=True))
    )
    assert len(annotated) == ANNOTATED and all(t["annotations"] for t in annotated)
    count, numbers["stream_unlabelled_s"], numbers["stream_unlabelled_peak_mib"] = measured(
        lambda: sum(1 for _ in api.tasks(project, annotated=False))
    )
    assert count == TASKS - ANNOTATED
    assert numbers["stream_unlabelled_peak_mib"] < 64  # a page at a time, not 20,000 tasks with their predictions

    settings = Settings.from_env({"BASELINE_MODEL_NAME": str(rule_model_dir), "MODEL_DIR": str(tmp_path / "m")})
    store = LocalStore(settings.model_dir)
    refresh = PredictionRefresh(
        ModelCache(settings, store), lambda p: ranking_from_settings(settings, None).single_pass(), REFRESH_MAX_TASKS
    )
    numbers["deploys"] = []
    for n in range(1, DEPLOYS + 1):
        before = rows(api, project)
        version = deploy_copy(store, project, rule_model_dir, 10 * n)
        imported, seconds, peak = measured(lambda: refresh(api, str(project), LABEL_CONFIG))
        after = api.model_versions(project)
        per_task = Counter(p["task"] for p in api.predictions(project))
        numbers["deploys"].append(
            {
                "version": version,
                "rows_before": before,
                "rows_after": sum(after.values()),
                "refresh_s": seconds,
                "refresh_peak_mib": peak,
                "imported": imported,
            }
        )
        assert imported == REFRESH_MAX_TASKS
        assert after == {version: REFRESH_MAX_TASKS}  # every other version's predictions were deleted
        assert max(per_task.values()) == 1
        assert api.project(project)["model_version"] == version
    numbers["load_average_after"] = os.getloadavg()
    print("\n[scale] " + json.dumps(numbers))
    if os.environ.get("SCALE_RESULTS"):
        with open(os.environ["SCALE_RESULTS"], "w") as f:
            json.dump(numbers, f, indent=2)
