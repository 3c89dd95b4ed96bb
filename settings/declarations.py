"""How one environment variable is declared (`Setting`) and read; the variables only the deployment files read.

Every variable is declared once: the service's own in `settings.Settings` (one `setting(...)` per field), the others
in `DEPLOY_ONLY` below. The tables of docs/configuration.md (`python -m settings.table`), docker-compose.yml and
.env.example are checked against these declarations by tests/integration/test_deploy_files.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# The key under which a Settings field keeps its declaration (dataclasses.field's metadata).
SETTING = "setting"


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use; the message names it."""


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, type, default, accepted values and one line of documentation."""

    env: str  # the variable's name
    default: Any  # its value when unset or empty (None: off)
    doc: str  # one line, the README table's "meaning" (Markdown)
    kind: type = str  # str, int, float or bool; a Settings field's annotation sets it (see settings.SETTINGS)
    field: str = ""  # the Settings field it fills; empty: deploy-only, read by the deployment files alone
    low: float | None = None  # int and float: the accepted range, bounds included (None: unbounded)
    high: float | None = None
    choices: tuple[str, ...] = ()  # str: the accepted values
    aliases: tuple[str, ...] = ()  # older names, read in turn while the ones before are empty
    clean: Callable[[str], str] = str.strip  # str: the raw value to the value (an empty result means the default)
    secret: bool = False  # never printed (Settings' repr shows *** instead)
    shown: str = ""  # the README's default column where the default alone would mislead (Markdown)
    container_default: str | None = None  # what docker-compose.yml and .env.example set instead, on purpose
    read_by: str = ""  # deploy-only: the files that read it

    @property
    def deploy_only(self) -> bool:
        return not self.field

    @property
    def names(self) -> tuple[str, ...]:
        return (self.env, *self.aliases)

    def read(self, env: Mapping[str, str]) -> Any:
        """This variable's value in `env`: its default when unset or empty, else the checked value; SettingsError
        names the variable when the value cannot be used."""
        if self.kind is bool:
            return _bool(env, self.env, self.default)
        if self.kind is int:
            return _int(env, self.env, self.default, self.low, self.high)
        if self.kind is float:
            low, high = float(self.low), float(self.high)
            if self.default is None:
                return _optional_float(env, self.env, low, high)
            return _float(env, self.env, self.default, low, high)
        raw = next((env.get(name, "") for name in self.names if env.get(name, "")), "")
        value = self.clean(raw) or self.default
        if self.choices and value not in self.choices:
            raise SettingsError(f"{self.env}={value!r} is not one of {', '.join(self.choices)}")
        return value


def setting(env: str, default: Any, doc: str, **options: Any) -> Any:
    """A Settings field read from `env`: `options` are Setting's (low, high, choices, aliases, clean, secret, shown,
    container_default); the field's annotation gives its kind."""
    return dataclasses.field(default=default, metadata={SETTING: Setting(env=env, default=default, doc=doc, **options)})


# Ways to clean a text value before the default applies (str.strip is the usual one).
def as_is(raw: str) -> str:
    """Kept exactly as given (user names and passwords may hold spaces)."""
    return raw


def url(raw: str) -> str:
    return raw.strip().rstrip("/")


def upper(raw: str) -> str:
    return raw.strip().upper()


# --- parsers: the messages name the variable -------------------------------------------------------------------


def _int(env: Mapping[str, str], name: str, default: int, low: float | None, high: float | None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise SettingsError(f"{name}={value} is out of range [{low}, {high}]")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if not (low <= value <= high):
        raise SettingsError(f"{name}={value} is out of range [{low}, {high}]")
    return value


def _optional_float(env: Mapping[str, str], name: str, low: float, high: float) -> float | None:
    """Empty or "none" means off."""
    raw = env.get(name, "").strip()
    if not raw or raw.lower() == "none":
        return None
    return _float(env, name, 0.0, low, high)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use true or false)")


# --- read by the deployment files, not by the service ----------------------------------------------------------

_SERVE = "`scripts/serve.sh`"
_IMAGE = "the image's `CMD` (Dockerfile)"
_POSTGRES = "docker-compose.yml (`postgres`)"

