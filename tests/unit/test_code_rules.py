"""The house rules, checked by kept tools: import-linter's contracts (pyproject.toml: the layers of
docs/architecture.md, and the pure layers importing no torch, Flask, Redis or MLflow), ruff's lint and format. Plus
one import rule no contract states: MLflow's slow import happens only when a registry store is built."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO

BIN = Path(sys.executable).parent

LOADED = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_the_import_linter_contracts_hold():
    done = run(str(BIN / "lint-imports"), "--no-cache")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_ruff_lint_and_format_pass():
    lint = run(str(BIN / "ruff"), "check", ".")
    assert lint.returncode == 0, lint.stdout[-4000:]
    formatted = run(str(BIN / "ruff"), "format", "--check", ".")
    assert formatted.returncode == 0, formatted.stdout[-4000:]


def test_the_model_stores_load_neither_training_nor_the_web_nor_mlflow_until_the_registry_is_used():
    """MLflow's slow import happens only when a registry store is built, so MODEL_STORE=local never pays for it."""
    out = subprocess.run(
        [sys.executable, "-c", LOADED, "store.opening"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={"HF_HUB_OFFLINE": "1", "PATH": ""},
    )
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    unwanted = {"training", "services", "web", "flask", "mlflow", "model", "_wsgi"}
    assert not loaded & unwanted, sorted(loaded & unwanted)
