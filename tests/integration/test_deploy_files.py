"""Deployment files checked without a Docker engine: Dockerfile, docker-compose.yml, .env.example, .dockerignore.

They must stay in step with the one declaration of each variable (settings/: `Settings`' fields and `DEPLOY_ONLY`),
which also generates docs/configuration.md's tables, with the RQ queue, and with each other. The image's own CMD and
HEALTHCHECK are run here against a real gunicorn (the CMD's workers, threads, preload, bind and SIGTERM checked on the
running processes, not on its text).
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests
import yaml

from bench.servers import Process, free_port, service_env
from settings import Setting
from tests.support.paths import REPO
from tests.support.settings_variables import RecordingEnv, settings_variables

APP_SERVICES = ("backend", "worker", "mlflow")
INTERPOLATION = re.compile(r"^\$\{([A-Z][A-Z0-9_]*):-(.*)\}$")
# Deploy-only variables that backend and worker get besides the service's settings: the image's CMD reads WORKERS and
# THREADS, MLflow's client the credentials of the mlflow service's basic-auth app.
PASSED_TO_APP = {"WORKERS", "THREADS", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"}
# Variables the programs of the mlflow and redis images read, set from declared ones (MLflow's CLI and auth app,
# redis-cli in the health check).
THIRD_PARTY = {
    "mlflow": {
        "MLFLOW_BACKEND_STORE_URI",
        "MLFLOW_AUTH_CONFIG_PATH",
        "MLFLOW_AUTH_ADMIN_USERNAME",
        "MLFLOW_AUTH_ADMIN_PASSWORD",
    },
    "redis": {"REDISCLI_AUTH"},
}
# A variable's name as the deployment files write it: upper case with at least one underscore (not README, CPU...).
VARIABLE = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")


# --- readers -------------------------------------------------------------------------------------------------


def declared() -> dict[str, Setting]:
    """Every declared variable by each of its names (an alias maps to the setting it stands for)."""
    from settings import DECLARATIONS

    return {name: declaration for declaration in DECLARATIONS for name in declaration.names}


def agrees(declaration: Setting, value: str, container: bool = True) -> bool:
    """Whether `value`, written in a deployment file, is the declared default (or, with `container`, the
    declared container default, which docker-compose.yml, .env.example and the Dockerfile set on purpose)."""
    if container and declaration.container_default is not None:
        return value == declaration.container_default
    return declaration.read({declaration.env: value}) == declaration.read({})


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def compose_defaults(environment: dict) -> dict[str, str]:
    """The value each `${VAR:-default}` entry takes when VAR is unset."""
    return {name: INTERPOLATION.match(str(value)).group(2) for name, value in environment.items()}


def interpolations(text: str) -> list[tuple[str, str, str]]:
    """(name, operator, operand) of every `${NAME...}` in `text`, nested ones included, as compose reads them
    (`$$` is a literal dollar): operator is "" for `${NAME}`, else ":-", "-", ":?", "?", ":+" or "+"."""
    found, i = [], 0
    while (i := text.find("$", i)) != -1:
        if text.startswith("$$", i):
            i += 2
            continue
        if not text.startswith("${", i):
            i += 1
            continue
        depth, j = 1, i + 2
        while depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        body = text[i + 2 : j - 1]
        name = re.match(r"[A-Za-z_][A-Za-z0-9_]*", body).group(0)
        rest = body[len(name) :]
        operator = next((op for op in (":-", ":?", ":+", "-", "?", "+") if rest.startswith(op)), "")
        assert rest == "" or operator, f"not a compose interpolation: ${{{body}}}"
        found.append((name, operator, rest[len(operator) :]))
        found += interpolations(rest[len(operator) :])
        i = j
    return found


def compose_text() -> str:
    """docker-compose.yml without its comments."""
    lines = (REPO / "docker-compose.yml").read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def compose_variables() -> dict[str, list[tuple[str, str]]]:
    """Every variable docker-compose.yml reads, with the (operator, operand) pairs it is read with."""
    variables: dict[str, list[tuple[str, str]]] = {}
    for name, operator, operand in interpolations(compose_text()):
        variables.setdefault(name, []).append((operator, operand))
    return variables


def resolve(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation of `text` in `env`, for the forms docker-compose.yml uses."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        if not text.startswith("${", i):
            out.append(text[i])
            i += 1
            continue
        depth, j = 1, i + 2
        while depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        ((name, operator, operand), *_) = interpolations(text[i:j])
        value = env.get(name, "")
        if operator == ":-" and not value:
            value = resolve(operand, env)
        if operator == ":?" and not value:
            raise ValueError(f"required variable {name} is missing a value: {operand}")
        out.append(value)
        i = j
    return "".join(out)


def env_example() -> list[tuple[str, str, str]]:
    """(name, value, comment just above) for each assignment in .env.example."""
    entries, comment = [], ""
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.startswith("#"):
            comment = line.lstrip("# ").strip()
        elif line.strip():
            match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line)
            assert match, f".env.example: not NAME=value: {line!r}"
            entries.append((match.group(1), match.group(2), comment))
            comment = ""
        else:
            comment = ""
    return entries


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions, current = [], ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, rest = current.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        current = ""
    return instructions


def dockerfile_env() -> dict[str, str]:
    env = {}
    for keyword, rest in dockerfile():
        if keyword == "ENV":
            env.update(dict(re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", rest)))
    return env


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule, closely enough: the last matching pattern wins; a match on a folder covers its contents."""
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        regex = "".join(
            "(.*/)?"
            if token == "**/"
            else ".*"
            if token == "**"
            else "[^/]*"
            if token == "*"
            else "[^/]"
            if token == "?"
            else re.escape(token)
            for token in re.findall(r"\*\*/|\*\*|\*|\?|[^*?]+", glob)
        )
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


