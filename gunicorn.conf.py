"""gunicorn reads this file from the working directory: each worker, once forked, takes its share of the cores
(`modeling.threads`: TORCH_THREADS, or the cores divided by --workers), and every worker's Prometheus metrics go
to one folder so that a scrape served by any worker adds them all up (web/prometheus.py); each worker starts its
status probes as soon as it has the app (services/status.py); and the server listens only where `web.listen`
allows: HOST:PORT, HOST by default 127.0.0.1, or 0.0.0.0 with basic auth or ALLOW_OPEN_NETWORK; an address beyond
loopback without either (HOST, --bind or GUNICORN_CMD_ARGS) stops the server before it listens."""

import os
import sys
import tempfile
from pathlib import Path

# Before the app (and prometheus_client) is imported: a fresh folder per server, or the operator's, emptied.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        stale.unlink()
else:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="nerb-prometheus-")

from modeling.threads import apply_thread_budget, budget_for  # noqa: E402
from settings import Settings, SettingsError  # noqa: E402
from web.listen import EVERY_INTERFACE, listen_on  # noqa: E402


def _refuse(exc: SettingsError):
    sys.stderr.write(f"configuration error: {exc}\n")
    sys.stderr.flush()
    raise SystemExit(2)


# The address when neither --bind nor GUNICORN_CMD_ARGS names one (they override this; on_starting checks theirs).
try:
    _chosen = listen_on(os.environ.get("HOST", ""), Settings.from_env()).host
except SettingsError as exc:
    _refuse(exc)
bind = [f"{_chosen}:{os.environ.get('PORT', '9090')}"]


def on_starting(server):
    """The addresses gunicorn will bind, whichever option named them, checked before it listens."""
    try:
        settings = Settings.from_env()
        for address in server.cfg.address:
            if isinstance(address, tuple):  # not a unix socket or an inherited file descriptor
                host = address[0] or EVERY_INTERFACE
                chosen_here = host == _chosen and not os.environ.get("HOST", "")
                warning = listen_on("" if chosen_here else host, settings).warning
                if warning:
                    server.log.warning(warning)
    except SettingsError as exc:
        _refuse(exc)


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
