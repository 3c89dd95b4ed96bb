"""When to train: per-project annotation counters and job states, coalescing triggers into one follow-up.

Two interchangeable backends with the same methods: `RedisJobState` (atomic Lua scripts, shared by every
gunicorn worker and the RQ worker) and `LocalJobState` (a lock and dicts, for the in-process worker).
State per project: idle -> queued -> running -> finished | failed. A trigger while queued is absorbed (the
queued job will read the newest annotations); a trigger while running sets one follow-up, however many arrive.
A running job whose heartbeat stops (worker killed) is declared failed by the next trigger.
Each state names its job (`job_id`, the RQ job id): only that job may write progress or its outcome, so a job
declared lost that comes back cannot overwrite its replacement. Starting a job takes the project's next
`generation`; `deploying` lets only the newest generation move the deployed pointer.
A forgotten project (`forget`, services.forget) keeps only a tombstone for TOMBSTONE_S: a state naming no job, so a
job of the project that is queued never starts, and one that is running can neither write its state nor deploy,
and finds the project `forgotten` when it ends (it then removes what it saved).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from contextlib import contextmanager
from typing import TYPE_CHECKING

from redis.exceptions import LockError, RedisError
from redis.lock import Lock

if TYPE_CHECKING:
    import redis as redis_py

log = logging.getLogger(__name__)

HEARTBEAT_STALE_S = 60.0
ACTIVE = ("queued", "running")
DEPLOY_LOCK_S = 120  # the lock expires by itself if its holder dies while deploying
DEPLOY_WAIT_S = 30
FORGOTTEN = "forgotten"  # the state of a project whose kept data was deleted (a tombstone: no data, one timestamp)
TOMBSTONE_S = 24 * 3600  # longer than any job may run (RQ's job timeout is 6 h), so a late job still finds it
TOMBSTONE_JOB = "forgotten"  # the job id a tombstone names: no job has it, so no job owns the state


class RetrySafeLock(Lock):
    """redis-py's Lock under a client that retries timed-out commands (the job path's, infra.redis_clients).

    A SET that timed out on a paused Redis is applied when Redis resumes; its retry then finds the key taken, by
    our own token, and redis-py's Lock would wait for itself until it gives up and leave the lock taken for
    DEPLOY_LOCK_S, refusing every later deploy of the project meanwhile. Finding our own token means we hold it.
    """

    def do_acquire(self, token: bytes) -> bool:
        if super().do_acquire(token):
            return True
        held = self.redis.get(self.name)
        return held is not None and self.redis.get_encoder().encode(held) == token


def new_job_id(project: str) -> str:
    """A job id for the state and for RQ (never valid JSON, so the state keeps it as a string)."""
    return f"train-p{project}-{uuid.uuid4().hex}"


def _now() -> float:
    return time.time()


class LocalJobState:
    """In-memory counters and states for one process."""

    def __init__(self, stale_after: float = HEARTBEAT_STALE_S):
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.states: dict[str, dict] = {}
        self.generations: dict[str, int] = {}
        self.totals: dict[str, str] = {}
        self.deploy_lock = threading.Lock()
        self.stale_after = stale_after

    def count(self, project: str, n: int, every: int, initial: int = 0) -> bool:
        """Add `n` annotation events; True when the project crossed a multiple of `every` (then the count restarts).

        `initial` seeds a count this process has never seen (after a restart): see `rebuilt_count`.
        """
        with self.lock:
            total = self.counts.get(project, max(0, initial)) + n
            fire = every > 0 and total >= every
            self.counts[project] = total % every if fire else total
            return fire

    def restart_count(self, project: str) -> None:
        """Start the count again from zero: Start Training queued a job that takes every annotation so far."""
        with self.lock:
            self.counts[project] = 0

    def request(self, project: str, reason: str, job_id: str) -> str:
        """'enqueue' (caller must enqueue job `job_id`), 'absorbed' (one is queued) or 'follow-up' (one is running)."""
        with self.lock:
            if self.states.get(project, {}).get("state") == FORGOTTEN:  # the id is in use again: a fresh state
                del self.states[project]
            state = self.states.setdefault(project, {"state": "idle"})
            _expire(state, self.stale_after)
            if state["state"] == "queued":
                return "absorbed"
            if state["state"] == "running":
                state["followup"] = True
                return "follow-up"
            state.update(
                state="queued",
                reason=reason,
                queued_at=_now(),
                progress=0.0,
                message="queued",
                followup=False,
                job_id=job_id,
            )
            return "enqueue"

    def start(self, project: str, job_id: str, **fields) -> int | None:
        """Mark job `job_id` running and give it the project's next generation; None when another job replaced it."""
        with self.lock:
            state = self.states.setdefault(project, {"state": "idle"})
            if not _owns(state, job_id):
                return None
            generation = self.generations.get(project, 0) + 1
            self.generations[project] = generation
            state.update(
                fields,
                state="running",
                runs=int(state.get("runs", 0)) + 1,
                heartbeat=_now(),
                job_id=job_id,
                generation=generation,
            )
            return generation

    def update(self, project: str, job_id: str, generation: int, **fields) -> bool:
        """Progress and heartbeat of job `job_id`; False (nothing written) when another job replaced it."""
        with self.lock:
            state = self.states.setdefault(project, {"state": "idle"})
            if not _owns(state, job_id):
                return False
            state.update(fields, state="running", heartbeat=_now(), job_id=job_id, generation=generation)
            return True

    def finish(self, project: str, job_id: str, ok: bool, next_job_id: str, **fields) -> bool:
        """Record the end of job `job_id`; True when a follow-up was requested meanwhile (it is now queued as
        `next_job_id` and is to be enqueued). Nothing is recorded when another job replaced this one."""
        with self.lock:
            state = self.states.setdefault(project, {"state": "idle"})
            if not _owns(state, job_id):
                return False
            followup = bool(state.get("followup"))
            state.update(fields, state="finished" if ok else "failed", finished_at=_now(), followup=False)
            if followup:
                state.update(
                    state="queued",
                    reason="follow-up",
                    queued_at=_now(),
                    progress=0.0,
                    message="queued",
                    job_id=next_job_id,
                )
            return followup

    def abandon(self, project: str, job_id: str, error: str) -> bool:
        """Declare job `job_id` failed with `error` while it is still queued or running; False if it is not."""
        with self.lock:
            state = self.states.get(project, {})
            if state.get("job_id") != job_id or state.get("state") not in ACTIVE:
                return False
            state.update(state="failed", error=error, finished_at=_now(), followup=False)
            return True

    @contextmanager
    def deploying(self, project: str, generation: int):
        """Held while job `generation` moves the deployed pointer: yields None when it is the project's newest job,
        else why it must not deploy."""
        with self.deploy_lock:
            with self.lock:
                current = self.generations.setdefault(project, generation)
                gone = _is_tombstone(self.states.get(project, {}))
            yield FORGOTTEN_REFUSAL if gone else None if current == generation else newer_job(current, generation)

    def forget(self, project: str) -> bool:
        """Drop the project's counter, totals and job state; a project that had a job state keeps a tombstone (see
        the module's docstring). True when anything was kept for it."""
        with self.lock:
            had = any(project in d for d in (self.counts, self.states, self.totals))
            self.counts.pop(project, None)
            self.totals.pop(project, None)
            self.generations.pop(project, None)
            if self.states.pop(project, None) is not None:
                self.states[project] = _tombstone()
            return had

    def forgotten(self, project: str) -> bool:
        with self.lock:
            return _is_tombstone(self.states.get(project, {}))

    def swap_totals(self, project: str, totals: str) -> str | None:
        """Note the project's annotation totals as a webhook reported them; returns the ones noted before."""
        with self.lock:
            previous = self.totals.get(project)
            self.totals[project] = totals
            return previous

    def status(self, project: str | None = None) -> dict:
        with self.lock:
            for state in self.states.values():
                _expire(state, self.stale_after)
            states = {p: dict(s) for p, s in self.states.items()}
            counts = dict(self.counts)
        listed = {p for p, s in states.items() if s.get("state") != FORGOTTEN} | set(counts)
        projects = [project] if project is not None else sorted(listed)
        return {
            p: {**states.get(p, {"state": "idle"}), "annotations_since_last_job": counts.get(p, 0)} for p in projects
        }


