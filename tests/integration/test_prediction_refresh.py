"""After a deploy the worker imports predictions for a bounded set of unlabelled tasks (the same predictions
/predict serves), keeps one version's predictions in Label Studio, and sweeps the pool over successive deploys.
"""

from __future__ import annotations

import shutil
from collections import Counter

from bench.corpus import LABEL_CONFIG
from modeling.cache import ModelCache
from services.predict import ranking_from_settings
from services.refresh import PredictionRefresh, carried_over, sweep_start
from settings import Settings
from store.local import LocalStore
from tests.support.rule_model import NER_TAGS

TEXTS = ["Angela Merkel met Sony in Tokyo.", "maybe Apple", "nothing here", "Tim Cook flew to Paris."]


class LabelStudioProjectDouble:
    """The calls the refresh makes, answered from memory with Label Studio's semantics (the real server is
    covered by tests/e2e/test_scale.py): server-side unlabelled filter, id order, predictions per version."""

    def __init__(self, tasks: list[dict]):
        self.all = {t["id"]: t for t in tasks}
        self.annotated: set[int] = set()
        self.rows: list[dict] = []
        self.model_version = "ner-backend"  # what adding a backend sets: its title
        self.deleted_versions: list[str] = []
        self.listed: list[int] = []  # ids handed out by tasks(), to see how much was read

    def project(self, project: int) -> dict:
        return {"id": project, "model_version": self.model_version, "label_config": LABEL_CONFIG}

    def tasks(self, project: int, annotated: bool | None = None, after: int = 0, ids=None):
        assert annotated is False
        wanted = None if ids is None else set(ids)
        for task_id in sorted(self.all):
            if task_id > after and task_id not in self.annotated and (wanted is None or task_id in wanted):
                self.listed.append(task_id)
                yield self.all[task_id]

    def predictions(self, project: int) -> list[dict]:
        return [{k: r[k] for k in ("task", "score", "model_version")} for r in self.rows]

    def model_versions(self, project: int) -> dict[str, int]:
        return dict(Counter(r["model_version"] for r in self.rows))

    def delete_predictions(self, project: int, version: str) -> int:
        before = len(self.rows)
        self.rows = [r for r in self.rows if r["model_version"] != version]
        self.deleted_versions.append(version)
        return before - len(self.rows)

    def import_predictions(self, project: int, predictions: list[dict]) -> int:
        self.rows += predictions
        return len(predictions)

    def set_model_version(self, project: int, version: str) -> None:
        self.model_version = version


def refresher(env: dict, max_tasks: int) -> tuple[PredictionRefresh, LocalStore]:
    settings = Settings.from_env(env)
    store = LocalStore(settings.model_dir)
    models = ModelCache(settings, store)
    return PredictionRefresh(models, lambda project: ranking_from_settings(settings).single_pass(), max_tasks), store


def deploy_copy(store: LocalStore, source, annotations: int) -> str:
    def write(directory):
        for f in source.iterdir():
            shutil.copy(f, directory / f.name)

    version = store.save(1, annotations, write, {"labels": ["PER", "ORG", "LOC", "MISC"], "tags": NER_TAGS}).name
    store.deploy(1, version)
    return version


def test_the_refresh_imports_what_predict_serves_and_points_the_project_at_the_version(
    rule_model_dir, make_client, tmp_path
):
    tasks = [{"id": 10 + i, "data": {"text": text}} for i, text in enumerate(TEXTS)]
    env = {"BASELINE_MODEL_NAME": str(rule_model_dir), "MODEL_DIR": str(tmp_path / "models")}
    served = make_client(**env).post("/predict", json={"tasks": tasks, "project": 1, "label_config": LABEL_CONFIG})
    assert served.status_code == 200

    refresh, _ = refresher(env, max_tasks=1000)
    api = LabelStudioProjectDouble(tasks)
    assert refresh(api, "1", LABEL_CONFIG) == len(tasks)
    assert api.rows == [{"task": t["id"], **p} for t, p in zip(tasks, served.json["results"])]
    assert any(p["result"] for p in api.rows)  # the rule model finds entities: not an empty comparison
    assert api.model_version == served.json["results"][0]["model_version"]


