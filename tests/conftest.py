"""Shared fixtures: Label Studio's recorded requests, a rule-controlled model, and app clients (whose /predict
answers are all checked with label-studio-sdk's validator, `tests.support.predictions`)."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "label-studio-1.23.2"  # requests a real Label Studio 1.23.2 sent

NER_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
# Word pieces of the default (uncased) tokenizer and the tag the rule model gives them.
RULES = {
    "angela": "B-PER",
    "mer": "I-PER",
    "##kel": "I-PER",
    "tim": "B-PER",
    "cook": "I-PER",
    "macro": "B-PER",
    "apple": "B-ORG",
    "sony": "B-ORG",
    "un": "B-ORG",
    "siemens": "B-ORG",
    "berlin": "B-LOC",
    "tokyo": "B-LOC",
    "geneva": "B-LOC",
    "munich": "B-LOC",
    "cafe": "B-LOC",
    "cup": "B-LOC",
    "##ert": "I-LOC",
    "##ino": "I-LOC",
    "北": "B-LOC",
    "京": "I-LOC",
    "paris": "B-LOC",
    "london": "B-LOC",
    "alice": "B-PER",
    "bob": "B-PER",
    "maybe": "?",
    "perhaps": "?",  # the model is unsure about these (uniform over all tags)
}


def fixture(name: str) -> dict:
    """A request Label Studio 1.23.2 really sent: {"method", "path", "headers", "body"}."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture(scope="session")
def rule_model_dir(tmp_path_factory) -> Path:
    from tests.support.rule_model import build_rule_model

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
