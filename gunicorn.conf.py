"""gunicorn reads this file from the working directory: each worker, once forked, takes its share of the cores
(`modeling.threads`: TORCH_THREADS, or the cores divided by --workers)."""

from modeling.threads import apply_thread_budget, budget_for
from settings import Settings


def post_fork(server, worker):
    apply_thread_budget(budget_for(Settings.from_env(), server.cfg.workers))
