"""Quick looks at the services the backend depends on, for the status report: each answers None when all is well,
else what is wrong in words. Short timeouts; called from a background thread, never from a request."""

from __future__ import annotations

import functools

import redis
from rq import Queue, Worker

from infra.label_studio import LabelStudioAPI, LabelStudioAuthError, LabelStudioError
from infra.rq_queue import QUEUE_NAME

PROBE_TIMEOUT_S = 2.0


@functools.lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    """One client per URL, shared by both looks and every round (redis-py's pool is thread-safe)."""
    return redis.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT_S, socket_timeout=PROBE_TIMEOUT_S)


def redis_problem(url: str) -> str | None:
    try:
        _client(url).ping()
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {str(exc)[:160]}"
    return None


def rq_workers(url: str) -> int:
    """How many RQ workers listen on the training queue (raises RedisError when Redis cannot tell)."""
    connection = _client(url)
    return Worker.count(connection=connection, queue=Queue(QUEUE_NAME, connection=connection))


def label_studio_problem(host: str, api_key: str) -> tuple[str, str] | None:
    """None when Label Studio answers and accepts the key; else ("refused" | "unreachable", what it said)."""
    try:
        LabelStudioAPI(host, api_key, timeout=PROBE_TIMEOUT_S + 3).whoami()
    except LabelStudioAuthError as exc:
        return "refused", str(exc)
    except LabelStudioError as exc:
        return "unreachable", str(exc)
    return None