# --- README, settings, compose and .env.example agree with the declarations ----------------------------------


def test_from_env_reads_exactly_the_declared_variables():
    from settings import Settings

    env = RecordingEnv()
    Settings.from_env(env)
    expected = settings_variables()
    assert env.read == expected, f"undeclared: {sorted(env.read - expected)}, unread: {sorted(expected - env.read)}"


def test_configuration_tables_are_generated_from_the_declarations_and_the_readme_links_them():
    from settings import table

    page = (REPO / "docs" / "configuration.md").read_text()
    assert table.BEGIN in page and table.END in page, "docs/configuration.md lacks the table markers"
    current = table.BEGIN + page.split(table.BEGIN, 1)[1].split(table.END, 1)[0] + table.END + "\n"
    assert current == table.markdown(), (
        "docs/configuration.md's tables are stale: run `python -m settings.table --write docs/configuration.md`"
    )
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    assert "(docs/configuration.md)" in section
    named = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section))
    assert named and named <= set(declared()), f"the README names undeclared {sorted(named - set(declared()))}"


def test_the_entry_points_read_only_declared_variables():
    """scripts/serve.sh, _wsgi.py's CLI, gunicorn.conf.py and the image's CMD and HEALTHCHECK."""
    read = set()
    for name in ("scripts/serve.sh", "_wsgi.py", "gunicorn.conf.py"):
        text = (REPO / name).read_text()
        read |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", text))
        read |= set(re.findall(r"environ\.get\(\s*[\"']([A-Z][A-Z0-9_]*)", text))
    for keyword, rest in dockerfile():
        if keyword in ("CMD", "HEALTHCHECK"):
            read |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", rest))
            read |= set(re.findall(r"environ\.get\(\s*[\"']([A-Z][A-Z0-9_]*)", rest))
    assert {"PORT", "HOST", "WORKERS", "THREADS", "GUNICORN_TIMEOUT", "BASIC_AUTH_USER"} <= read, sorted(read)
    assert not read - set(declared()), f"read but not declared in settings/: {sorted(read - set(declared()))}"


def test_serve_sh_and_the_cli_defaults_are_the_declared_ones():
    variables = declared()
    serve = (REPO / "scripts/serve.sh").read_text()
    for name, default in re.findall(r"\$\{([A-Z][A-Z0-9_]*):-([^}]*)\}", serve):
        assert agrees(variables[name], default, container=False), f"scripts/serve.sh: {name} defaults to {default}"
    cli = (REPO / "_wsgi.py").read_text()
    for name, default in re.findall(r"environ\.get\(\s*\"([A-Z][A-Z0-9_]*)\",\s*\"?([^)\"]*)", cli):
        assert agrees(variables[name], default, container=False), f"_wsgi.py: {name} defaults to {default}"
    for name, value in dockerfile_env().items():
        if name in variables:
            assert agrees(variables[name], value), f"Dockerfile: ENV {name}={value} differs from the declaration"


