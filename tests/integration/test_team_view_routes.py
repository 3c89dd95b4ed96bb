"""The team view through the real app (in-process worker, rule model): its JSON API and its pages, with the faults
a team meets: unknown projects, no version yet, a failed job, Redis down, HTML in labels, thousands of versions."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest

from bench.corpus import LABEL_CONFIG, make_tasks
from bench.servers import free_port
from store.local import LocalStore
from tests.support.bodies import PROJECT, annotation_webhook, predict_body, start_training_webhook
from tests.support.jobs import wait_job
from tests.support.rule_model import save_rule_version
from tests.support.serving import results_once_serving

TEXT = "Angela Merkel met Sony in Tokyo."  # the rule model: PER 0-13, ORG 18-22, LOC 26-31


def region(start: int, end: int, label: str) -> dict:
    return {
        "from_name": "label",
        "to_name": "text",
        "type": "labels",
        "value": {"start": start, "end": end, "text": TEXT[start:end], "labels": [label]},
    }


def settled(client, project: int = 1, timeout: float = 30.0) -> dict:
    """The project's summary once its acceptance figures are computed (a background thread computes them)."""
    deadline = time.monotonic() + timeout
    while True:
        summary = client.get(f"/team/api/projects/{project}").json
        if not summary["quality"]["computing"] or time.monotonic() > deadline:
            return summary
        time.sleep(0.05)


def deployed_rule_version(client, rule_model_dir, tmp_path, **meta) -> str:
    """The rule model stored and deployed as project 1's first version, served by `client` (returns its name)."""
    store = LocalStore(tmp_path / "models")
    info = save_rule_version(store, rule_model_dir, annotations=12)
    if meta:
        store.amend_meta(1, info.name, **meta)
    store.deploy(1, info.name)
    return info.name


@pytest.mark.parametrize("with_redis", [False, True], ids=["on-disk", "redis"])
def test_acceptance_of_api_annotations_is_measured_against_what_was_served(
    make_client, rule_model_dir, tmp_path, request, with_redis
):
    env = {"REDIS_URL": request.getfixturevalue("private_redis").url} if with_redis else {}
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, START_TRAINING_EACH_N_UPDATES=0, **env)
    version = deployed_rule_version(client, rule_model_dir, tmp_path)
    body = predict_body(TEXT, TEXT)
    served = results_once_serving(lambda: client.post("/predict", json=body).json, version)
    assert [len(r["result"]) for r in served] == [3, 3]
    kept_all = [region(0, 13, "PER"), region(18, 22, "ORG"), region(26, 31, "LOC")]
    corrected = [region(0, 13, "PER"), region(18, 22, "MISC"), region(5, 9, "MISC")]  # ORG relabelled, LOC gone
    for task_id, result in ((1, kept_all), (2, corrected)):
        task = {"id": task_id, "data": {"text": TEXT}, "annotations": [{"id": 10 + task_id, "result": result}]}
        webhook = annotation_webhook(task, annotated=task_id)
        webhook["annotation"].update(prediction={}, lead_time=None)  # as Label Studio sends an API annotation
        assert client.post("/webhook", json=webhook).status_code == 201

    summary = settled(client)
    (row,) = [q for q in summary["quality"]["versions"] if q["model_version"] == version]
    assert (row["kept"], row["changed"], row["deleted"], row["added"], row["predicted"]) == (4, 1, 1, 1, 6)
    assert row["rate"] == 4 / 6
    assert summary["quality"]["sources"] == {"annotation": 0, "served": 2, "none": 0}
    page = client.get("/team/1").get_data(as_text=True)
    assert re.search(rf'<tr data-version="{version}">.*?<td class="rate">66\.7%</td>', page, re.S)
    assert (tmp_path / "models" / "1" / "served.jsonl").exists() is not with_redis  # Redis keeps it when there


