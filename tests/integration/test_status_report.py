"""/health's report: what is configured and what is degraded, in words with the fix, for each trap a new team
meets. Real Redis, real RQ workers, real HTTP servers standing in for Label Studio's answers; /health answers from
the last background look, within Label Studio's 1-second timeout whatever is down."""

from __future__ import annotations

import time

import pytest

from bench.servers import free_port
from services.status import configuration_findings
from settings import Settings
from tests.support.redis_server import rq_worker
from tests.support.slow_http import FailingServer

KEY = "f" * 40


def status_after_a_probe(client, timeout: float = 30.0) -> dict:
    """/health's report once the background probe has looked; every /health in between answers within 1 s."""
    deadline = time.time() + timeout
    while True:
        started = time.perf_counter()
        answer = client.get("/health")
        assert answer.status_code == 200 and time.perf_counter() - started < 1.0
        status = answer.json["report"]
        if status["checked_at"] is not None or time.time() > deadline:
            return status
        time.sleep(0.1)


def degraded(status: dict, what: str) -> str:
    return " | ".join(f["detail"] for f in status["degraded"] if f["what"] == what)


def test_no_api_key_says_what_is_lost_and_where_the_token_comes_from(make_client, rule_model_dir):
    status = status_after_a_probe(make_client(BASELINE_MODEL_NAME=rule_model_dir))
    text = degraded(status, "label_studio")
    assert "no LABEL_STUDIO_HOST and LABEL_STUDIO_API_KEY" in text
    for words in ("only annotations received by webhook", "not refreshed", "stays random", "personal access token"):
        assert words in text
    assert "basic auth is off" in degraded(status, "auth")
    first = [f["detail"] for f in status["configured"] if f["what"] == "first_predictions"]
    assert first and "after every 10 annotations, or when you press Start Training" in first[0]
    assert "labels (NER) or its choices (classification) predicts nothing" in first[0]  # not NER alone


def test_redis_down_names_redis_url_and_health_stays_fast(make_client, rule_model_dir):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    text = degraded(status_after_a_probe(client), "redis")
    assert "REDIS_URL is unreachable" in text and "503" in text and "does not resend" in text


def test_no_worker_then_a_worker(make_client, rule_model_dir, private_redis, tmp_path):
    client = make_client(BASELINE_MODEL_NAME=rule_model_dir, REDIS_URL=private_redis.url, STATUS_PROBE_INTERVAL=1)
    assert "no RQ worker listens" in degraded(status_after_a_probe(client), "workers")
    worker = rq_worker(private_redis.url, tmp_path / "worker.log")
    try:
        deadline = time.time() + 60
        while "no RQ worker" in degraded(client.get("/health").json["report"], "workers"):
            assert time.time() < deadline, worker.tail()
            time.sleep(0.5)
        configured = client.get("/health").json["report"]["configured"]
        assert any(f["what"] == "workers" and "1 RQ worker" in f["detail"] for f in configured)
    finally:
        worker.stop()


@pytest.mark.parametrize(
    ("status_code", "words"), [(401, "refused the API key"), (None, "unreachable")], ids=["refused", "unreachable"]
)
def test_label_studio_refusing_the_key_or_unreachable(make_client, rule_model_dir, status_code, words):
    server = FailingServer(delay=0.0, status=status_code) if status_code else None
    host = server.url if server else f"http://127.0.0.1:{free_port()}"
    try:
        client = make_client(BASELINE_MODEL_NAME=rule_model_dir, LABEL_STUDIO_HOST=host, LABEL_STUDIO_API_KEY=KEY)
        text = degraded(status_after_a_probe(client), "label_studio")
        assert words in text
        assert ("personal access token" in text) == (status_code == 401)
        assert KEY not in str(client.get("/health").json)  # the key is never shown
    finally:
        if server:
            server.close()


def test_label_studio_that_never_answers_does_not_slow_health(make_client, rule_model_dir):
    server = FailingServer(delay=20.0, status=200)  # accepts, then answers after 20 s
    try:
        client = make_client(BASELINE_MODEL_NAME=rule_model_dir, LABEL_STUDIO_HOST=server.url, LABEL_STUDIO_API_KEY=KEY)
        for _ in range(5):
            started = time.perf_counter()
            assert client.get("/health").status_code == 200
            assert time.perf_counter() - started < 1.0
            time.sleep(0.2)
    finally:
        server.close()


def test_a_host_without_scheme_and_localhost_inside_a_container():
    bare = Settings.from_env({"LABEL_STUDIO_HOST": "label-studio:8080", "LABEL_STUDIO_API_KEY": KEY})
    texts = [f.detail for f in configuration_findings(bare) if f.state == "degraded"]
    assert any("not a URL with a scheme: write it as http://label-studio:8080" in t for t in texts)
    local = Settings.from_env({"LABEL_STUDIO_HOST": "http://localhost:8080", "LABEL_STUDIO_API_KEY": KEY})
    inside = [f.detail for f in configuration_findings(local, containerised=True) if f.state == "degraded"]
    assert any("names the container itself" in t and "http://label-studio:8080" in t for t in inside)
    outside = [f.detail for f in configuration_findings(local, containerised=False) if f.state == "degraded"]
    assert not any("container" in t for t in outside)