def _pairs(fields: dict) -> list:
    """Field names and JSON values, flattened for a Lua script's ARGV."""
    return [item for k, v in fields.items() for item in (k, json.dumps(v))]


def rebuilt_count(payload_project: dict, trained_on: int, n: int) -> int:
    """Annotations not yet trained on, from a webhook's project totals, for a counter that was lost (Redis
    restarted empty, or the process restarted): tasks with annotations now, minus those the newest version used,
    minus the `n` events being counted right now."""
    total = payload_project.get("num_tasks_with_annotations") if isinstance(payload_project, dict) else None
    if isinstance(total, bool) or not isinstance(total, int):
        return 0
    return max(0, total - trained_on - n)


def newer_job(current: int, generation: int) -> str:
    return f"a newer job of this project started (generation {current}; this job is {generation})"


FORGOTTEN_REFUSAL = "the project was forgotten (deleted) while this job ran"


def _tombstone() -> dict:
    return {"state": FORGOTTEN, "job_id": TOMBSTONE_JOB, "forgotten_at": _now()}


def _is_tombstone(state: dict) -> bool:
    """A tombstone younger than TOMBSTONE_S (Redis expires its own; the in-process one is checked here)."""
    return state.get("state") == FORGOTTEN and _now() - float(state.get("forgotten_at") or 0) < TOMBSTONE_S


