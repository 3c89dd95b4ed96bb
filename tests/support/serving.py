"""Waiting for a web process to serve a newly deployed version (it loads it in the background, see
modeling/cache.py)."""

from __future__ import annotations

import time
from typing import Callable


def results_once_serving(predict: Callable[[], dict], version: str, timeout: float = 60.0) -> list[dict]:
    """/predict's results (`predict()` returns its JSON) once every one carries `version`, or the last ones seen."""
    deadline = time.monotonic() + timeout
    while True:
        results = predict()["results"]
        if {r["model_version"] for r in results} == {version} or time.monotonic() > deadline:
            return results
        time.sleep(0.05)
