"""A real MLflow tracking server for tests: `mlflow server` on the machine's PostgreSQL (a database of its own) with a
proxied artifact store in a temporary folder, on a free loopback port; a test may stop it and start it again."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import psycopg2
import requests

from bench.servers import Process, free_port, service_env

POSTGRES = dict(host="127.0.0.1", port=5432, user="postgres")
START_TIMEOUT_S = 240  # the first start creates MLflow's tables (about a minute on a loaded 2-core machine)


def _admin(sql: str) -> None:
    connection = psycopg2.connect(dbname="postgres", **POSTGRES)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


class MlflowServer:
    """`mlflow server --backend-store-uri postgresql+psycopg2://... --artifacts-destination <dir>`."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.database = f"nerb_test_mlflow_{uuid.uuid4().hex[:12]}"
        _admin(f"CREATE DATABASE {self.database}")
        self.artifacts = directory / "artifacts"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: Process | None = None
        self.start()

    @property
    def backend_uri(self) -> str:
        return f"postgresql+psycopg2://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{self.database}"

    def start(self) -> None:
        args = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            self.backend_uri,
            "--artifacts-destination",
            str(self.artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        log = self.directory / f"mlflow-{self.port}-{time.time():.0f}.log"
        self.proc = Process(args, service_env(), log)
        deadline = time.time() + START_TIMEOUT_S
        while time.time() < deadline:
            if self.proc.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.proc.proc.returncode}:\n{self.proc.tail()}")
            if self.running():
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer /health within {START_TIMEOUT_S}s")

    def running(self) -> bool:
        try:
            return requests.get(self.url + "/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def ensure_running(self) -> None:
        if self.proc is None or not self.running():
            self.stop()
            self.start()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def close(self) -> None:
        self.stop()
        try:
            _admin(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
        except psycopg2.Error:
            pass