def test_summary_shows_the_deployed_version_its_metrics_and_the_stop_sentence(make_client, rule_model_dir, tmp_path):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, MLFLOW_TRACKING_URI="http://mlflow.example:5000")
    metrics = {"entity_f1": 0.5, "per_type": {"PER": {"f1": 0.75}, "ORG": {"f1": 0.25}}}
    version = deployed_rule_version(
        client, rule_model_dir, tmp_path, metrics=metrics, deployed=True, reason="better than the current model"
    )
    summary = client.get("/team/api/projects/1").json
    assert summary["now"]["deployed"] == {"version": version, "precision": "fp32", "f1": 0.5, "annotations": 12}
    (row,) = summary["history"]["versions"]
    assert row["per_label"] == {"PER": 0.75, "ORG": 0.25} and row["reason"] == "better than the current model"
    assert summary["curve"]["points"] == [{"version": version, "annotations": 12, "f1": 0.5, "acceptance": None}]
    assert summary["curve"]["stop"]["sentence"].startswith("Too early to tell")
    assert summary["now"]["report"]["degraded"], "the status report is shown from the monitor"
    page = client.get("/team/1").get_data(as_text=True)
    for shown in (version, "0.750", "better than the current model", "Too early to tell", "F1 PER"):
        assert shown in page
    listing = client.get("/team/api/projects").json["projects"]
    assert [(p["project"], p["deployed"], p["versions"]) for p in listing] == [("1", version, 1)]
    assert 'id="metric"' not in page  # entity F1 needs no note


def test_a_classification_versions_curve_says_its_f1_is_macro_f1(make_client, rule_model_dir, tmp_path):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir)
    metrics = {"macro_f1": 0.625, "per_type": {"positive": {"f1": 0.75}}}
    version = deployed_rule_version(client, rule_model_dir, tmp_path, metrics=metrics, deploy_metric="macro_f1")
    summary = client.get("/team/api/projects/1").json
    assert summary["curve"]["metric"] == "macro_f1"
    assert summary["curve"]["points"] == [{"version": version, "annotations": 12, "f1": 0.625, "acceptance": None}]
    page = client.get("/team/1").get_data(as_text=True)
    assert "Validation F1 here is macro-F1 over the classes of the choices" in page and "F1 positive" in page


def test_unknown_project_is_a_404_page_and_a_bad_id_a_400(make_client):
    client = make_client()
    page = client.get("/team/77")
    assert page.status_code == 404 and "project 77 is unknown" in page.get_data(as_text=True)
    assert page.content_type.startswith("text/html")
    assert client.get("/team/api/projects/77").status_code == 404
    bad = client.get("/team/abc")
    assert bad.status_code == 400 and "invalid project id" in bad.get_data(as_text=True)
    assert client.get("/team/api/projects/1?page=x").status_code == 400


def test_a_project_without_a_version_says_when_the_first_training_comes(make_client, rule_model_dir):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, START_TRAINING_EACH_N_UPDATES=5)
    client.post("/setup", json={"project": PROJECT, "schema": LABEL_CONFIG})
    tasks = make_tasks(2, seed=3)
    for i, task in enumerate(tasks):
        client.post("/webhook", json=annotation_webhook(task, annotated=i + 1))
    summary = client.get("/team/api/projects/1").json
    assert summary["now"]["deployed"] is None
    assert summary["now"]["next_training"].startswith("The first training starts after 3 more annotations")
    page = client.get("/team/1").get_data(as_text=True)
    assert "The first training starts after 3 more annotations" in page and "no trained version yet" in page


def test_a_failed_job_shows_its_error_in_words(make_client, rule_model_dir):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, START_TRAINING_EACH_N_UPDATES=0)
    client.post("/setup", json={"project": PROJECT, "schema": LABEL_CONFIG})
    client.post("/webhook", json=start_training_webhook())  # no annotation anywhere: the job cannot train
    state = wait_job(client, lambda s: s.get("state") == "failed", timeout=60)
    outcome = client.get("/team/api/projects/1").json["now"]["last_outcome"]
    assert outcome["ok"] is False and outcome["error"] == state["error"] and "annotation" in outcome["error"]
    page = client.get("/team/1").get_data(as_text=True)
    assert "failed" in page and _escaped(state["error"]) in page


def test_html_in_labels_reasons_and_errors_is_shown_as_text(make_client, rule_model_dir, tmp_path):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir)
    evil = "<script>alert(1)</script>"
    deployed_rule_version(
        client,
        rule_model_dir,
        tmp_path,
        metrics={"entity_f1": 0.4, "per_type": {evil: {"f1": 0.4}}},
        reason=f"reason {evil}",
    )
    page = client.get("/team/1").get_data(as_text=True)
    assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert client.get("/team/api/projects/1").json["labels"] == [evil]  # JSON keeps it as data


