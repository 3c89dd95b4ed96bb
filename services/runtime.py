"""The objects one web process builds once and every request shares: `serving_objects(settings)` returns them.

A plain function and a frozen dataclass: `_wsgi.create_app` (the web's composition root) calls it and hands the
fields to the backend class; no service reads them from here (each takes what it needs as parameters). The RQ
worker builds its own objects per job in `worker.run_job`; both job runners build a job's context with
`services.train_job.job_context`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis

from infra.annotation_mirror import open_mirror
from infra.dispatch import JobDispatcher
from infra.job_state import LocalJobState, RedisJobState
from infra.lead_times import AnnotationTimes
from infra.local_queue import LocalQueue
from infra.probes import label_studio_problem, redis_problem, rq_workers
from infra.redis_clients import web_client
from infra.rq_queue import RQQueue
from infra.served_predictions import ServedPredictions
from modeling.cache import ModelCache
from services.predict import ProjectRankings
from services.select import ScoreCache
from services.status import Probes, StatusMonitor
from services.team_view import TeamView
from services.train_job import execute, job_context
from settings import Settings
from store.local import Store
from store.opening import open_store


@dataclass(frozen=True)
class ServingObjects:
    """Built once per process (gunicorn --preload builds them in the master, before forking)."""

    settings: Settings
    store: Store  # the serving store (it answers from its timer's last look at a registry)
    models: ModelCache  # the loaded models, per (project, labels)
    scores: ScoreCache  # /select_samples' cached model outputs and batches
    rankings: ProjectRankings  # the settings' ranking per project, cost-aware on its lead times
    jobs: JobDispatcher | None  # webhooks in, training jobs out (None: training is not enabled in this process)
    status: StatusMonitor  # what works and what does not, probed in the background (/health's `report`)
    served: ServedPredictions  # what /predict served per task and version (acceptance of API annotations)
    team: TeamView  # the team page's data (web/team.py)


def serving_objects(settings: Settings) -> ServingObjects:
    Path(settings.model_dir).mkdir(parents=True, exist_ok=True)
    store = open_store(settings, serving=True)
    models = ModelCache(settings, store)
    connection = web_client(settings.redis_url)  # one client for lead times, job state and the queue
    times = AnnotationTimes(store, connection)
    rankings = ProjectRankings(settings, times)
    served = ServedPredictions(store, connection)
    jobs = training_jobs(settings, store, connection, times, models, rankings, served)
    status = StatusMonitor(settings, Probes(redis_problem, rq_workers, label_studio_problem))
    scores = ScoreCache()
    team = TeamView(settings, store, jobs, status, jobs.mirror, served, scores)
    return ServingObjects(settings, store, models, scores, rankings, jobs, status, served, team)


def training_jobs(
    settings: Settings,
    store: Store,
    connection: redis.Redis | None,
    times: AnnotationTimes,
    models: ModelCache,
    rankings: ProjectRankings,
    served: ServedPredictions | None = None,
) -> JobDispatcher:
    """RQ and Redis state with REDIS_URL; else a worker thread in this process, with its state in memory."""
    mirror = open_mirror(settings, store, connection)
    if connection is not None:
        job_state = RedisJobState(connection, stale_after=settings.job_heartbeat_timeout)
        return JobDispatcher(settings, store, job_state, RQQueue(connection), times, mirror)
    job_state = LocalJobState(stale_after=settings.job_heartbeat_timeout)
    local = LocalQueue(lambda project, job_id: execute(project, job_id, context))
    # the job reads the registry itself (a serving store answers from its timer's last look); its refresh after a
    # deploy shares this process's models and rankings
    context = job_context(
        settings,
        open_store(settings),
        job_state,
        local.enqueue,
        mirror,
        times,
        models=models,
        rankings=rankings,
        served=served,
    )
    return JobDispatcher(settings, store, job_state, local, times, mirror)
