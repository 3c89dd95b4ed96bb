"""Redis clients for the web process and the job path, with redis-py's own `Retry` on connection errors.

A Redis that restarts closes every pooled connection; without a retry the first call on each stale connection fails
(the deploy guard then refused to deploy a finished job). redis-py reconnects inside `Retry`, so no call site retries
by hand. The web client and the heartbeat retry only a refused or dropped connection, once and at once: a request
must not wait for a Redis that hangs (Label Studio gives up after 1 s), and the next beat tries again anyway. The
rest of the job path (start, deploy guard, outcome, follow-up) waits out a restart with backoff.
"""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

WEB_TIMEOUT_S = 0.5  # a slow Redis must not hold a request
JOB_TIMEOUT_S = 2.0  # a job state write waits at most this long for one answer (the training never waits for it)
# Backoff 0.25 s doubling to 4 s, 12 retries: about 36 s, longer than a Redis restart (the outcome must reach it).
JOB_RETRY_BASE_S, JOB_RETRY_CAP_S, JOB_RETRIES = 0.25, 4.0, 12


def quick_retry() -> Retry:
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


def job_retry() -> Retry:
    return Retry(
        ExponentialBackoff(cap=JOB_RETRY_CAP_S, base=JOB_RETRY_BASE_S),
        JOB_RETRIES,
        supported_errors=(RedisConnectionError, RedisTimeoutError, TimeoutError),
    )


def web_client(url: str) -> redis.Redis | None:
    """The web process's client (lead times, job state, the queue), or None without REDIS_URL."""
    if not url:
        return None
    return redis.Redis.from_url(
        url, socket_connect_timeout=WEB_TIMEOUT_S, socket_timeout=WEB_TIMEOUT_S, retry=quick_retry()
    )


def job_client(connection: redis.Redis, timeout: float = JOB_TIMEOUT_S, retry: Retry | None = None) -> redis.Redis:
    """A client to the same Redis as `connection` (host, port, database, credentials: the RQ worker's, so REDIS_URL
    need not be set in the worker's environment) whose calls time out after `timeout` and retry with backoff."""
    pool = connection.connection_pool
    kwargs = {
        **pool.connection_kwargs,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": retry or job_retry(),
    }
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs))


def heartbeat_client(connection: redis.Redis, timeout: float = JOB_TIMEOUT_S) -> redis.Redis:
    """The running job's progress writer: a failed beat is logged at once and the next one tries again."""
    return job_client(connection, timeout, quick_retry())
