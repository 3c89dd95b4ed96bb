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
from rq.job import Job  # noqa: E402

from infra.annotation_mirror import open_mirror  # noqa: E402
from infra.job_state import RedisJobState  # noqa: E402
from infra.lead_times import AnnotationTimes  # noqa: E402
from infra.redis_clients import heartbeat_client, job_client  # noqa: E402
from infra.rq_queue import RQQueue  # noqa: E402
from infra.served_predictions import ServedPredictions  # noqa: E402
from modeling.niceness import yield_cpu_to_serving  # noqa: E402
from services.train_job import execute, job_context  # noqa: E402
from settings import Settings  # noqa: E402
from store.opening import open_store  # noqa: E402

log = logging.getLogger(__name__)


def run_job(project: str) -> dict:
    """Run the current RQ job (its id is the job state's job id) for `project`."""
    job = get_current_job()
    settings = Settings.from_env()
    yield_cpu_to_serving(settings)
    store = open_store(settings)
    state = job_client(job.connection)  # waits out a Redis restart (start, deploy guard, outcome, follow-up)
    stale_after = settings.job_heartbeat_timeout
    context = job_context(
        settings,
        store,
        RedisJobState(state, stale_after=stale_after),
        RQQueue(state).enqueue,
        open_mirror(settings, store, state),
        AnnotationTimes(store, state),
        beats=RedisJobState(heartbeat_client(job.connection), stale_after=stale_after),  # fails fast, beats again
        served=ServedPredictions(store, state),  # what the refresh imports, for the team view's acceptance
    )
    return execute(project, job.id, context)


def on_job_failed(job: Job, connection: redis.Redis, exc_type, exc_value, traceback) -> None:
    """RQ failure callback: the job raised past `execute` (the worker's settings are invalid, Redis was gone when
    it started...), so its state says failed now, not when /train_status next asks RQ."""
    _abandon(job, connection, f"job failed in its RQ worker: {getattr(exc_type, '__name__', exc_type)}: {exc_value}")


def on_job_stopped(job: Job, connection: redis.Redis) -> None:
    """RQ stopped callback (`rq` stop-job command): the job state says failed at once."""
    _abandon(job, connection, "job stopped in RQ (a stop-job command killed its work horse)")


def _abandon(job: Job, connection: redis.Redis, error: str) -> None:
    if not job.args:
        return
    project = str(job.args[0])
    try:
        if RedisJobState(job_client(connection)).abandon(project, job.id, error[:500]):
            log.warning("project %s: job %s %s", project, job.id, error[:500])
    except RedisError as exc:  # /train_status settles it from RQ's registries later
        log.warning("project %s: could not mark job %s failed (%s): %s", project, job.id, exc, error[:300])