def test_pages_use_only_relative_urls_and_local_assets_so_a_path_prefix_works(make_client, rule_model_dir, tmp_path):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir)
    deployed_rule_version(client, rule_model_dir, tmp_path)
    for path in ("/team/", "/team/1"):
        page = client.get(path).get_data(as_text=True)
        urls = re.findall(r'(?:href|src|data-api)="([^"]*)"', page)
        assert urls and all(not u.startswith(("/", "http:", "https:", "//")) for u in urls), urls
    assert client.get("/team/static/team.js").status_code == 200
    assert client.get("/team/static/team.css").status_code == 200


def test_basic_auth_covers_the_pages_and_their_json(make_client):
    client = make_client(BASIC_AUTH_USER="lead", BASIC_AUTH_PASS="s3cret")
    for path in ("/team/", "/team/api/projects", "/team/static/team.js"):
        assert client.get(path).status_code == 401
    auth = {"Authorization": "Basic " + base64.b64encode(b"lead:s3cret").decode()}
    assert client.get("/team/", headers=auth).status_code == 200


def test_redis_down_the_page_says_so_and_shows_what_it_still_knows(make_client, rule_model_dir, tmp_path):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    version = deployed_rule_version(client, rule_model_dir, tmp_path)
    response = client.get("/team/1")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and version in page
    assert "Redis is unavailable" in page


def test_thousands_of_versions_stay_under_a_second(make_client, rule_model_dir, tmp_path):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir)
    deployed_rule_version(client, rule_model_dir, tmp_path)
    rows = {
        f"p1-v{n}-n{10 * n}": {
            "version": f"p1-v{n}-n{10 * n}",
            "n": n,
            "created_at": 1.8e9 + n,
            "annotations": 10 * n,
            "f1": min(0.9, 0.3 + n / 5000),
            "per_label": {"PER": 0.5, "ORG": 0.4},
            "deployed": n % 3 != 0,
            "reason": "kept",
        }
        for n in range(2, 5002)
    }
    history = tmp_path / "models" / "1" / "team_history.json"
    history.write_text(json.dumps({"versions": rows, "deploys": []}))
    for _ in range(2):  # the first read merges the store's version in and fits the curve; the second reads caches
        started = time.perf_counter()
        page = client.get("/team/1")
        assert time.perf_counter() - started < 1.0
    api = client.get("/team/api/projects/1?page=3&per_page=20").json
    assert page.status_code == 200 and api["history"]["total"] == 5001 and len(api["history"]["versions"]) == 20
    assert api["history"]["versions"][0]["version"] == "p1-v4961-n49610"  # newest first, page 3
    assert len(api["curve"]["points"]) <= 200 and api["curve"]["versions"] == 5000  # the rule version has no F1


def test_a_rollback_is_listed(make_client, rule_model_dir, tmp_path):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir)
    store = LocalStore(tmp_path / "models")
    first = deployed_rule_version(client, rule_model_dir, tmp_path)
    client.get("/team/api/projects/1")
    second = save_rule_version(store, rule_model_dir, annotations=20).name
    store.deploy(1, second)
    client.get("/team/api/projects/1")
    assert client.post("/deploy", json={"project_id": 1, "version": first}).status_code == 200
    (rollback,) = client.get("/team/api/projects/1").json["history"]["rollbacks"]
    assert (rollback["from"], rollback["to"]) == (second, first)
    assert f"from {second} to {first}" in client.get("/team/1").get_data(as_text=True)


