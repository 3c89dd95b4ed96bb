"""gunicorn reads this file from the working directory: each worker, once forked, takes its share of the cores
(`modeling.threads`: TORCH_THREADS, or the cores divided by --workers), and every worker's Prometheus metrics go
to one folder so that a scrape served by any worker adds them all up (web/prometheus.py)."""

import os
import tempfile
from pathlib import Path

# Before the app (and prometheus_client) is imported: a fresh folder per server, or the operator's, emptied.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        stale.unlink()
else:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="nerb-prometheus-")

from modeling.threads import apply_thread_budget, budget_for  # noqa: E402
from settings import Settings  # noqa: E402


def post_fork(server, worker):
    apply_thread_budget(budget_for(Settings.from_env(), server.cfg.workers))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
