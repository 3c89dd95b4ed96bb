"""The RQ entry point, `rq worker --url redis://... ner-training` runs `run_job` for each training job.

Composition root of the worker, as `_wsgi.create_app` is the web's: settings from the environment, Redis from the
worker that runs the job (REDIS_URL need not be set in the worker's environment).
"""
from __future__ import annotations

import logging
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import redis  # noqa: E402
from redis.exceptions import RedisError  # noqa: E402
from rq import get_current_job  # noqa: E402

from ner.pool import ModelPool  # noqa: E402
from ner.stores import open_store  # noqa: E402
from prediction import settings_ranking  # noqa: E402
from settings import Settings  # noqa: E402
from training.annotation_mirror import open_mirror  # noqa: E402
from training.annotation_times import AnnotationTimes  # noqa: E402
from training.job import JobContext, execute  # noqa: E402
from training.niceness import yield_cpu_to_serving  # noqa: E402
from training.refresh import PredictionRefresh  # noqa: E402
from training.rq_queue import RQQueue  # noqa: E402
from training.triggers import RedisTriggers  # noqa: E402

log = logging.getLogger(__name__)

STATE_TIMEOUT_S = 2.0  # a job state write waits at most this long for Redis (the training never waits for it)


def with_timeouts(connection: redis.Redis, timeout: float = STATE_TIMEOUT_S) -> redis.Redis:
    """A client to the worker's Redis (same host, port, database, credentials) whose calls give up after `timeout`."""
    pool = connection.connection_pool
    kwargs = {**pool.connection_kwargs, "socket_timeout": timeout, "socket_connect_timeout": timeout}
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs))


def run_job(project: str) -> dict:
    """Run the current RQ job (its id is the job state's job id) for `project`."""
    job = get_current_job()
    settings = Settings.from_env()
    yield_cpu_to_serving(settings)
    store = open_store(settings)
    state = with_timeouts(job.connection)
    times = AnnotationTimes(store, state)
    pool = ModelPool(settings, store)
    refresh = PredictionRefresh(
        pool, lambda p: settings_ranking(settings, lambda: times.observations(p)).single_pass(),
        settings.refresh_max_tasks)
    context = JobContext(settings, store, RedisTriggers(state, stale_after=settings.job_heartbeat_timeout),
                         RQQueue(job.connection).enqueue, refresh, open_mirror(settings, store, state))
    return execute(project, job.id, context)


def on_job_failed(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback: the job raised past `execute` (the worker's settings are invalid, Redis was gone when
    it started...), so its state says failed now, not when /train_status next asks RQ."""
    _abandon(job, connection, f"job failed in its RQ worker: {getattr(exc_type, '__name__', exc_type)}: {exc_value}")


def on_job_stopped(job, connection) -> None:
    """RQ stopped callback (`rq` stop-job command): the job state says failed at once."""
    _abandon(job, connection, "job stopped in RQ (a stop-job command killed its work horse)")


def _abandon(job, connection, error: str) -> None:
    if not job.args:
        return
    project = str(job.args[0])
    try:
        if RedisTriggers(with_timeouts(connection)).abandon(project, job.id, error[:500]):
            log.warning("project %s: job %s %s", project, job.id, error[:500])
    except RedisError as exc:  # /train_status settles it from RQ's registries later
        log.warning("project %s: could not mark job %s failed (%s): %s", project, job.id, exc, error[:300])
