"""The thread budget of a web worker: cores / workers, at least 1, TORCH_THREADS overriding it; applied to torch."""

from __future__ import annotations

import os
import subprocess
import sys

from modeling.threads import available_cores, thread_budget
from tests.support.paths import REPO


def test_budget_is_the_cores_shared_by_the_workers_rounded_down_and_never_zero():
    assert thread_budget(16, 4) == 4
    assert thread_budget(16, 3) == 5
    assert thread_budget(2, 1) == 2
    assert thread_budget(2, 4) == 1
    assert thread_budget(8, 0) == 8


def test_an_override_wins_whatever_the_cores_and_workers():
    assert thread_budget(2, 4, override=3) == 3
    assert thread_budget(64, 1, override=1) == 1


def test_available_cores_follow_the_process_affinity():
    assert available_cores() == len(os.sched_getaffinity(0))
    script = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from modeling.threads import available_cores; print(available_cores())"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_creating_the_app_applies_the_budget_to_torch_and_openmp(make_client):
    import torch

    before = torch.get_num_threads()
    try:
        make_client(TORCH_THREADS=1)
        assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
        make_client()  # auto: one process, all the cores it may use
        assert torch.get_num_threads() == available_cores()
    finally:
        torch.set_num_threads(before)