def _owns(state: dict, job_id: str) -> bool:
    """Whether job `job_id` may write the state: it is the job the state names (or the state lost its job)."""
    return state.get("job_id") in (None, job_id)


def _expire(state: dict, stale_after: float) -> None:
    """A running job without a heartbeat for `stale_after` seconds died with its worker: mark it failed."""
    if state.get("state") == "running" and _now() - float(state.get("heartbeat", 0)) > stale_after:
        state.update(
            state="failed", error="worker lost: no heartbeat for %ds" % stale_after, finished_at=_now(), followup=False
        )


_COUNT = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], math.max(0, tonumber(ARGV[3]))) end
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
local every = tonumber(ARGV[2])
if every > 0 and total >= every then
  redis.call('SET', KEYS[1], total % every)
  return 1
end
return 0
"""

_REQUEST = """
local state = redis.call('HGET', KEYS[1], 'state')
local now = tonumber(ARGV[2])
if state == 'running' then
  local beat = tonumber(redis.call('HGET', KEYS[1], 'heartbeat') or '0')
  if now - beat > tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[1], 'state', 'failed', 'error', 'worker lost: no heartbeat for ' .. ARGV[3] .. 's',
               'finished_at', now, 'followup', '0')
    state = 'failed'
  end
end
if state == 'queued' then return 'absorbed' end
if state == 'running' then
  redis.call('HSET', KEYS[1], 'followup', '1')
  return 'follow-up'
end
if state == 'forgotten' then redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], 'state', 'queued', 'reason', ARGV[1], 'queued_at', now, 'progress', '0',
           'message', 'queued', 'followup', '0', 'job_id', ARGV[4])