def _escaped(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def test_pool_and_stability_come_from_what_select_samples_scored(make_client, rule_model_dir, tmp_path):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, LABEL_STUDIO_HOST="http://ls.example:8080")
    store = LocalStore(tmp_path / "models")
    first = deployed_rule_version(client, rule_model_dir, tmp_path)
    texts = [TEXT, "Tim Cook flew to Tokyo.", "maybe perhaps maybe", "Alice met Bob in London."]
    select = {
        "project_id": 1,
        "label_config": LABEL_CONFIG,
        "limit": 2,
        "tasks": [{"id": i + 1, "data": {"text": t}} for i, t in enumerate(texts)],
    }
    before = client.get("/team/api/projects/1").json
    assert before["pool"]["known"] is False and before["curve"]["agreement"] == []

    def selected_with(version: str) -> dict:
        results_once_serving(lambda: client.post("/predict", json=predict_body(TEXT)).json, version)
        answer = client.post("/select_samples", json=select).json
        assert answer["model_version"] == version, answer
        return answer

    selected_with(first)
    second = save_rule_version(store, rule_model_dir, annotations=20).name
    store.deploy(1, second)
    answer = selected_with(second)
    summary = client.get("/team/api/projects/1").json
    pool = summary["pool"]
    assert pool["known"] and pool["unlabelled"] == 4 and pool["model_version"] == second
    assert [t["task"] for t in pool["next"]] == answer["task_ids"]
    assert pool["next"][0]["url"] == f"http://ls.example:8080/projects/1/data?task={answer['task_ids'][0]}"
    assert sum(b["tasks"] for b in pool["distribution"]) == pool["scored"] == 4
    assert summary["curve"]["agreement"] == [[20, 1.0]]  # the same rule model twice: every task agrees
    page = client.get("/team/1").get_data(as_text=True)
    assert "Next tasks selection would serve" in page and "100.0% agree at 20 annotations" in page


def test_store_down_the_history_shows_the_versions_seen_before(rule_model_dir, tmp_path):
    """A registry that stops answering (MLflow down) raises StoreUnavailable from the store; the view keeps the
    versions it saw in team_history.json and says what it cannot read."""
    from services.team_view import TeamView
    from settings import Settings
    from store.local import StoreUnavailable

    class RegistryThatGoesDown(LocalStore):
        down = False

        def versions(self, project):
            if self.down:
                raise StoreUnavailable("the tracking server at http://mlflow:5000 does not answer")
            return super().versions(project)

        def deployed(self, project):
            if self.down:
                raise StoreUnavailable("the tracking server at http://mlflow:5000 does not answer")
            return super().deployed(project)

    store = RegistryThatGoesDown(tmp_path / "models")
    info = save_rule_version(store, rule_model_dir, annotations=12)
    store.deploy(1, info.name)
    view = TeamView(Settings.from_env({"MODEL_DIR": str(tmp_path / "models")}), store, None, None, None, None)
    assert view.summary(1)["now"]["deployed"]["version"] == info.name
    store.down = True
    summary = view.summary(1)
    assert [v["version"] for v in summary["history"]["versions"]] == [info.name]
    assert summary["now"]["deployed"]["version"] == info.name  # the last deploy this view saw
    assert any("model store cannot be read" in p for p in summary["problems"])


def test_thousands_of_annotations_are_compared_in_the_background(make_client, rule_model_dir, tmp_path):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir)
    version = deployed_rule_version(client, rule_model_dir, tmp_path)
    folder = tmp_path / "models" / "1" / "annotations"
    folder.mkdir(parents=True)
    served = [region(0, 13, "PER"), region(18, 22, "ORG")]
    for task in range(5000):
        annotation = {"id": task, "result": served[: 1 + task % 2], "prediction": {}, "lead_time": 4.0}
        (folder / f"{task}.json").write_text(
            json.dumps({"id": task, "data": {"text": TEXT}, "annotations": [annotation]})
        )
    rows = "".join(
        json.dumps([task, version, 1.0, [["label", "text", 0, 13, "PER"], ["label", "text", 18, 22, "ORG"]]]) + "\n"
        for task in range(5000)
    )
    (tmp_path / "models" / "1" / "served.jsonl").write_text(rows)
    started = time.perf_counter()
    page = client.get("/team/1")
    assert time.perf_counter() - started < 1.0
    assert "being computed" in page.get_data(as_text=True)
    (row,) = [q for q in settled(client)["quality"]["versions"] if q["model_version"] == version]
    assert (row["tasks"], row["kept"], row["deleted"], row["predicted"]) == (5000, 7500, 2500, 10000)
    assert row["with_prediction"]["median"] == 4.0
