"""Fixtures every test directory may use: a rule-controlled model, app clients (whose /predict answers are all
checked with label-studio-sdk's validator, `tests.support.predictions`), a private Redis, and an MLflow server.

Helpers and constants live in tests/support (a test module imports those, never another test module or a conftest;
tests/unit/test_test_layout.py checks it): paths and recorded Label Studio requests (`paths`), the rule model
(`rule_model`), request bodies (`bodies`), job polling (`jobs`), a private redis-server (`redis_server`); the corpus
and server processes, which the benchmarks share, are bench.corpus and bench.servers.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def rule_model_dir(tmp_path_factory) -> Path:
    from tests.support.rule_model import NER_TAGS, RULES, build_rule_model

    return build_rule_model(tmp_path_factory.mktemp("rule-model"), NER_TAGS, RULES)


@pytest.fixture
def make_client(tmp_path):
    """Build an app client with settings from a dict of environment variables (MODEL_DIR defaults to tmp)."""
    from _wsgi import create_app
    from settings import Settings
    from tests.support.predictions import ValidatingClient

    def make(**env):
        env = {"MODEL_DIR": str(tmp_path / "models"), **{k: str(v) for k, v in env.items()}}
        app = create_app(Settings.from_env(env))
        app.testing = True
        app.test_client_class = type("Client", (ValidatingClient,), {"model_dir": env["MODEL_DIR"]})
        return app.test_client()

    return make


@pytest.fixture
def rule_client(make_client, rule_model_dir):
    return make_client(BASELINE_MODEL_NAME=rule_model_dir)


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of this test's own (`tests.support.redis_server.PrivateRedis`), stopped after it."""
    from tests.support.redis_server import PrivateRedis

    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mlflow_session(tmp_path_factory):
    """One real MLflow tracking server (PostgreSQL backend, proxied artifacts) for the whole session."""
    from tests.support.mlflow_server import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    yield server
    server.close()


@pytest.fixture
def mlflow_server(mlflow_session):
    """The session's MLflow server, started again if an earlier test stopped it."""
    mlflow_session.ensure_running()
    return mlflow_session


_PROJECTS = itertools.count(100)


@pytest.fixture
def fresh_project() -> str:
    """A project id no other test of the session used (the MLflow server's registry outlives a test)."""
    return str(next(_PROJECTS))