def test_backend_and_worker_get_every_setting_passed_through():
    services = compose()["services"]
    backend, worker = services["backend"]["environment"], services["worker"]["environment"]
    assert backend == worker, "backend and worker must see the same settings"
    expected = settings_variables() | PASSED_TO_APP
    assert set(backend) == expected, (
        f"missing: {sorted(expected - set(backend))}, unknown: {sorted(set(backend) - expected)}"
    )
    for name, value in backend.items():
        match = INTERPOLATION.match(str(value))
        assert match and match.group(1) == name, f"{name}: {value!r} is not ${{{name}:-default}}"


def test_compose_uses_only_declared_variables_with_their_declared_defaults():
    variables = declared()
    used = compose_variables()
    assert set(used) >= settings_variables()
    for name, forms in used.items():
        assert name in variables, f"docker-compose.yml uses ${{{name}}}, which settings/ does not declare"
        for operator, operand in forms:
            assert operator in ("", ":-", ":?"), f"docker-compose.yml: ${{{name}{operator}...}}"
            if operator == ":-":
                assert agrees(variables[name], operand), f"docker-compose.yml: ${{{name}:-{operand}}} differs"
            if operator == ":?":  # required: no default anywhere, and the message says where to set it
                assert variables[name].default == "" and ".env" in operand, f"{name}: {operand}"
    for service, spec in compose()["services"].items():
        for name, value in (spec.get("environment") or {}).items():
            if name in THIRD_PARTY.get(service, ()):
                continue
            assert name in variables, f"docker-compose.yml: {service} sets {name}, which settings/ does not declare"
            if variables[name].deploy_only and "${" not in str(value):  # a fixed value
                assert agrees(variables[name], str(value)), f"docker-compose.yml: {service}'s {name}={value}"
    postgres = compose()["services"]["postgres"]["environment"]
    assert {
        name
        for name, declaration in variables.items()
        if declaration.read_by.startswith("docker-compose.yml (`postgres`)")
    } == set(postgres)


def test_container_defaults_hold_the_service_defaults_elsewhere():
    """Only MODEL_DIR, MODEL_STORE, MLFLOW_TRACKING_URI and REDIS_URL differ in containers; the rest is the bare
    machine's default, so Settings read from compose's defaults equal Settings.from_env({}) but for those."""
    from settings import SETTINGS, Settings

    containers = {declaration.env for declaration in SETTINGS if declaration.container_default is not None}
    assert containers == {"MODEL_DIR", "REDIS_URL", "MODEL_STORE", "MLFLOW_TRACKING_URI"}
    defaults = compose_defaults(compose()["services"]["backend"]["environment"])
    bare = {name: value for name, value in defaults.items() if name not in containers}
    assert Settings.from_env(bare) == Settings.from_env({}), "a default in docker-compose.yml differs from settings/"
    assert defaults["MODEL_DIR"] == dockerfile_env()["MODEL_DIR"] == "/data/models"


def test_env_example_lists_every_variable_compose_reads_with_a_comment_and_the_compose_default():
    entries = env_example()
    names = [name for name, _, _ in entries]
    assert len(names) == len(set(names)), "a variable is listed twice in .env.example"
    used = compose_variables()
    expected = settings_variables() | set(used)
    assert set(names) == expected, f"missing: {sorted(expected - set(names))}, unknown: {sorted(set(names) - expected)}"
    defaults = {name: operand for name, forms in used.items() for operator, operand in forms if operator == ":-"}
    required = {name for name, forms in used.items() if any(operator == ":?" for operator, _ in forms)}
    assert required == {"REDIS_PASSWORD", "POSTGRES_PASSWORD", "MLFLOW_TRACKING_PASSWORD"}, required
    for name, value, comment in entries:
        assert comment, f".env.example: {name} has no comment above it"
        if name in required:  # no password is shipped: compose refuses to start until the user sets one
            assert value == "" and comment.startswith("Required"), f".env.example: {name}={value!r} ({comment})"
        else:
            assert value in ("", defaults[name]), (
                f".env.example: {name}={value} differs from compose's {defaults[name]!r}"
            )
    mentioned = set(VARIABLE.findall((REPO / ".env.example").read_text()))
    assert not mentioned - set(declared()), f".env.example mentions undeclared {sorted(mentioned - set(declared()))}"


# --- compose structure ---------------------------------------------------------------------------------------


