"""Reading a project's training job through /train_status, as a test waiting on it does: `job`/`wait_job` on an
in-process app client, `job_state`/`wait_job_state` on a server's URL."""

from __future__ import annotations

import time
from typing import Callable

import requests

from settings import Settings


def job(client, project: str = "1") -> dict:
    """The project's job state as /train_status reports it ({} before any job)."""
    return client.get(f"/train_status?project={project}").json["jobs"].get(project, {})


def wait_job(
    client,
    predicate: Callable[[dict], bool],
    timeout: float,
    poll: float = 0.2,
    describe: Callable[[], str] = lambda: "",
    project: str = "1",
) -> dict:
    """Poll until `predicate(state)` holds; else fail with the last state and `describe()` (e.g. a worker's log)."""
    deadline = time.time() + timeout
    state: dict = {}
    while time.time() < deadline:
        state = job(client, project)
        if predicate(state):
            return state
        time.sleep(poll)
    raise AssertionError(f"job state never matched within {timeout}s: {state}\n{describe()}")


def job_state(url: str, project: int | str = 1, auth=None) -> dict:
    """`job` for a server at `url`."""
    return (
        requests.get(f"{url}/train_status?project={project}", timeout=5, auth=auth).json()["jobs"].get(str(project), {})
    )


def wait_job_state(url: str, predicate, timeout: float = 120, project: int | str = 1, poll: float = 0.1) -> dict:
    """`wait_job` for a server at `url`."""
    deadline = time.time() + timeout
    state: dict = {}
    while time.time() < deadline:
        state = job_state(url, project)
        if predicate(state):
            return state
        time.sleep(poll)
    raise AssertionError(f"job state never matched within {timeout}s: {state}")


def job_settings(base: dict, **env) -> Settings:
    """A training job's settings: `base` (environment variables, as strings) with `env` overriding it."""
    return Settings.from_env({**base, **{k: str(v) for k, v in env.items()}})
