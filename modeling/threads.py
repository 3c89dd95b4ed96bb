"""The thread budget of a web worker: the cores this process may use, shared by gunicorn's workers.

Every worker left at torch's default takes one thread per core, so N workers on C cores run N x C threads that
preempt each other; a budget of C / N each (TORCH_THREADS overrides it) keeps them out of each other's way.
"""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on this platform
        return max(1, os.cpu_count() or 1)


def thread_budget(cores: int, workers: int, override: int = 0) -> int:
    """Threads of one worker: `override` when set (> 0), else cores / workers rounded down, at least 1."""
    if override > 0:
        return override
    return max(1, cores // max(1, workers))


def apply_thread_budget(threads: int) -> None:
    """torch's intra-op threads now, and OpenMP/MKL's for anything that starts its pool later in this process."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    torch.set_num_threads(threads)
    log.info("process %d: %d torch threads", os.getpid(), threads)


def budget_for(settings, workers: int) -> int:
    return thread_budget(available_cores(), workers, settings.torch_threads)


def torch_threads() -> int:
    """The intra-op threads this process runs with now (shown by /health)."""
    return torch.get_num_threads()