def test_compose_has_the_five_services_and_shares_the_data_volume():
    spec = compose()
    services = spec["services"]
    assert set(services) == {"backend", "worker", "redis", "mlflow", "postgres"}
    assert services["redis"]["image"].startswith("redis:7")
    assert services["postgres"]["image"].startswith("postgres:")
    assert all("profiles" not in service for service in services.values())
    assert [str(port) for port in services["backend"]["ports"]] == ["9090:9090"]
    images = {services[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1, f"backend, worker and mlflow must run one image, not {images}"
    for name in APP_SERVICES:
        assert services[name]["build"] == ".", f"{name} is not built from this repository"
        mounts = [str(volume).split(":") for volume in services[name]["volumes"]]
        assert ["ner-data", "/data"] in mounts, f"{name} does not mount the ner-data volume on /data"
    assert {"ner-data", "redis-data", "postgres-data", "mlflow-artifacts"} <= set(spec["volumes"])
    assert "redis-data:/data" in services["redis"]["volumes"]
    for name in ("backend", "worker"):
        assert {"redis", "mlflow"} <= set(services[name]["depends_on"])
    assert services["worker"]["healthcheck"] == {"disable": True}, "the worker has no /health to ask"


def test_worker_runs_rq_on_the_training_queue_at_the_backends_redis_url(tmp_path):
    """The worker's command run by sh with a stand-in `rq` that prints what it was given: the backend's REDIS_URL
    (password included) reaches rq through RQ_REDIS_URL, never through its command line."""
    from infra.rq_queue import ENTRY_POINT, QUEUE_NAME
    from worker import run_job

    services = compose()["services"]
    command = [resolve(part, {}) for part in services["worker"]["command"]]
    assert command[:2] == ["sh", "-c"] and command[2].endswith(f"exec rq worker {QUEUE_NAME}")
    assert QUEUE_NAME == "ner-training"
    (tmp_path / "rq").write_text('#!/bin/sh\necho "args=$*"\necho "url=$RQ_REDIS_URL"\n')
    (tmp_path / "rq").chmod(0o755)
    url = "redis://:pw-7f3a@redis:6379/0"
    env = {"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}", "REDIS_URL": url}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=True)
    assert done.stdout.splitlines() == ["args=worker ner-training", f"url={url}"], done.stdout
    assert "REDIS_URL" in services["worker"]["environment"], "the worker listens where the backend enqueues"
    assert ENTRY_POINT == "worker.run_job" and callable(run_job)  # what the web enqueues, by name
    assert "command" not in services["backend"], "the backend runs the image's CMD"


def test_only_the_backend_is_published_beyond_loopback():
    """Resolved as compose resolves the file with the passwords set and nothing else: every published port but the
    backend's is bound to 127.0.0.1 (PRIVATE_ADDRESS's default), PostgreSQL is not published at all."""
    passwords = {"REDIS_PASSWORD": "r" * 16, "POSTGRES_PASSWORD": "p" * 16, "MLFLOW_TRACKING_PASSWORD": "m" * 16}
    services = yaml.safe_load(resolve(compose_text(), passwords))["services"]
    published = {name: [str(port) for port in spec.get("ports", [])] for name, spec in services.items()}
    assert published == {
        "backend": ["9090:9090"],
        "worker": [],
        "redis": ["127.0.0.1:6379:6379"],
        "mlflow": ["127.0.0.1:5000:5000"],
        "postgres": [],
    }, published
    private = yaml.safe_load(resolve(compose_text(), {**passwords, "PRIVATE_ADDRESS": "10.0.0.5"}))["services"]
    assert private["redis"]["ports"] == ["10.0.0.5:6379:6379"] and private["mlflow"]["ports"] == ["10.0.0.5:5000:5000"]


@pytest.mark.parametrize("missing", ["REDIS_PASSWORD", "POSTGRES_PASSWORD", "MLFLOW_TRACKING_PASSWORD"])
def test_compose_refuses_to_start_without_each_password(missing):
    passwords = {"REDIS_PASSWORD": "r" * 16, "POSTGRES_PASSWORD": "p" * 16, "MLFLOW_TRACKING_PASSWORD": "m" * 16}
    with pytest.raises(ValueError, match=f"required variable {missing} is missing a value: set {missing} in .env"):
        resolve(compose_text(), {k: v for k, v in passwords.items() if k != missing})


def test_redis_requires_its_password_and_the_default_url_carries_it():
    passwords = {"REDIS_PASSWORD": "pw-7f3a", "POSTGRES_PASSWORD": "p" * 16, "MLFLOW_TRACKING_PASSWORD": "m" * 16}
    services = yaml.safe_load(resolve(compose_text(), passwords))["services"]
    command = services["redis"]["command"]
    assert command[:1] == ["redis-server"] and command[command.index("--requirepass") + 1] == "pw-7f3a"
    assert services["redis"]["environment"]["REDISCLI_AUTH"] == "pw-7f3a", "the health check's redis-cli signs in"
    assert services["backend"]["environment"]["REDIS_URL"] == "redis://:pw-7f3a@redis:6379/0"
    assert services["worker"]["environment"]["REDIS_URL"] == "redis://:pw-7f3a@redis:6379/0"


def test_mlflow_server_on_postgres_behind_basic_auth_is_the_registry_backend_and_worker_use():
    passwords = {"REDIS_PASSWORD": "r" * 16, "POSTGRES_PASSWORD": "pg-pw-1234", "MLFLOW_TRACKING_PASSWORD": "m" * 16}
    services = yaml.safe_load(resolve(compose_text(), passwords))["services"]
    (script,) = re.findall(r"exec (mlflow server .*)", services["mlflow"]["command"][2])
    command = shlex.split(script)
    assert services["mlflow"]["command"][:2] == ["sh", "-c"] and command[:2] == ["mlflow", "server"]
    assert command[command.index("--app-name") + 1] == "basic-auth", "MLflow's own basic-auth app"
    assert "export MLFLOW_FLASK_SERVER_SECRET_KEY" in services["mlflow"]["command"][2]
    env, postgres = services["mlflow"]["environment"], services["postgres"]["environment"]
    assert "--backend-store-uri" not in command, "read from MLFLOW_BACKEND_STORE_URI: no password in a command line"
    assert env["MLFLOW_BACKEND_STORE_URI"] == (
        f"postgresql+psycopg2://{postgres['POSTGRES_USER']}:pg-pw-1234@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    assert postgres["POSTGRES_PASSWORD"] == "pg-pw-1234"
    backend = services["backend"]["environment"]
    assert (
        (env["MLFLOW_AUTH_ADMIN_USERNAME"], env["MLFLOW_AUTH_ADMIN_PASSWORD"])
        == (
            backend["MLFLOW_TRACKING_USERNAME"],
            backend["MLFLOW_TRACKING_PASSWORD"],
        )
        == ("ner-backend", "m" * 16)
    ), "the backend and the worker sign in as the admin the server creates"
    # The auth app's configuration ships in the image (/app is the repository) and keeps its users on the volume.
    ini = configparser.ConfigParser()
    assert ini.read(REPO / Path(env["MLFLOW_AUTH_CONFIG_PATH"]).relative_to("/app"))
    assert ini["mlflow"]["database_uri"].startswith("sqlite:////data/"), "on the ner-data volume"
    assert ini["mlflow"]["default_permission"] == "NO_PERMISSIONS"
    artifacts = command[command.index("--artifacts-destination") + 1]
    assert f"mlflow-artifacts:{artifacts}" in services["mlflow"]["volumes"], "artifacts must live on a volume"
    assert command[command.index("--host") + 1] == "0.0.0.0", "inside its container; published on loopback only"
    assert services["mlflow"]["ports"] == ["127.0.0.1:5000:5000"]
    hosts = command[command.index("--allowed-hosts") + 1].split(",")
    assert {"mlflow", "mlflow:5000", "localhost:5000", "127.0.0.1:5000"} <= set(hosts)
    defaults = compose_defaults(compose()["services"]["backend"]["environment"])
    assert defaults["MLFLOW_TRACKING_URI"] == f"http://mlflow:{command[command.index('--port') + 1]}"
    assert defaults["MODEL_STORE"] == "mlflow"
    assert services["mlflow"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "5000/health" in " ".join(services["mlflow"]["healthcheck"]["test"])


# --- Dockerfile and .dockerignore ----------------------------------------------------------------------------


def _run_index(instructions, *needles) -> int:
    hits = [
        i
        for i, (keyword, rest) in enumerate(instructions)
        if keyword == "RUN" and all(needle in rest for needle in needles)
    ]
    assert hits, f"no RUN with {needles}"
    return hits[0]


def test_dockerfile_base_user_ports_and_volume():
    instructions = dockerfile()
    keywords = [keyword for keyword, _ in instructions]
    # A build stage, then the image itself on a clean copy of the same base.
    assert [rest for keyword, rest in instructions if keyword == "FROM"] == [
        "python:3.11-slim AS build",
        "python:3.11-slim",
    ]
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), f"the image runs as {users[-1:] or 'root'}"
    assert any(keyword == "RUN" and "useradd" in rest and users[-1] in rest for keyword, rest in instructions)
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k in ("RUN", "COPY"))
    env = dockerfile_env()
    assert env["HF_HUB_OFFLINE"] == "1" and env["PORT"] == "9090"
    assert env["WORKERS"] == "1" and env["THREADS"] == "8"
    volumes = [
        json.loads(rest) if rest.startswith("[") else rest.split()
        for keyword, rest in instructions
        if keyword == "VOLUME"
    ]
    assert any(env["MODEL_DIR"].startswith(path.rstrip("/") + "/") for group in volumes for path in group)
    assert [rest for keyword, rest in instructions if keyword == "EXPOSE"] == [env["PORT"]]


def dockerfile_args() -> dict[str, str | None]:
    """ARG name -> default (None: declared without one)."""
    args = {}
    for keyword, rest in dockerfile():
        if keyword == "ARG":
            name, eq, default = rest.partition("=")
            args[name] = default if eq else None
    return args


def test_dockerfile_installs_cpu_torch_before_the_requirements():
    instructions = dockerfile()
    pins = {
        name: re.search(r"^torch==(\S+)$", (REPO / name).read_text(), re.M).group(1)
        for name in ("requirements.txt", "constraints.txt")
    }
    assert set(pins.values()) == {"2.13.0"}, pins
    torch = _run_index(instructions, "pip install torch==2.13.0", '${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}')
    requirements = _run_index(instructions, "pip install -r requirements.txt", "-c constraints.txt")
    assert torch < requirements, "a plain torch from requirements.txt would pull the CUDA build"
    copies = [i for i, (keyword, rest) in enumerate(instructions) if keyword == "COPY" and "requirements.txt" in rest]
    assert copies and copies[0] < requirements


def test_dockerfile_build_arguments_choose_torch_and_pass_pip_settings_through():
    args = dockerfile_args()
    assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu", "users get the CPU build by default"
    assert args["TORCH_BUILD"] == ""
    # Declared without a default, so an unset one stays unset (an empty PIP_INDEX_URL would be an empty index).
    assert {name: args.get(name, "missing") for name in ("PIP_INDEX_URL", "PIP_FIND_LINKS", "PIP_CERT")} == {
        "PIP_INDEX_URL": None,
        "PIP_FIND_LINKS": None,
        "PIP_CERT": None,
    }
    # Only the build stage sees them: the image's own history and environment keep no mirror URL or CA path.
    final = max(i for i, (keyword, _) in enumerate(dockerfile()) if keyword == "FROM")
    assert not [rest for keyword, rest in dockerfile()[final:] if keyword == "ARG"]


@pytest.mark.parametrize(
    "index, build, version, ok",
    [
        ("https://download.pytorch.org/whl/cpu", "", "2.13.0+cpu", True),
        ("https://download.pytorch.org/whl/cpu/", "", "2.13.0", False),
        ("https://download.pytorch.org/whl/cu128", "", "2.13.0+cu128", True),
        ("https://download.pytorch.org/whl/cu128", "", "2.13.0+cpu", False),
        ("", "", "2.13.0", True),
        ("", "cpu", "2.13.0+cpu", True),
        ("", "cpu", "2.13.0", False),
        ("https://mirror.example/pytorch/cpu", "cpu", "2.13.0+cpu", True),
    ],
)
def test_the_torch_build_check_follows_the_chosen_index(tmp_path, index, build, version, ok):
    """The Dockerfile's own check, run by sh against a stand-in torch module that reports `version`."""
    (rest,) = [rest for keyword, rest in dockerfile() if keyword == "RUN" and "pip install torch==" in rest]
    check = rest.split("&&", 1)[1].strip()  # what runs after pip: the check alone
    assert check.startswith('index="${TORCH_INDEX_URL%/}"') and "python -c" in check, check
    (tmp_path / "torch.py").write_text(f"__version__ = {version!r}\n")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path), "TORCH_INDEX_URL": index, "TORCH_BUILD": build}
    done = subprocess.run(
        ["sh", "-c", check.replace("python -c", f"{sys.executable} -c", 1)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (done.returncode == 0) == ok, done.stderr


SERVICE_IMPORTS = """
import importlib, json, sys
from pathlib import Path
repo = Path(sys.argv[1]).resolve()
for name in ("_wsgi", "model", "services.runtime", "services.select", "web.app", "worker", "training.pipeline",
             "training.tracking", "infra.label_studio"):
    importlib.import_module(name)
files = set()
for module in list(sys.modules.values()):
    path = Path(getattr(module, "__file__", None) or "/").resolve()
    if repo in path.parents:
        files.add(path.relative_to(repo).as_posix())
print(json.dumps(sorted(files)))
"""


def test_dockerignore_keeps_the_app_and_drops_secrets_and_history():
    # A fresh interpreter, so modules that other tests imported (bench/, tests/) do not count as the service's.
    out = subprocess.run(
        [sys.executable, "-c", SERVICE_IMPORTS, str(REPO)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    needed = {"requirements.txt", "constraints.txt", *json.loads(out.stdout.strip().splitlines()[-1])}
    assert {"_wsgi.py", "worker.py", "settings/__init__.py", "services/train_job.py", "text/__init__.py"} <= needed
    assert not [path for path in needed if dockerignore_excludes(path)], "the image would lack these"
    for path in (".env", ".git/config", "models/1/deployed", "tests/conftest.py", "text/__pycache__/x.pyc"):
        assert dockerignore_excludes(path), f"{path} would go into the build context"


# --- the image's CMD and HEALTHCHECK, run for real -----------------------------------------------------------


def _healthcheck(env: dict[str, str]) -> int:
    (rest,) = [rest for keyword, rest in dockerfile() if keyword == "HEALTHCHECK"]
    options, _, command = rest.partition("CMD ")
    assert "--start-period=" in options and "--timeout=" in options
    args = json.loads(command)
    assert args[0] == "python"
    return subprocess.run([sys.executable, *args[1:]], env=env, capture_output=True, timeout=30).returncode


def _run_image_cmd(tmp_path: Path, rule_model_dir, **env) -> tuple[Process, dict[str, str]]:
    """The image's CMD as the engine runs it (sh -c, the image's ENV overridden by `env`) against this checkout;
    returns once it answers /health (with the BASIC_AUTH_* of `env`, if any)."""
    (cmd,) = [json.loads(rest) for keyword, rest in dockerfile() if keyword == "CMD"]
    env = service_env(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        MODEL_DIR=tmp_path / "models",
        BASELINE_MODEL_NAME=rule_model_dir,
        **env,
    )
    server = Process(cmd, env, tmp_path / "image-cmd.log")
    auth = (env["BASIC_AUTH_USER"], env["BASIC_AUTH_PASS"]) if "BASIC_AUTH_USER" in env else None
    url = f"http://127.0.0.1:{env['PORT']}/health"
    for _ in range(300):
        assert server.proc.poll() is None, f"the image's CMD exited:\n{server.tail()}"
        try:
            if requests.get(url, auth=auth, timeout=2).status_code == 200:
                return server, env
        except requests.RequestException:
            pass
        time.sleep(0.3)
    server.stop()
    pytest.fail(f"the image's CMD did not answer /health:\n{server.tail()}")


def test_dockerfile_cmd_is_gunicorn_with_preload(tmp_path, rule_model_dir):
    """Run for real: the shell expands WORKERS and THREADS and execs gunicorn, which loads the app once before
    forking its workers, listens on PORT on loopback only (no basic auth: web.listen) and says so, and stops them
    all on the SIGTERM `docker stop` sends it."""
    port = free_port()
    # gunicorn's debug log prints the configuration it runs with (GUNICORN_CMD_ARGS adds to the CMD's options).
    server, _ = _run_image_cmd(
        tmp_path, rule_model_dir, PORT=port, WORKERS=2, THREADS=3, GUNICORN_CMD_ARGS="--log-level debug"
    )
    try:
        master = psutil.Process(server.proc.pid)  # exec: the shell the engine started is gunicorn itself
        assert "gunicorn" in " ".join(master.cmdline()), master.cmdline()
        # The first worker may answer /health before the master forks the second (gunicorn spawns them one by one,
        # up to 0.1 s apart): wait for both, whatever the machine's speed.
        deadline = time.time() + 30
        while len(workers := master.children()) < 2 and time.time() < deadline:
            time.sleep(0.1)
        assert len(workers) == 2 and all("gunicorn" in " ".join(w.cmdline()) for w in workers)
        listening = {
            (c.laddr.ip, c.laddr.port) for c in master.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN
        }
        assert listening == {("127.0.0.1", port)}, listening
        log = server.log_path.read_text(errors="replace")
        assert "listening on 127.0.0.1 only" in log and "ALLOW_OPEN_NETWORK=true" in log, log[-3000:]
        # --preload: the app is built once, in the master, before it forks (each worker would build its own and
        # warn about the missing credentials again).
        assert log.count("no BASIC_AUTH_USER/BASIC_AUTH_PASS") == 1, log[-3000:]
        assert log.index("no BASIC_AUTH_USER/BASIC_AUTH_PASS") < log.index("Booting worker")
        config = dict(re.findall(r"^\s+([a-z_]+): (.*)$", log.split("Current configuration:", 1)[1], re.M))
        assert (config["workers"], config["threads"], config["timeout"], config["preload_app"]) == (
            "2",
            "3",
            "300",
            "True",
        ), config
        assert "Using worker: gthread" in log  # threads > 1: each worker serves THREADS requests at once

        master.send_signal(signal.SIGTERM)  # to gunicorn alone, as `docker stop` sends it to PID 1
        gone, alive = psutil.wait_procs([master, *workers], timeout=60)
        assert not alive, f"still running after SIGTERM: {alive}\n{server.tail()}"
    finally:
        server.stop()


def test_image_cmd_serves_and_healthcheck_passes_only_with_credentials(tmp_path, rule_model_dir):
    port = str(free_port())
    server, env = _run_image_cmd(
        tmp_path, rule_model_dir, PORT=port, WORKERS="1", THREADS="2", BASIC_AUTH_USER="ls", BASIC_AUTH_PASS="s3cret"
    )
    try:
        master = psutil.Process(server.proc.pid)
        listening = {
            (c.laddr.ip, c.laddr.port) for c in master.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN
        }
        assert listening == {("0.0.0.0", int(port))}, "with basic auth a published port reaches it"
        probe = {"PATH": env["PATH"], "PORT": port}
        assert _healthcheck({**probe, "BASIC_AUTH_USER": "ls", "BASIC_AUTH_PASS": "s3cret"}) == 0
        assert _healthcheck(probe) != 0, "without credentials /health is 401: the check must fail"
        assert _healthcheck({**probe, "BASIC_AUTH_USER": "ls", "BASIC_AUTH_PASS": "wrong"}) != 0
    finally:
        server.stop()
    assert _healthcheck({"PATH": env["PATH"], "PORT": port}) != 0, "nothing listens: the check must fail"


# --- a real compose implementation validates the file (needs no engine) --------------------------------------


def _compose_cli() -> list[str] | None:
    """Compose v2 (`docker compose`), else podman-compose (scripts/container_tools.sh installs it, as CI does). The
    legacy docker-compose v1 (end of life since 2023) cannot read the file's nested defaults
    (`${REDIS_URL:-redis://:${REDIS_PASSWORD}@redis:6379/0}`) and is not supported."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    venv = Path(os.environ.get("NERB_COMPOSE_VENV", Path.home() / ".cache" / "nerb" / "podman-compose"))
    for candidate in (venv / "bin" / "podman-compose", shutil.which("podman-compose")):
        if candidate and Path(candidate).is_file():
            return [str(candidate)]
    return None


def test_compose_cli_accepts_the_file_and_resolves_the_defaults(tmp_path):
    cli = _compose_cli()
    if cli is None:
        pytest.fail("neither `docker compose` (v2) nor podman-compose is installed: run scripts/container_tools.sh")
    empty = tmp_path / "empty.env"  # the passwords alone, which compose requires
    empty.write_text("REDIS_PASSWORD=r-pw\nPOSTGRES_PASSWORD=p-pw\nMLFLOW_TRACKING_PASSWORD=m-pw-0123456789\n")
    clean = {k: v for k, v in os.environ.items() if k not in settings_variables()}

    def config(path: Path, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*cli, "--env-file", str(empty), "-f", str(path), *extra],
            cwd=path.parent,
            env=clean,
            capture_output=True,
            text=True,
            timeout=60,
        )

    checked = config(REPO / "docker-compose.yml", "config", "-q")
    assert checked.returncode == 0, checked.stderr
    resolved = yaml.safe_load(config(REPO / "docker-compose.yml", "config").stdout)
    services = resolved["services"]
    assert services["backend"]["environment"]["REDIS_URL"] == "redis://:r-pw@redis:6379/0"
    assert services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"] == (
        "postgresql+psycopg2://mlflow:p-pw@postgres:5432/mlflow"
    )
    assert services["backend"]["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    # The validator really validates: a wrong type and an unknown key are refused.
    broken = tmp_path / "broken" / "docker-compose.yml"
    broken.parent.mkdir()
    broken.write_text((REPO / "docker-compose.yml").read_text().replace('- "9090:9090"', "nine: thousand"))
    assert config(broken, "config", "-q").returncode != 0
