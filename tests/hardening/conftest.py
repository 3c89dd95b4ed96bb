"""Fixtures for the hardening tests: a private Redis server that a test may stop, and helpers to drive a backend."""

from __future__ import annotations

import copy
import shutil
import sys
import time
from pathlib import Path

import pytest
import redis
import requests

from tests.conftest import NER_TAGS, fixture
from tests.data.corpus import LABEL_CONFIG
from tests.support.servers import Process, free_port, service_env

LABELS = ["PER", "ORG", "LOC", "MISC"]


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
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


@pytest.fixture
def private_redis(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path)
    yield server
    server.stop()


def rq_worker(redis_url: str, log: Path, **env) -> Process:
    return Process(
        [sys.executable, "-m", "rq.cli", "worker", "--url", redis_url, "ner-training"],
        service_env(**{**env, "REDIS_URL": redis_url}),
        log,
    )


def annotation_webhook(task: dict, annotated: int = 0, project: int = 1, action: str = "ANNOTATION_CREATED") -> dict:
    """A webhook as Label Studio 1.23 sends it for `task`'s annotation (see tests/fixtures)."""
    body = copy.deepcopy(fixture("webhook_ANNOTATION_CREATED")["body"])
    body["action"] = action
    body["project"]["id"] = project
    body["project"]["num_tasks_with_annotations"] = annotated
    body["project"]["label_config"] = LABEL_CONFIG
    body["task"] = {"id": task["id"], "data": task["data"]}
    body["annotation"] = {
        **task["annotations"][0],
        "task": task["id"],
        "was_cancelled": False,
        "ground_truth": False,
        "updated_at": "2026-11-24T09:03:30Z",
    }
    return body


def start_training_webhook(project: int = 1) -> dict:
    body = copy.deepcopy(fixture("webhook_START_TRAINING")["body"])
    body["project"]["id"] = project
    body["project"]["label_config"] = LABEL_CONFIG
    return body


def job_state(url: str, project: int = 1, auth=None) -> dict:
    return (
        requests.get(f"{url}/train_status?project={project}", timeout=5, auth=auth).json()["jobs"].get(str(project), {})
    )


def wait_job(url: str, predicate, timeout: float = 120, project: int = 1, poll: float = 0.1) -> dict:
    deadline = time.time() + timeout
    state: dict = {}
    while time.time() < deadline:
        state = job_state(url, project)
        if predicate(state):
            return state
        time.sleep(poll)
    raise AssertionError(f"job state never matched within {timeout}s: {state}")


def predict_body(text: str = "Angela Merkel met Sony in Tokyo.", project: str = "1.1795511008") -> dict:
    return {"tasks": [{"id": 1, "data": {"text": text}}], "project": project, "label_config": LABEL_CONFIG}


def save_rule_version(store, rule_model_dir: Path, project: int = 1, annotations: int = 1):
    """Store the rule model as a fine-tuned version of `project` (a real checkpoint with the meta training writes)."""

    def write(directory: Path) -> None:
        for f in rule_model_dir.iterdir():
            shutil.copy2(f, directory / f.name)

    return store.save(project, annotations, write, {"labels": LABELS, "tags": NER_TAGS, "label_map": {}})
