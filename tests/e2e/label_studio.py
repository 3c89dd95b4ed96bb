"""A real Label Studio 1.23.2 server for end-to-end tests, started from a pre-initialised template data dir.

`scripts/ls_env.sh` builds the venv and the template once (outside the clone); `LabelStudioServer` copies the
template to a temp dir and runs `label-studio start` on a free loopback port, stopping it on exit.

Verified against label-studio 1.23.2 (server) and label-studio-sdk 2.1.2 (client) - facts and surprises:
- `label-studio --version` is NOT a harmless query: it prints the version, then starts a server on 0.0.0.0:8080
  with a default data dir in ~/.local/share/label-studio. Use `label-studio version` or importlib.metadata.
- `label-studio init` only stores `--user-token` when it creates the user, and only enables legacy tokens
  (`--enable-legacy-api-token`) when it creates the organization: both are baked into the template once.
- A free port is not enough: LS silently moves to port+1 when its port answers; the port really used is read
  from the "Starting development server at http://127.0.0.1:<port>/" log line, and a mismatch means a restart.
- SDK calls that work: `projects.create(title=, label_config=)`,
  `projects.import_tasks(id, request=[{"text": ..}], return_task_ids=True)` (-> `.task_ids`),
  `tasks.list(project=)` (a pager: iterate it), `annotations.create(id=<task id>, result=[...])`,
  `ml.create(project=, url=, title=, is_interactive=True)`, `tokens.create()` (-> `.token`, a JWT refresh token).
  `annotations.create` takes the TASK id as `id`, not `task=`.
- Personal access tokens: `POST /api/token/` (SDK `tokens.create()`) makes one per user; a second call answers
  409 while the first is valid, and the list endpoint only shows truncated tokens, so the server caches it.
- Webhooks (e.g. ANNOTATION_CREATED to `<backend url>/webhook`) are sent synchronously inside the API call.
- Feature flags: `flag_set` reads an environment variable named after the flag before its flag file, on every call.
  Prediction validation (`PREDICTION_VALIDATION_FLAG`) is off in 1.23.2's file: then POST
  /api/projects/<id>/import/predictions still checks each prediction against the label config, but drops the invalid
  ones with an error in its log and answers 201. With the flag on, one invalid prediction is a 400 and nothing of
  the batch is stored. The e2e session's server runs with it on (tests/e2e/conftest.py), as a strict LS would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from bench.servers import free_port

LS_VERSION = "1.23.2"
REPO_ROOT = Path(__file__).resolve().parents[2]
LS_ENV_SCRIPT = REPO_ROOT / "scripts" / "ls_env.sh"
DEFAULT_LS_VENV = Path(os.environ.get("LS_VENV", Path.home() / ".cache/nerb/ls-venv"))
DEFAULT_TEMPLATE_DIR = Path(os.environ.get("LS_TEMPLATE_DIR", Path.home() / f".cache/nerb/ls-template-{LS_VERSION}"))

# LS reads LABEL_STUDIO_<X>, HEARTEX_<X> and bare <X>: stray values of these change its database, host, users...
_STRIPPED_ENV = {
    "HOST",
    "PORT",
    "USERNAME",
    "PASSWORD",
    "USER_TOKEN",
    "DATABASE_NAME",
    "DJANGO_DB",
    "DJANGO_SETTINGS_MODULE",
    "DEBUG",
    "LOG_LEVEL",
    "CI",
    "TEST_ENVIRONMENT",
    "SECRET_KEY",
    "BASE_DATA_DIR",
    "WEBHOOK_TIMEOUT",
}
_STRIPPED_PREFIXES = ("LABEL_STUDIO_", "HEARTEX_", "POSTGRE_", "MYSQL_", "REDIS_", "STORAGE_", "MINIO_")
PREDICTION_VALIDATION_FLAG = "fflag_feat_utc_210_prediction_validation_15082025"
_LISTENING = re.compile(r"Starting development server at http://[\d.]+:(\d+)/")


class LabelStudioError(RuntimeError):
    """Label Studio could not be prepared or started; the message carries its log tail."""


def ensure_ls_env(ls_venv: Path = DEFAULT_LS_VENV, template_dir: Path = DEFAULT_TEMPLATE_DIR) -> None:
    """Run scripts/ls_env.sh unless the venv and template are already there (it is idempotent, but slow-ish)."""
    if (ls_venv / "bin" / "label-studio").exists() and (template_dir / "credentials.json").exists():
        return
    env = dict(os.environ, LS_VENV=str(ls_venv), LS_TEMPLATE_DIR=str(template_dir))
    proc = subprocess.run(["bash", str(LS_ENV_SCRIPT)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise LabelStudioError(f"{LS_ENV_SCRIPT} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


class LabelStudioServer:
    """One Label Studio process on 127.0.0.1 over a private copy of the template data dir.

    Use as a context manager, or call start() / stop(). `url`, `api_key` (legacy token), `username`,
    `password` are valid once started.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        template_dir: Path = DEFAULT_TEMPLATE_DIR,
        ls_venv: Path = DEFAULT_LS_VENV,
        startup_timeout: float = 120.0,
        extra_env: dict | None = None,
    ):
        self.template_dir = Path(template_dir)
        self.ls_venv = Path(ls_venv)
        self.startup_timeout = startup_timeout
        self.extra_env = dict(extra_env or {})
        creds = json.loads((self.template_dir / "credentials.json").read_text())
        self.username: str = creds["username"]
        self.password: str = creds["password"]
        self.api_key: str = creds["api_key"]
        self.port: int | None = None
        self.workdir: Path | None = None
        self.data_dir: Path | None = None
        self.log_path: Path | None = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen | None = None
        self._log_file = None
        self._pat: str | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise LabelStudioError("Label Studio is not started")
        return f"http://{self.host}:{self.port}"

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def __enter__(self) -> LabelStudioServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, attempts: int = 3) -> LabelStudioServer:
        t0 = time.monotonic()
        self.workdir = Path(tempfile.mkdtemp(prefix="ls-e2e-"))
        self.data_dir = self.workdir / "data"
        shutil.copytree(self.template_dir, self.data_dir, symlinks=True)
        self.log_path = self.workdir / "label-studio.log"
        try:
            for _ in range(attempts):
                wanted = free_port(self.host)
                if self._launch(wanted) == wanted:
                    self.port = wanted
                    break
                # LS moved to port+1 (someone took ours meanwhile): its HOST would be wrong, so start again.
                self._terminate()
            else:
                raise LabelStudioError(f"Label Studio kept moving off its port:\n{self.log_tail()}")
            self._wait_healthy(t0)
        except BaseException:
            self.stop()  # the log tail is in the exception; E2E_KEEP_LS_DIR=1 keeps the whole dir
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def stop(self) -> None:
        self._terminate()
        if self.workdir and not os.environ.get("E2E_KEEP_LS_DIR"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _environment(self, port: int) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in _STRIPPED_ENV and not k.startswith(_STRIPPED_PREFIXES)}
        env.update(
            LABEL_STUDIO_BASE_DATA_DIR=str(self.data_dir),
            XDG_CONFIG_HOME=str(self.data_dir / ".xdg"),
            LABEL_STUDIO_HOST=f"http://{self.host}:{port}",
            LABEL_STUDIO_USERNAME=self.username,
            LABEL_STUDIO_PASSWORD=self.password,
            LABEL_STUDIO_USER_TOKEN=self.api_key,
            LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
            ML_BLOCK_LOCAL_IP="false",  # else backends on 127.0.0.1 are refused (403)
            SSRF_PROTECTION_ENABLED="false",  # else webhooks to 127.0.0.1 are refused
            SENTRY_DSN="",
            FRONTEND_SENTRY_DSN="",
            LATEST_VERSION_CHECK="false",
            COLLECT_ANALYTICS="false",
            PYTHONUNBUFFERED="1",  # the port line must reach the log at once
        )
        env.update(self.extra_env)
        return env

    def _launch(self, port: int) -> int:
        """Start the process on `port`; return the port it says it listens on."""
        cmd = [
            str(self.ls_venv / "bin" / "label-studio"),
            "start",
            "--no-browser",
            "--internal-host",
            self.host,
            "--port",
            str(port),
            "--data-dir",
            str(self.data_dir),
        ]
        self._log_file = open(self.log_path, "ab")
        offset = self._log_file.tell()  # read only this launch's lines: an earlier try logged another port
        self._log_file.write(f"\n=== {' '.join(cmd)}\n".encode())
        self._log_file.flush()
        self._proc = subprocess.Popen(
            cmd,
            env=self._environment(port),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise LabelStudioError(
                    f"label-studio exited with {self._proc.returncode} before listening:\n{self.log_tail()}"
                )
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                ports = _LISTENING.findall(log.read().decode(errors="replace"))
            if ports:
                return int(ports[-1])
            time.sleep(0.2)
        self._terminate()
        raise LabelStudioError(f"label-studio did not listen within {self.startup_timeout} s:\n{self.log_tail()}")

    def _wait_healthy(self, t0: float) -> None:
        last = None
        while time.monotonic() - t0 < self.startup_timeout:
            if self._proc.poll() is not None:
                raise LabelStudioError(f"label-studio exited with {self._proc.returncode}:\n{self.log_tail()}")
            try:
                r = requests.get(f"{self.url}/health", timeout=2)
                if r.ok:
                    return
                last = f"HTTP {r.status_code}"
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.2)
        raise LabelStudioError(f"{self.url}/health not OK within {self.startup_timeout} s ({last}):\n{self.log_tail()}")

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(proc.pid, sig)  # its own session: the group is LS and its children only
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # -- use ---------------------------------------------------------------------------------------------------

    def log_tail(self, n: int = 80) -> str:
        if not self.log_path or not self.log_path.exists():
            return "(no Label Studio log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def client(self, api_key: str | None = None):
        from label_studio_sdk import LabelStudio

        return LabelStudio(base_url=self.url, api_key=api_key or self.api_key)

    def personal_access_token(self) -> str:
        """A JWT personal access token (refresh token) for the default user, made once via POST /api/token/.

        The SDK exchanges it for short-lived Bearer access tokens itself; tests use it to prove a client works
        with personal access tokens and not only with the legacy token.
        """
        if self._pat is None:
            r = requests.post(f"{self.url}/api/token/", headers={"Authorization": f"Token {self.api_key}"}, timeout=10)
            if r.status_code != 201:
                raise LabelStudioError(f"POST /api/token/ -> {r.status_code}: {r.text[:500]}")
            self._pat = r.json()["token"]
        return self._pat
