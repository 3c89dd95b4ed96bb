"""Reading a project's training job through the app's /train_status, as a test waiting on it does."""

from __future__ import annotations

import time
from typing import Callable


def job(client, project: str = "1") -> dict:
    """The project's job state as /train_status reports it ({} before any job)."""
    return client.get(f"/train_status?project={project}").json["jobs"].get(project, {})


def wait_job(
    client,
    predicate: Callable[[dict], bool],
    timeout: float,
    poll: float = 0.2,
    describe: Callable[[], str] = lambda: "",
) -> dict:
    """Poll until `predicate(state)` holds; else fail with the last state and `describe()` (e.g. a worker's log)."""
    deadline = time.time() + timeout
    state: dict = {}
    while time.time() < deadline:
        state = job(client)
        if predicate(state):
            return state
        time.sleep(poll)
    raise AssertionError(f"job state never matched within {timeout}s: {state}\n{describe()}")
