"""The bare service listens beyond loopback only with basic auth or ALLOW_OPEN_NETWORK (web.listen), run for real:
gunicorn as scripts/serve.sh and the image's CMD start it (gunicorn.conf.py picks the address), gunicorn with an
explicit --bind, and `python _wsgi.py`. A refused address exits 2 with the message, before anything listens."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from bench.servers import Process, free_port, service_env
from tests.support.paths import REPO

GUNICORN = [sys.executable, "-m", "gunicorn", "--preload", "--workers", "1", "--threads", "2", "_wsgi:app"]
AUTH = {"BASIC_AUTH_USER": "ls", "BASIC_AUTH_PASS": "s3cret-pass"}


def environment(tmp_path: Path, rule_model_dir: Path, port: int, **env) -> dict[str, str]:
    """The service's environment with none of the outer shell's listen or auth settings unless given here."""
    base = service_env(MODEL_DIR=tmp_path / "models", BASELINE_MODEL_NAME=rule_model_dir, PORT=port)
    for name in ("HOST", "ALLOW_OPEN_NETWORK", "WEBHOOK_SECRET", "GUNICORN_CMD_ARGS"):
        base.pop(name, None)
    return {**base, **{k: str(v) for k, v in env.items()}}


def refused(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


def serve(args: list[str], env: dict[str, str], log: Path) -> tuple[Process, set[tuple[str, int]]]:
    """Start the server; once /health answers on loopback, the addresses its processes listen on."""
    server = Process(args, env, log)
    auth = (env["BASIC_AUTH_USER"], env["BASIC_AUTH_PASS"]) if env.get("BASIC_AUTH_USER") else None
    deadline = time.time() + 180
    while time.time() < deadline:
        assert server.proc.poll() is None, f"the server exited:\n{server.tail()}"
        try:
            if requests.get(f"http://127.0.0.1:{env['PORT']}/health", auth=auth, timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.3)
    else:
        server.stop()
        pytest.fail(f"no /health answer:\n{server.tail()}")
    root = psutil.Process(server.proc.pid)
    listening = {
        (c.laddr.ip, c.laddr.port)
        for p in [root, *root.children(recursive=True)]
        for c in p.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN
    }
    return server, listening


@pytest.mark.parametrize(
    "how",
    ["HOST for gunicorn.conf.py", "gunicorn --bind", "GUNICORN_CMD_ARGS", "python _wsgi.py --host", "HOST for _wsgi"],
)
def test_the_bare_service_refuses_to_listen_beyond_loopback_without_auth(tmp_path, rule_model_dir, how):
    port = free_port()
    env = environment(tmp_path, rule_model_dir, port, WEBHOOK_SECRET="a-secret-alone-does-not-count")
    args = {
        "HOST for gunicorn.conf.py": GUNICORN,
        "gunicorn --bind": [*GUNICORN[:3], "--bind", f"0.0.0.0:{port}", *GUNICORN[3:]],
        "GUNICORN_CMD_ARGS": GUNICORN,
        "python _wsgi.py --host": [sys.executable, "_wsgi.py", "--host", "0.0.0.0", "--port", str(port)],
        "HOST for _wsgi": [sys.executable, "_wsgi.py", "--port", str(port)],
    }[how]
    if how.startswith("HOST"):
        env["HOST"] = "0.0.0.0"
    if how == "GUNICORN_CMD_ARGS":
        env["GUNICORN_CMD_ARGS"] = f"--bind 0.0.0.0:{port}"
    done = refused(args, env)
    assert done.returncode == 2, done.stdout + done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("configuration error: refusing to listen on 0.0.0.0 without authentication"), message
    assert "BASIC_AUTH_USER and BASIC_AUTH_PASS" in message and "ALLOW_OPEN_NETWORK=true" in message, message
    assert "Listening at" not in done.stdout + done.stderr and port_is_free(port)


def test_without_auth_gunicorn_listens_on_loopback_only_and_says_so(tmp_path, rule_model_dir):
    port = free_port()
    server, listening = serve(GUNICORN, environment(tmp_path, rule_model_dir, port), tmp_path / "gunicorn.log")
    try:
        assert listening == {("127.0.0.1", port)}, listening
        assert "listening on 127.0.0.1 only" in server.log_path.read_text(errors="replace")
    finally:
        server.stop()


def test_with_basic_auth_gunicorn_listens_on_every_interface(tmp_path, rule_model_dir):
    port = free_port()
    env = environment(tmp_path, rule_model_dir, port, **AUTH)
    server, listening = serve(GUNICORN, env, tmp_path / "gunicorn.log")
    try:
        assert listening == {("0.0.0.0", port)}, listening
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 401
    finally:
        server.stop()


def test_allow_open_network_listens_on_every_interface_with_a_warning(tmp_path, rule_model_dir):
    port = free_port()
    env = environment(tmp_path, rule_model_dir, port, ALLOW_OPEN_NETWORK="true")
    server, listening = serve(GUNICORN, env, tmp_path / "gunicorn.log")
    try:
        assert listening == {("0.0.0.0", port)}, listening
        log = server.log_path.read_text(errors="replace")
        assert "ALLOW_OPEN_NETWORK=true: listening on 0.0.0.0 with no authentication" in log, log[-2000:]
    finally:
        server.stop()


def test_python_wsgi_listens_on_loopback_without_auth_and_everywhere_with_the_flag(tmp_path, rule_model_dir):
    port = free_port()
    args = [sys.executable, "_wsgi.py", "--port", str(port)]
    server, listening = serve(args, environment(tmp_path, rule_model_dir, port), tmp_path / "loopback.log")
    server.stop()
    assert listening == {("127.0.0.1", port)}, listening
    port = free_port()
    env = environment(tmp_path, rule_model_dir, port)
    server, listening = serve([*args[:2], "--port", str(port), "--allow-open-network"], env, tmp_path / "open.log")
    server.stop()
    assert listening == {("0.0.0.0", port)}, listening
    assert "ALLOW_OPEN_NETWORK=true: listening on 0.0.0.0" in (tmp_path / "open.log").read_text(errors="replace")
