"""Every command a user runs answers `--help` with its usage (argparse formats help strings with %, so a bare %
in one crashes --help and nothing else)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.paths import REPO

COMMANDS = [
    "_wsgi",
    "settings.table",
    "bench.simulate",
    "bench.fit_annotation_time",
    "bench.service_loop",
    "bench.stop_rule",
    "bench.compare_runs",
    "bench.sparse_corpus",
    "bench.kfold",
    "bench.training_time",
    "bench.speed_latency",
    "bench.speed_predict",
    "bench.speed_select",
]


@pytest.mark.parametrize("module", COMMANDS)
def test_every_command_prints_its_usage_on_help(module):
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout and "Traceback" not in done.stderr