return 'enqueue'
"""

# A job may write the state while the state names it, or names no job (Redis lost its data: the job re-creates it).
_OWNS = """
local owner = redis.call('HGET', KEYS[1], 'job_id')
if owner and owner ~= ARGV[1] then return 0 end
"""

# The generation counter starts at the time in milliseconds, so a counter lost with Redis's data comes back higher.
_START = (
    _OWNS
    + """
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('SET', KEYS[2], ARGV[3]) end
local generation = redis.call('INCR', KEYS[2])
redis.call('HINCRBY', KEYS[1], 'runs', 1)
redis.call('HSET', KEYS[1], 'state', 'running', 'job_id', ARGV[1], 'generation', generation, 'heartbeat', ARGV[2])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return generation
"""
)

_UPDATE = (
    _OWNS
    + """
if not owner then
  redis.call('HSET', KEYS[1], 'job_id', ARGV[1], 'runs', 1)
  redis.call('SET', KEYS[2], ARGV[2], 'NX')
  redis.call('SADD', KEYS[3], ARGV[4])
end
redis.call('HSET', KEYS[1], 'state', 'running', 'generation', ARGV[2], 'heartbeat', ARGV[3])
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""
)

_FINISH = (
    _OWNS
    + """
local followup = redis.call('HGET', KEYS[1], 'followup') == '1'
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'finished_at', ARGV[3], 'followup', '0', 'job_id', ARGV[1])
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if followup then
  redis.call('HSET', KEYS[1], 'state', 'queued', 'reason', 'follow-up', 'queued_at', ARGV[3], 'progress', '0',
             'message', 'queued', 'job_id', ARGV[4])
  return 2
end
return 1
"""
)

_ABANDON = """
local state = redis.call('HGET', KEYS[1], 'state')
if redis.call('HGET', KEYS[1], 'job_id') ~= ARGV[1] or (state ~= 'queued' and state ~= 'running') then return 0 end
redis.call('HSET', KEYS[1], 'state', 'failed', 'error', ARGV[2], 'finished_at', ARGV[3], 'followup', '0')
return 1
"""

# The newest generation (a counter lost with Redis's data is taken over by the job asking); -1 for a forgotten project.
_NEWEST = """
if KEYS[2] and redis.call('HGET', KEYS[2], 'state') == 'forgotten' then return -1 end
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return current
"""