DEPLOY_ONLY: tuple[Setting, ...] = (
    Setting(
        "HOST",
        "",
        "the address the server listens on; beyond loopback only with basic auth or `ALLOW_OPEN_NETWORK=true`",
        shown="`127.0.0.1`; `0.0.0.0` with `BASIC_AUTH_USER` or `ALLOW_OPEN_NETWORK=true`",
        read_by=f"{_SERVE}, `python _wsgi.py`, gunicorn.conf.py",
    ),
    Setting(
        "PORT",
        9090,
        "the port the server listens on (the image's `HEALTHCHECK` asks it too)",
        kind=int,
        read_by=f"{_SERVE}, `python _wsgi.py`, {_IMAGE}",
    ),
    Setting(
        "WORKERS",
        1,
        "gunicorn's worker processes (keep 1 without `REDIS_URL`: the in-process training counters are per process)",
        kind=int,
        read_by=f"{_SERVE}, {_IMAGE}",
    ),
    Setting("THREADS", 8, "gunicorn's threads per worker process", kind=int, read_by=f"{_SERVE}, {_IMAGE}"),
    Setting(
        "GUNICORN_TIMEOUT",
        300,
        "seconds gunicorn lets a request run before it restarts the worker (the image's `CMD` uses 300)",
        kind=int,
        read_by=_SERVE,
    ),
    Setting(
        "PROMETHEUS_MULTIPROC_DIR",
        "",
        "folder where gunicorn's workers keep their Prometheus metrics for `/metrics/prometheus` (emptied at start; "
        "empty: a fresh temporary folder per server)",
        read_by="gunicorn.conf.py",
    ),
    Setting(
        "POSTGRES_USER",
        "mlflow",
        "PostgreSQL user of the MLflow tracking server's database; fixed in docker-compose.yml, like `POSTGRES_DB`, "
        "which the `mlflow` service's database URI repeats",
        read_by=_POSTGRES,
    ),
    Setting(
        "POSTGRES_PASSWORD",
        "",
        "its password (required: compose refuses to start without it; a database created earlier keeps its own)",
        shown="required",
        secret=True,
        read_by=f"{_POSTGRES}, its `mlflow` service",
    ),
    Setting("POSTGRES_DB", "mlflow", "the database holding MLflow's runs and registry", read_by=_POSTGRES),
    Setting(
        "REDIS_PASSWORD",
        "",
        "Redis's `requirepass` (required); the default `REDIS_URL` carries it. RQ unpickles job arguments and "
        "imports functions by name: write access to Redis is code execution on the worker",
        shown="required",
        secret=True,
        read_by="docker-compose.yml (`redis`, `REDIS_URL`)",
    ),
    Setting(
        "MLFLOW_TRACKING_USERNAME",
        "ner-backend",
        "the user of the `mlflow` service's basic-auth app (its admin, created on the first start), and the user "
        "MLflow's client in the backend and the worker signs in as",
        read_by="docker-compose.yml (`mlflow`), MLflow's client",
    ),
    Setting(
        "MLFLOW_TRACKING_PASSWORD",
        "",
        "its password (required; at least 12 characters; later changes need MLflow's update-password API)",
        shown="required",
        secret=True,
        read_by="docker-compose.yml (`mlflow`), MLflow's client",
    ),
    Setting(
        "MLFLOW_ALLOWED_HOSTS",
        "mlflow,mlflow:5000,localhost,localhost:5000,127.0.0.1,127.0.0.1:5000",
        "the Host headers the `mlflow` service accepts (`--allowed-hosts`): add `PRIVATE_ADDRESS:5000` when other "
        "hosts use it",
        read_by="docker-compose.yml (`mlflow`)",
    ),
    Setting(
        "PRIVATE_ADDRESS",
        "127.0.0.1",
        "the address on which docker-compose.yml publishes MLflow (5000) and Redis (6379): this host only by default; "
        "a private-network address for several hosts, never a public one",
        read_by="docker-compose.yml (`mlflow`, `redis`)",
    ),
)
