"""Start real server processes (gunicorn, redis, rq worker) on free loopback ports, for the benchmarks and the tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests

REPO = Path(__file__).resolve().parents[1]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Process:
    """A child process with its output in a log file; `tail()` shows the end of it when a test fails."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        """Stop the process group, then any descendant that left it (rq runs each job in its own group)."""
        try:
            descendants = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            descendants = []
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        for child in descendants:
            try:
                child.kill()
            except psutil.Error:
                pass
        self.log.close()


def service_env(**overrides) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BASIC_AUTH", "LABEL_STUDIO", "REDIS_URL"))}
    env.update({"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"})
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def start_gunicorn(
    tmp_path: Path, workers: int = 1, threads: int = 4, timeout: float = 90, **env
) -> tuple[Process, str]:
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "--preload",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--timeout",
        "300",
        "_wsgi:app",
    ]
    proc = Process(args, service_env(**env), tmp_path / f"gunicorn-{port}.log")
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    auth = (env["BASIC_AUTH_USER"], env["BASIC_AUTH_PASS"]) if "BASIC_AUTH_USER" in env else None
    while time.time() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.proc.returncode}:\n{proc.tail()}")
        try:
            if requests.get(url + "/health", timeout=2, auth=auth).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        time.sleep(0.3)
    proc.stop()
    raise RuntimeError(f"gunicorn did not answer /health within {timeout}s:\n{proc.tail()}")
