"""The status probes start with each gunicorn worker (gunicorn.conf.py's post_worker_init), not at its first /health:
the start-up log says what Redis answers before any request, and the first /health already reports it."""

from __future__ import annotations

import sys
import time

import requests

from bench.servers import Process, free_port, service_env


def wait_for_log_count(proc: Process, text: str, count: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while proc.tail(400).count(text) < count:
        if proc.proc.poll() is not None or time.time() > deadline:
            raise AssertionError(f"{text!r} appeared fewer than {count} times in the log:\n{proc.tail()}")
        time.sleep(0.2)


def test_a_gunicorn_worker_probes_before_its_first_request(tmp_path, rule_model_dir):
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "--preload", "--bind", f"127.0.0.1:{port}", "--workers", "2", "_wsgi:app"]
    env = service_env(
        MODEL_DIR=tmp_path / "models",
        BASELINE_MODEL_NAME=rule_model_dir,
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        STATUS_PROBE_INTERVAL=3600,  # one look per worker during this test: the one made at its start
    )
    proc = Process(args, env, tmp_path / "gunicorn.log")
    try:
        # no request sent yet: each of the 2 workers looked by itself (and the master, which forks, did not)
        wait_for_log_count(proc, "status: redis degraded: Redis at REDIS_URL is unreachable", 2)
        log = proc.tail(400)
        assert log.index("status at start-up") < log.index("status: redis degraded")
        report = requests.get(f"http://127.0.0.1:{port}/health", timeout=2).json()["report"]
        assert report["checked_at"] is not None  # the first /health is informed
        assert any(f["what"] == "redis" for f in report["degraded"])
        assert proc.tail(400).count("status: redis degraded") == 2
    finally:
        proc.stop()
