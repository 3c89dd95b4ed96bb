"""Smoke test of the real-Label-Studio harness: the SDK calls we rely on, and that LS reaches an ML backend."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from bench.servers import free_port

pytestmark = pytest.mark.e2e

NER_CONFIG = (
    '<View><Labels name="label" toName="text"><Label value="PER"/><Label value="ORG"/><Label value="LOC"/>'
    '<Label value="MISC"/></Labels><Text name="text" value="$text"/></View>'
)
TEXTS = ["Angela Merkel visited Paris.", "Apple opened an office in Berlin.", "Nothing to see here."]


class RecordingBackend:
    """A stand-in ML backend on a free loopback port that records (method, path, json body) of every request."""

    def __init__(self):
        self.requests: list[tuple[str, str, object]] = []
        recorded = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                recorded.append(("GET", self.path, None))
                self._answer(200, {"status": "UP", "model_class": "Recorder"} if self.path != "/metrics" else {})

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw) if raw else None
                recorded.append(("POST", self.path, body))
                if self.path == "/setup":
                    self._answer(200, {"model_version": "recorder-1"})
                elif self.path == "/predict":
                    self._answer(
                        200,
                        {
                            "results": [
                                {"result": [], "score": 0.0, "model_version": "recorder-1"}
                                for _ in body.get("tasks", [])
                            ]
                        },
                    )
                else:
                    self._answer(201, {})

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def paths(self, method=None):
        return [p for m, p, _ in self.requests if method in (None, m)]


def test_project_tasks_annotation_and_backend_calls(label_studio):
    ls = label_studio.client()
    project = ls.projects.create(title="harness smoke", label_config=NER_CONFIG)

    imported = ls.projects.import_tasks(project.id, request=[{"text": t} for t in TEXTS], return_task_ids=True)
    assert len(imported.task_ids) == 3
    tasks = list(ls.tasks.list(project=project.id))
    assert sorted(t.id for t in tasks) == sorted(imported.task_ids)
    assert {t.data["text"] for t in tasks} == set(TEXTS)

    with RecordingBackend() as backend:
        ml = ls.ml.create(project=project.id, url=backend.url, title="recorder", is_interactive=True)
        assert ml.id
        assert "/health" in backend.paths("GET"), (backend.requests, label_studio.log_tail())
        setup = [b for m, p, b in backend.requests if p == "/setup"]
        assert setup and setup[0]["schema"] == NER_CONFIG
        assert setup[0]["project"].split(".")[0] == str(project.id)

        task = next(t for t in tasks if t.data["text"] == TEXTS[0])
        region = {
            "from_name": "label",
            "to_name": "text",
            "type": "labels",
            "value": {"start": 0, "end": 13, "text": "Angela Merkel", "labels": ["PER"]},
        }
        annotation = ls.annotations.create(id=task.id, result=[region])
        assert annotation.id
        # Webhooks are sent synchronously inside the API call: no waiting needed.
        hooks = [b for m, p, b in backend.requests if (m, p) == ("POST", "/webhook")]
        actions = [h["action"] for h in hooks]
        assert "ANNOTATION_CREATED" in actions, (backend.requests, label_studio.log_tail())
        created = hooks[actions.index("ANNOTATION_CREATED")]
        assert created["annotation"]["result"][0]["value"]["labels"] == ["PER"]
        assert created["project"]["id"] == project.id
        print(f"\n[e2e] Label Studio called the backend: {[(m, p) for m, p, _ in backend.requests]}")


def test_personal_access_token_works_with_sdk(label_studio):
    pat = label_studio.personal_access_token()
    assert pat.count(".") == 2 and pat != label_studio.api_key  # a JWT refresh token, not the legacy key
    ls = label_studio.client(api_key=pat)
    assert ls.users.whoami().email == label_studio.username
    # The same token is handed out again (LS allows one live token per user).
    assert label_studio.personal_access_token() == pat


def test_legacy_token_and_health(label_studio):
    assert requests.get(f"{label_studio.url}/health", timeout=5).ok
    r = requests.get(
        f"{label_studio.url}/api/current-user/whoami",
        headers={"Authorization": f"Token {label_studio.api_key}"},
        timeout=5,
    )
    assert r.status_code == 200 and r.json()["email"] == label_studio.username
