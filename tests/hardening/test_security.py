"""Security: basic auth on every route and method, the webhook secret, no path escaping MODEL_DIR, no leaked secrets."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest
import requests

from bench.corpus import LABEL_CONFIG
from bench.servers import start_gunicorn
from store.local import LocalStore
from tests.support.bodies import predict_body, start_training_webhook
from tests.support.rule_model import save_rule_version
from tests.support.slow_http import FailingServer

ROUTES = [
    "/",
    "/health",
    "/setup",
    "/predict",
    "/webhook",
    "/metrics",
    "/versions",
    "/select_samples",
    "/train_status",
    "/deploy",
    "/projects/1",
    "/nowhere",
]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
USER, PASSWORD, SECRET = "ls-user", "pw-Zq8Kd93LmX", "whs-Yt5Rb21NpQ"
API_KEY = "apikey0123456789abcdef0123456789abcdeZZ"


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def auth_client(make_client, rule_model_dir):
    return make_client(
        BASELINE_MODEL_NAME=rule_model_dir,
        BASIC_AUTH_USER=USER,
        BASIC_AUTH_PASS=PASSWORD,
        WEBHOOK_SECRET=SECRET,
        START_TRAINING_EACH_N_UPDATES=0,
    )


def test_basic_auth_covers_every_route_and_method(auth_client):
    wrong = [
        {},
        basic(USER, "wrong"),
        basic("someone", PASSWORD),
        basic(USER, ""),
        {"Authorization": "Basic !!!"},
        {"Authorization": f"Bearer {PASSWORD}"},
        {"Authorization": "Basic " + base64.b64encode(USER.encode()).decode()},
    ]
    checked = 0
    for path in ROUTES:
        for method in METHODS:
            for headers in wrong:
                response = auth_client.open(path, method=method, headers=headers, json={"project": 1})
                assert response.status_code == 401, (method, path, headers, response.status_code)
                assert response.headers["WWW-Authenticate"].startswith("Basic")
                if method != "HEAD":
                    assert response.json == {"error": "authentication required"}
                checked += 1
            response = auth_client.open(path, method=method, headers=basic(USER, PASSWORD), json={"project": 1})
            assert response.status_code != 401, (method, path)
    print(f"{checked} unauthenticated requests refused")
    # the webhook secret opens /webhook only
    for path in ROUTES:
        if path != "/webhook":
            assert auth_client.get(f"{path}?secret={SECRET}", headers={"X-Webhook-Secret": SECRET}).status_code == 401


def test_webhook_secret_works_and_is_required(auth_client):
    body = start_training_webhook()
    body["action"] = "PROJECT_UPDATED"
    assert auth_client.post(f"/webhook?secret={SECRET}", json=body).status_code == 201
    assert auth_client.post("/webhook", json=body, headers={"X-Webhook-Secret": SECRET}).status_code == 201
    for bad in ("", "x", SECRET[:-1], SECRET + "x", SECRET.upper()):
        assert auth_client.post(f"/webhook?secret={bad}", json=body).status_code == 401
        assert auth_client.post("/webhook", json=body, headers={"X-Webhook-Secret": bad}).status_code == 401
    assert auth_client.post("/webhook", json=body).status_code == 401


def test_no_secret_means_webhook_needs_basic_auth(make_client, rule_model_dir):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, BASIC_AUTH_USER=USER, BASIC_AUTH_PASS=PASSWORD)
    body = {"action": "PROJECT_UPDATED", "project": {"id": 1}}
    assert client.post("/webhook?secret=", json=body).status_code == 401
    assert client.post("/webhook", json=body, headers=basic(USER, PASSWORD)).status_code == 201


TRAVERSAL = [
    "../../outside",
    "..",
    "../",
    "/etc/passwd",
    "/tmp/x",
    "..\\..\\outside",
    "%2e%2e%2foutside",
    "1/../../outside",
    "1/..",
    "~/x",
    "C:\\outside",
    "\x00",
    "1\x00/../x",
    "../1",
    "./1",
    "-1",
    "+1",
    "1e3",
    "0x1",
    "１",
    "١",
    " ",
    "1 2",
    "99999999999999999999999",
    "p1-v1-n1",
    "1/versions/../../../outside",
]
# Accepted on purpose, never used as a path: "<id>.<created>" is Label Studio's /setup form (everything after the
# first dot is dropped), and an empty project in /predict means "no project".
DOTTED = ["1.2/../../outside", "1.../../outside", "1./etc/passwd", ""]


def tree(root: Path, skip: Path) -> set[str]:
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip or skip in Path(dirpath).parents:
            continue
        for name in dirnames + filenames:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found


def test_project_ids_and_versions_never_escape_model_dir(tmp_path, make_client, rule_model_dir):
    models = tmp_path / "a" / "b" / "models"
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, MODEL_DIR=models, START_TRAINING_EACH_N_UPDATES=0)
    assert client.post("/setup", json={"project": "1", "schema": LABEL_CONFIG}).status_code == 200
    before_outside, before_repo = tree(tmp_path, models), set(os.listdir(Path.cwd()))
    tasks = [{"id": 1, "data": {"text": "Tim Cook of Apple."}}]
    sent = 0
    for payload in TRAVERSAL + DOTTED:
        requests_ = [
            ("/setup", {"project": payload, "schema": LABEL_CONFIG}),
            ("/predict", {**predict_body(), "project": payload}),
            (
                "/webhook",
                {
                    "action": "ANNOTATION_CREATED",
                    "project": {"id": payload, "label_config": LABEL_CONFIG},
                    "task": {"id": 5, "data": {"text": "x"}},
                    "annotation": {"id": 9, "result": []},
                },
            ),
            ("/webhook", {"action": "START_TRAINING", "project": payload}),
            ("/select_samples", {"project_id": payload, "tasks": tasks, "label_config": LABEL_CONFIG}),
            ("/deploy", {"project_id": payload, "version": "p1-v1-n1"}),
            ("/deploy", {"project_id": 1, "version": payload}),
            ("/deploy", {"project_id": 1, "version": f"p1-v1-n1/{payload}"}),
        ]
        for path, body in requests_:
            response = client.post(path, json=body)
            sent += 1
            if payload in DOTTED and path != "/deploy":
                assert response.status_code < 500, (path, payload, response.status_code)
            else:
                assert 400 <= response.status_code < 500, (path, payload, response.status_code, response.json)
                assert isinstance(response.json["error"], str)
        response = client.get("/train_status", query_string={"project": payload})
        sent += 1
        if payload not in DOTTED:
            assert response.status_code == 400, (payload, response.json)
    time.sleep(0.5)  # let any training thread a webhook started reach the disk
    assert tree(tmp_path, models) == before_outside, "a file or folder appeared outside MODEL_DIR"
    assert set(os.listdir(Path.cwd())) == before_repo
    assert all(p.name.isdigit() or p.name.startswith("mlflow") for p in models.iterdir()), list(models.iterdir())
    print(f"{sent} path-traversal requests, nothing written outside MODEL_DIR")


def test_secrets_never_in_logs_or_error_bodies(tmp_path, rule_model_dir):
    stand_in = FailingServer(delay=0.0, status=401)
    proc, url = start_gunicorn(
        tmp_path,
        workers=1,
        threads=4,
        MODEL_DIR=tmp_path / "models",
        BASELINE_MODEL_NAME=rule_model_dir,
        LABEL_STUDIO_HOST=stand_in.url,
        LABEL_STUDIO_API_KEY=API_KEY,
        BASIC_AUTH_USER=USER,
        BASIC_AUTH_PASS=PASSWORD,
        WEBHOOK_SECRET=SECRET,
        LABEL_STUDIO_RETRIES=1,
        LABEL_STUDIO_RETRY_DELAY=0.1,
        LOG_LEVEL="DEBUG",
        START_TRAINING_EACH_N_UPDATES=1,
    )
    auth = (USER, PASSWORD)
    bodies = []
    try:
        calls = [
            ("get", "/health", {}),
            ("post", "/predict", {"json": predict_body()}),
            ("post", "/predict", {"json": predict_body(), "auth": (USER, "nope")}),
            ("post", "/predict", {"json": predict_body(), "auth": auth}),
            ("post", "/predict", {"data": b"{", "auth": auth}),
            ("post", "/setup", {"json": {"project": "x", "schema": "<View"}, "auth": auth}),
            ("post", f"/webhook?secret={SECRET}x", {"json": start_training_webhook()}),
            ("post", f"/webhook?secret={SECRET}", {"json": start_training_webhook()}),
            ("post", "/webhook", {"json": start_training_webhook(), "headers": {"X-Webhook-Secret": SECRET}}),
            ("post", "/select_samples", {"json": {"project_id": 1, "limit": 3}, "auth": auth}),  # Label Studio 401
            ("post", "/deploy", {"json": {"project_id": 1, "version": "p1-v9-n9"}, "auth": auth}),
            ("delete", "/predict", {"auth": auth}),
            ("get", "/nowhere", {"auth": auth}),
        ]
        for method, path, kwargs in calls:
            bodies.append(getattr(requests, method)(url + path, timeout=30, **kwargs).text)
        deadline = time.time() + 60
        while time.time() < deadline:
            status = requests.get(url + "/train_status?project=1", auth=auth, timeout=5)
            if status.json()["jobs"].get("1", {}).get("state") == "failed":
                break
            time.sleep(0.2)
        bodies.append(status.text)
        assert "refused the API key (401)" in status.text
        bodies += [requests.get(url + p, auth=auth, timeout=5).text for p in ("/metrics", "/health", "/versions")]
        assert any("refused the API key" in b for b in bodies[:-4])  # /select_samples told the user why
    finally:
        proc.stop()
        stand_in.close()
    log = proc.log_path.read_text(errors="replace")
    assert "refused the API key" in log and len(log) > 1000  # the log did record the failures
    encoded = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    for secret in (API_KEY, PASSWORD, SECRET, encoded, API_KEY[:16]):
        assert secret not in log, f"secret {secret[:4]}... is in the log"
        for body in bodies:
            assert secret not in body, f"secret {secret[:4]}... is in a response body: {body[:200]}"


def test_container_runs_as_non_root():
    """The check lives in tests/integration/test_deploy_files.py; run it from here so this suite covers it too."""
    import importlib

    pytest.importorskip("yaml")
    deploy_files = importlib.import_module("tests.integration.test_deploy_files")
    deploy_files.test_dockerfile_base_user_ports_and_volume()  # the final USER is not root and owns nothing else


def deployable(tmp_path, rule_model_dir) -> str:
    return save_rule_version(LocalStore(tmp_path / "models"), rule_model_dir).name


@pytest.mark.parametrize("remote", ["10.1.2.3", "192.168.0.7", "2001:db8::5", "0.0.0.0"])
def test_without_basic_auth_deploy_is_refused_beyond_loopback_naming_the_setting(
    make_client, rule_model_dir, tmp_path, remote
):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir)
    version = deployable(tmp_path, rule_model_dir)
    refused = client.post("/deploy", json={"project_id": 1, "version": version}, environ_base={"REMOTE_ADDR": remote})
    assert refused.status_code == 403
    assert "BASIC_AUTH_USER" in refused.json["error"] and "loopback" in refused.json["error"]
    assert LocalStore(tmp_path / "models").deployed(1) is None  # nothing moved
    other = client.post("/predict", json=predict_body(), environ_base={"REMOTE_ADDR": remote})
    assert other.status_code == 200  # Label Studio's own routes stay open, as before


@pytest.mark.parametrize("local", ["127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"])
def test_without_basic_auth_deploy_from_loopback_still_works(make_client, rule_model_dir, tmp_path, local):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir)
    version = deployable(tmp_path, rule_model_dir)
    answer = client.post("/deploy", json={"project_id": 1, "version": version}, environ_base={"REMOTE_ADDR": local})
    assert answer.status_code == 200 and answer.json == {"project_id": 1, "model_version": version}


def test_a_proxied_request_counts_as_remote_even_on_loopback(make_client, rule_model_dir, tmp_path):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir)
    version = deployable(tmp_path, rule_model_dir)
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        answer = client.post("/deploy", json={"project_id": 1, "version": version}, headers={header: "203.0.113.9"})
        assert answer.status_code == 403, header


def test_with_basic_auth_deploy_is_accepted_from_anywhere_with_credentials(make_client, rule_model_dir, tmp_path):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, BASIC_AUTH_USER=USER, BASIC_AUTH_PASS=PASSWORD)
    version = deployable(tmp_path, rule_model_dir)
    body = {"project_id": 1, "version": version}
    assert client.post("/deploy", json=body, environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 401
    answer = client.post("/deploy", json=body, environ_base={"REMOTE_ADDR": "10.1.2.3"}, headers=basic(USER, PASSWORD))
    assert answer.status_code == 200


def test_gunicorn_without_basic_auth_deploys_from_loopback_and_refuses_a_proxied_client(tmp_path, rule_model_dir):
    version = deployable(tmp_path, rule_model_dir)
    proc, url = start_gunicorn(tmp_path, BASELINE_MODEL_NAME=str(rule_model_dir), MODEL_DIR=str(tmp_path / "models"))
    try:
        body = {"project_id": 1, "version": version}
        proxied = requests.post(url + "/deploy", json=body, headers={"X-Forwarded-For": "203.0.113.9"}, timeout=30)
        assert proxied.status_code == 403 and "BASIC_AUTH_USER" in proxied.json()["error"]
        assert requests.post(url + "/deploy", json=body, timeout=30).status_code == 200
    finally:
        proc.stop()
