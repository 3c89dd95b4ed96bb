"""gunicorn reads this file from the working directory: each worker, once forked, takes its share of the cores
(`modeling.threads`: TORCH_THREADS, or the cores divided by --workers), and every worker's Prometheus metrics go
to one folder so that a scrape served by any worker adds them all up (web/prometheus.py); each worker starts its
status probes as soon as it has the app (services/status.py)."""

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


def post_worker_init(worker):
    """The status probes start with the worker, not at its first /health: the start-up log says what Redis, the RQ
    workers and Label Studio answer, and the first /health reports it (a thread started in the master before the
    fork would not survive it, and a thread in the master while it forks is unsafe)."""
    monitor = getattr(worker.wsgi, "extensions", {}).get("status_monitor")
    if monitor is not None:
        monitor.start()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
