"""A private redis-server that a test may stop, pause, restart or empty, and `rq worker` processes on it."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

import redis

from bench.servers import Process, free_port, service_env
from infra.rq_queue import QUEUE_NAME


class PrivateRedis:
    """A redis-server of our own on a free port: stopping or emptying it touches nobody else's data."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: Process | None = None
        self.start()

    def start(self) -> None:
        args = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.directory),
        ]
        self.proc = Process(args, service_env(), self.directory / f"redis-{self.port}-{time.time():.0f}.log")
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"private redis-server did not start:\n{self.proc.tail()}")

    def stop(self) -> None:
        """Stop the server (resumed first, in case a test paused it with SIGSTOP: a stopped process ignores SIGTERM)."""
        if self.proc is not None:
            try:
                os.kill(self.proc.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.proc.stop()
            self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


def rq_worker(redis_url: str, log: Path, with_redis_url: bool = True, burst: bool = False, **env) -> Process:
    """`rq worker --url redis_url` on the training queue, with `env` (and REDIS_URL=redis_url) in its environment.
    `with_redis_url=False`: no REDIS_URL there, so a job must use the worker's own connection. `burst`: it exits
    once the queue is empty."""
    env = {k: v for k, v in env.items() if k != "REDIS_URL"}
    if with_redis_url:
        env["REDIS_URL"] = redis_url
    args = [sys.executable, "-m", "rq.cli", "worker", *(["--burst"] if burst else []), "--url", redis_url, QUEUE_NAME]
    return Process(args, service_env(**env), log)
