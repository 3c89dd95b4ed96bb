"""Training jobs on an RQ queue (`rq worker ner-training` runs them), and what RQ knows of a job."""

from __future__ import annotations

import redis
from rq import Callback, Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

QUEUE_NAME = "ner-training"
ENTRY_POINT = "worker.run_job"  # the worker's composition root (worker.py), imported by RQ by name
# Run by the RQ worker when a job raises past its own error handling, or is stopped: they mark the job state failed
# at once (the registries consulted by /train_status remain the fallback, e.g. for a work horse killed outright).
ON_FAILURE, ON_STOPPED = Callback("worker.on_job_failed"), Callback("worker.on_job_stopped")
JOB_TIMEOUT_S = 6 * 3600
WAITING = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.CREATED)


class RQQueue:
    """Enqueues job `job_id` as RQ job `job_id`, so the job state and RQ name the same job."""

    mode = "rq"

    def __init__(self, connection: redis.Redis):
        self.queue = Queue(QUEUE_NAME, connection=connection)

    def enqueue(self, project: str, job_id: str) -> None:
        self.queue.enqueue(
            ENTRY_POINT,
            project,
            job_id=job_id,
            job_timeout=JOB_TIMEOUT_S,
            description=f"train the model of project {project}",
            on_failure=ON_FAILURE,
            on_stopped=ON_STOPPED,
        )

    def whereabouts(self, job_id: str) -> tuple[str, str]:
        """("waiting" | "taken" | "ended" | "missing", detail) from RQ's record of the job (a record lost with Redis's
        data reads as missing too)."""
        try:
            job = Job.fetch(job_id, connection=self.queue.connection)
        except NoSuchJobError:
            return "missing", "its RQ job no longer exists (deleted, or the queue was emptied)"
        status = job.get_status(refresh=False)
        if status in WAITING:
            return "waiting", f"RQ job {status.value}"
        if status == JobStatus.STARTED:
            return "taken", f"RQ job started by {job.worker_name or 'a worker'}"
        detail = f"its RQ job is {getattr(status, 'value', status)}"
        if status == JobStatus.FAILED:
            result = job.latest_result()
            lines = (result.exc_string or "").strip().splitlines() if result is not None else []
            if lines:
                detail += f": {lines[-1][:300]}"
        return "ended", detail