def test_a_combined_version_is_refreshed_as_one_with_its_spans_and_choices(rule_model_dir, make_client, tmp_path):
    from tests.support.choice_model import build_choice_model
    from tests.support.combined import COMBINED_CONFIG, save_combined_version

    tasks = [{"id": 10 + i, "data": {"text": text}} for i, text in enumerate(["good Angela Merkel", "bad Tokyo"])]
    env = {"BASELINE_MODEL_NAME": str(rule_model_dir), "MODEL_DIR": str(tmp_path / "models")}
    store = LocalStore(tmp_path / "models")
    version = save_combined_version(store, "1", rule_model_dir, build_choice_model(tmp_path / "choice-model"))
    store.deploy("1", version)
    served = make_client(**env).post("/predict", json={"tasks": tasks, "project": 1, "label_config": COMBINED_CONFIG})
    assert served.status_code == 200

    refresh, _ = refresher(env, max_tasks=1000)
    api = LabelStudioProjectDouble(tasks)
    assert refresh(api, "1", COMBINED_CONFIG) == len(tasks)
    assert api.rows == [{"task": t["id"], **p} for t, p in zip(tasks, served.json["results"])]
    assert [sorted({r["type"] for r in p["result"]}) for p in api.rows] == [["choices", "labels"]] * 2
    assert api.model_version == version


def test_the_previous_versions_least_confident_tasks_are_carried_over_lowest_first():
    rows = [
        {"task": 5, "score": 0.9, "model_version": "v1"},
        {"task": 3, "score": 0.2, "model_version": "v1"},
        {"task": 8, "score": 0.1, "model_version": "v0"},
        {"task": 7, "score": None, "model_version": "v1"},
        {"task": 4, "score": 0.5, "model_version": "v1"},
    ]
    assert carried_over(rows, "v1", 2) == [3, 4]
    assert carried_over(rows, "v1", 10) == [3, 4, 5, 7]  # a prediction without a score goes last
    assert carried_over(rows, None, 10) == []
    assert sweep_start(rows, "v1") == 7 and sweep_start(rows, "v2") == 0


def test_deploys_refresh_a_bounded_set_keep_one_version_and_sweep_the_whole_pool(rule_model_dir, tmp_path):
    # "maybe" makes the rule model unsure: tasks 103, 110, ... are the least confident of the pool.
    tasks = [
        {"id": 100 + i, "data": {"text": ("maybe Sony" if i % 7 == 3 else f"Alice met Bob {i}")}} for i in range(30)
    ]
    refresh, store = refresher({"BASELINE_MODEL_NAME": str(rule_model_dir), "MODEL_DIR": str(tmp_path / "m")}, 10)
    api = LabelStudioProjectDouble(tasks)

    v1 = deploy_copy(store, rule_model_dir, 10)
    assert refresh(api, "1", LABEL_CONFIG) == 10
    assert [r["task"] for r in api.rows] == list(range(100, 110))  # first deploy: the pool's start, in id order
    assert api.model_version == v1
    before = api.predictions(1)
    assert carried_over(before, v1, 1) == [103]  # the unsure text is the least confident

    api.annotated.add(103)  # the annotator labelled the task Uncertainty sampling served first
    api.listed.clear()
    v2 = deploy_copy(store, rule_model_dir, 20)
    assert refresh(api, "1", LABEL_CONFIG) == 10
    refreshed = [r["task"] for r in api.rows]
    carried = [t for t in carried_over(before, v1, 5) if t != 103]
    assert len(carried) == 4 and refreshed[:4] == carried  # the still unlabelled least confident, lowest first
    assert set(refreshed) >= {110, 111, 112}  # then the sweep goes on after the previous set
    assert {r["model_version"] for r in api.rows} == {v2} and len(refreshed) == len(set(refreshed))
    assert v1 in api.deleted_versions and api.model_version == v2
    assert len(api.listed) <= 2 * 10 + 5  # the refresh read about what it scored, never the whole pool

    seen = set(refreshed) | set(range(100, 110))
    for n in range(3, 6):  # successive deploys sweep on and wrap around: every task gets scored
        deploy_copy(store, rule_model_dir, 10 * n)
        assert refresh(api, "1", LABEL_CONFIG) == 10
        assert len(api.rows) == 10 and max(Counter(r["task"] for r in api.rows).values()) == 1
        seen |= {r["task"] for r in api.rows}
    assert seen == set(range(100, 130))


def test_without_a_bound_every_unlabelled_task_is_refreshed(rule_model_dir, tmp_path):
    tasks = [{"id": i, "data": {"text": f"Alice in Paris {i}"}} for i in range(1, 13)]
    refresh, store = refresher({"BASELINE_MODEL_NAME": str(rule_model_dir), "MODEL_DIR": str(tmp_path / "m")}, 0)
    api = LabelStudioProjectDouble(tasks)
    api.annotated.add(4)
    deploy_copy(store, rule_model_dir, 10)
    assert refresh(api, "1", LABEL_CONFIG) == 11
    deploy_copy(store, rule_model_dir, 20)
    assert refresh(api, "1", LABEL_CONFIG) == 11 and len(api.rows) == 11  # replaced, not added
