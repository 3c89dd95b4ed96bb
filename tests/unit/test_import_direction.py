"""Imports flow one way: training (and the worker's entry point) never load the web layer, and the web's runtime
imports training at the top of the module, not inside a function hiding a cycle."""
from __future__ import annotations

import ast
import json
import subprocess
import sys

from tests.conftest import REPO

WEB = ("flask", "protocol", "model", "runtime", "_wsgi")
LOADED = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def loaded_by(module: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", LOADED, module], cwd=REPO, capture_output=True, text=True,
                         check=True, env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_training_and_the_worker_never_load_the_web_layer():
    for module in ("worker", "training.webhooks", "training.job", "training.refresh", "training.local_queue",
                   "training.rq_queue", "training.heartbeat", "prediction"):
        assert not loaded_by(module) & set(WEB), module


def test_the_runtime_imports_training_at_module_level_and_nothing_inside_functions():
    tree = ast.parse((REPO / "runtime.py").read_text())
    top = {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert {"training.webhooks", "training.job"} <= top
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            assert not [n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))], node.name


def test_the_model_stores_load_neither_training_nor_the_web_nor_mlflow_until_the_registry_is_used():
    """The store interface sits below training (which imports it, never the reverse); MLflow's slow import happens
    only when a registry store is built, so MODEL_STORE=local never pays for it."""
    loaded = loaded_by("ner.stores")
    assert not loaded & ({"training", "mlflow"} | set(WEB)), sorted(loaded & ({"training", "mlflow"} | set(WEB)))
