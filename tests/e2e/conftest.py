"""Fixtures for end-to-end tests against a real Label Studio 1.23.2 server (see tests/e2e/label_studio.py).

E2E=0 skips them; otherwise a server that cannot be prepared or started is an error, with its log tail.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.e2e.label_studio import PREDICTION_VALIDATION_FLAG, LabelStudioError, LabelStudioServer, ensure_ls_env


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: needs a real Label Studio server (tests/e2e)")


@pytest.fixture(scope="session")
def label_studio():
    """A started Label Studio, shared by the session (make a project per test to keep tests apart).

    Its prediction validation is on: a batch of predictions with one that does not fit the label config is refused.
    """
    if os.environ.get("E2E") == "0":
        pytest.skip("E2E=0: end-to-end tests against a real Label Studio are switched off")
    t0 = time.monotonic()
    try:
        ensure_ls_env()
        prepared = time.monotonic() - t0
        server = LabelStudioServer(extra_env={PREDICTION_VALIDATION_FLAG: "true"}).start()
    except LabelStudioError as e:
        pytest.fail(f"Label Studio did not start: {e}", pytrace=False)
    print(
        f"\n[e2e] Label Studio {server.url}: env ready in {prepared:.1f} s, started in {server.startup_seconds:.1f} s"
    )
    try:
        yield server
    finally:
        server.stop()