class RedisJobState:
    """The same contract as LocalJobState, kept in Redis under `nerb:<project>:*` keys."""

    prefix = "nerb"

    def __init__(self, redis: redis_py.Redis, stale_after: float = HEARTBEAT_STALE_S):
        self.redis = redis
        self.stale_after = stale_after
        self._count = redis.register_script(_COUNT)
        self._request = redis.register_script(_REQUEST)
        self._start = redis.register_script(_START)
        self._update = redis.register_script(_UPDATE)
        self._finish = redis.register_script(_FINISH)
        self._abandon = redis.register_script(_ABANDON)
        self._newest = redis.register_script(_NEWEST)

    def _key(self, project: str, what: str) -> str:
        return f"{self.prefix}:{project}:{what}"

    def count(self, project: str, n: int, every: int, initial: int = 0) -> bool:
        self.redis.sadd(f"{self.prefix}:projects", project)
        return bool(self._count(keys=[self._key(project, "count")], args=[n, every, initial]))

    def restart_count(self, project: str) -> None:
        self.redis.set(self._key(project, "count"), 0)

    def request(self, project: str, reason: str, job_id: str) -> str:
        self.redis.sadd(f"{self.prefix}:projects", project)
        result = self._request(keys=[self._key(project, "job")], args=[reason, _now(), self.stale_after, job_id])
        return result.decode() if isinstance(result, bytes) else result

    def start(self, project: str, job_id: str, **fields) -> int | None:
        self.redis.sadd(f"{self.prefix}:projects", project)
        now = _now()
        keys = [self._key(project, "job"), self._key(project, "generation")]
        generation = self._start(keys=keys, args=[job_id, json.dumps(now), int(now * 1000), *_pairs(fields)])
        return int(generation) or None

    def update(self, project: str, job_id: str, generation: int, **fields) -> bool:
        keys = [self._key(project, "job"), self._key(project, "generation"), f"{self.prefix}:projects"]
        args = [job_id, generation, json.dumps(_now()), project, *_pairs(fields)]
        return bool(self._update(keys=keys, args=args))

    def finish(self, project: str, job_id: str, ok: bool, next_job_id: str, **fields) -> bool:
        args = [job_id, "finished" if ok else "failed", _now(), next_job_id, *_pairs(fields)]
        return int(self._finish(keys=[self._key(project, "job")], args=args)) == 2

    def abandon(self, project: str, job_id: str, error: str) -> bool:
        return bool(self._abandon(keys=[self._key(project, "job")], args=[job_id, error, _now()]))

    @contextmanager
    def deploying(self, project: str, generation: int):
        lock = self.redis.lock(
            self._key(project, "deploy"),
            timeout=DEPLOY_LOCK_S,
            blocking_timeout=DEPLOY_WAIT_S,
            lock_class=RetrySafeLock,
        )
        refusal = self._claim(lock, project, generation)
        try:
            yield refusal
        finally:
            if refusal is None:
                try:
                    lock.release()
                except (RedisError, LockError):  # it expires by itself
                    log.warning("project %s: could not release the deploy lock", project)

    def _claim(self, lock, project: str, generation: int) -> str | None:
        """Take the deploy lock and check the generation; None when held and newest, else why not to deploy."""
        try:
            if not lock.acquire():
                return f"the deploy lock stayed taken for {DEPLOY_WAIT_S}s"
            keys = [self._key(project, "generation"), self._key(project, "job")]
            current = int(self._newest(keys=keys, args=[generation]))
        except RedisError as exc:
            return f"could not check that this is the project's newest job (Redis: {type(exc).__name__})"
        if current == generation:
            return None
        try:
            lock.release()
        except (RedisError, LockError):
            pass
        return FORGOTTEN_REFUSAL if current == -1 else newer_job(current, generation)

    def forget(self, project: str) -> bool:
        """LocalJobState.forget, in one transaction: the tombstone expires by itself after TOMBSTONE_S."""
        keys = [self._key(project, what) for what in ("count", "totals", "generation", "job")]
        pipe = self.redis.pipeline(transaction=True)
        pipe.exists(*keys)
        pipe.exists(self._key(project, "job"))
        pipe.delete(*keys)
        pipe.srem(f"{self.prefix}:projects", project)
        held, had_job, *_ = pipe.execute()
        if had_job:
            tomb = self.redis.pipeline(transaction=True)
            fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in _tombstone().items()}
            tomb.hset(self._key(project, "job"), mapping=fields)
            tomb.expire(self._key(project, "job"), TOMBSTONE_S)
            tomb.execute()
        return bool(held)

    def forgotten(self, project: str) -> bool:
        return _decoded(self.redis.hget(self._key(project, "job"), "state")) == FORGOTTEN

    def swap_totals(self, project: str, totals: str) -> str | None:
        return _decoded(self.redis.set(self._key(project, "totals"), totals, get=True))

    def status(self, project: str | None = None) -> dict:
        if project is not None:
            projects = [project]
        else:
            projects = sorted(
                p.decode() if isinstance(p, bytes) else p for p in self.redis.smembers(f"{self.prefix}:projects")
            )
        out = {}
        for p in projects:
            raw = self.redis.hgetall(self._key(p, "job"))
            state = {}
            for k, v in raw.items():
                k, v = (k.decode(), v.decode()) if isinstance(k, bytes) else (k, v)
                try:
                    state[k] = json.loads(v)
                except ValueError:
                    state[k] = v
            state.setdefault("state", "idle")
            if state.get("followup") in (0, 1, "0", "1"):
                state["followup"] = bool(int(state["followup"]))
            _expire(state, self.stale_after)
            count = self.redis.get(self._key(p, "count"))
            out[p] = {**state, "annotations_since_last_job": int(count or 0)}
        return out


def _decoded(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


JobState = LocalJobState | RedisJobState  # what a job runner and the dispatcher take: either backend
