"""When to train: per-project annotation counters and job states, coalescing triggers into one follow-up.

Two interchangeable backends with the same methods: `RedisTriggers` (atomic Lua scripts, shared by every
gunicorn worker and the RQ worker) and `LocalTriggers` (a lock and dicts, for the in-process worker).
State per project: idle -> queued -> running -> finished | failed. A trigger while queued is absorbed (the
queued job will read the newest annotations); a trigger while running sets one follow-up, however many arrive.
A running job whose heartbeat stops (worker killed) is declared failed by the next trigger.
"""
from __future__ import annotations

import json
import threading
import time

HEARTBEAT_STALE_S = 60.0
ACTIVE = ("queued", "running")


def _now() -> float:
    return time.time()


class LocalTriggers:
    """In-memory counters and states for one process."""

    def __init__(self, stale_after: float = HEARTBEAT_STALE_S):
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.states: dict[str, dict] = {}
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

    def request(self, project: str, reason: str) -> str:
        """'enqueue' (caller must enqueue a job), 'absorbed' (one is queued) or 'follow-up' (one is running)."""
        with self.lock:
            state = self.states.setdefault(project, {"state": "idle"})
            _expire(state, self.stale_after)
            if state["state"] == "queued":
                return "absorbed"
            if state["state"] == "running":
                state["followup"] = True
                return "follow-up"
            state.update(state="queued", reason=reason, queued_at=_now(), progress=0.0, message="queued",
                         followup=False)
            return "enqueue"

    def start(self, project: str, **fields) -> None:
        """Mark the project's job running (and count the run)."""
        with self.lock:
            state = self.states.setdefault(project, {"state": "idle"})
            state.update(fields, state="running", runs=int(state.get("runs", 0)) + 1, heartbeat=_now())

    def update(self, project: str, **fields) -> None:
        with self.lock:
            self.states.setdefault(project, {"state": "idle"}).update(fields, heartbeat=_now())

    def finish(self, project: str, ok: bool, **fields) -> bool:
        """Record the end of a job; True when a follow-up was requested meanwhile (and is now to be enqueued)."""
        with self.lock:
            state = self.states.setdefault(project, {"state": "idle"})
            followup = bool(state.get("followup"))
            state.update(fields, state="finished" if ok else "failed", finished_at=_now(), followup=False)
            if followup:
                state.update(state="queued", reason="follow-up", queued_at=_now(), progress=0.0, message="queued")
            return followup

    def status(self, project: str | None = None) -> dict:
        with self.lock:
            for state in self.states.values():
                _expire(state, self.stale_after)
            states = {p: dict(s) for p, s in self.states.items()}
            counts = dict(self.counts)
        projects = [project] if project is not None else sorted(set(states) | set(counts))
        return {p: {**states.get(p, {"state": "idle"}), "annotations_since_last_job": counts.get(p, 0)}
                for p in projects}


def rebuilt_count(payload_project: dict, trained_on: int, n: int) -> int:
    """Annotations not yet trained on, from a webhook's project totals, for a counter that was lost (Redis
    restarted empty, or the process restarted): tasks with annotations now, minus those the newest version used,
    minus the `n` events being counted right now."""
    total = payload_project.get("num_tasks_with_annotations") if isinstance(payload_project, dict) else None
    if isinstance(total, bool) or not isinstance(total, int):
        return 0
    return max(0, total - trained_on - n)


def _expire(state: dict, stale_after: float) -> None:
    """A running job without a heartbeat for `stale_after` seconds died with its worker: mark it failed."""
    if state.get("state") == "running" and _now() - float(state.get("heartbeat", 0)) > stale_after:
        state.update(state="failed", error="worker lost: no heartbeat for %ds" % stale_after, finished_at=_now(),
                     followup=False)


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
redis.call('HSET', KEYS[1], 'state', 'queued', 'reason', ARGV[1], 'queued_at', now, 'progress', '0',
           'message', 'queued', 'followup', '0')
return 'enqueue'
"""

_FINISH = """
local followup = redis.call('HGET', KEYS[1], 'followup') == '1'
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'finished_at', ARGV[2], 'followup', '0')
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if followup then
  redis.call('HSET', KEYS[1], 'state', 'queued', 'reason', 'follow-up', 'queued_at', ARGV[2], 'progress', '0',
             'message', 'queued')
  return 1
end
return 0
"""


class RedisTriggers:
    """The same contract as LocalTriggers, kept in Redis under `nerb:<project>:*` keys."""

    prefix = "nerb"

    def __init__(self, redis, stale_after: float = HEARTBEAT_STALE_S):
        self.redis = redis
        self.stale_after = stale_after
        self._count = redis.register_script(_COUNT)
        self._request = redis.register_script(_REQUEST)
        self._finish = redis.register_script(_FINISH)

    def _key(self, project: str, what: str) -> str:
        return f"{self.prefix}:{project}:{what}"

    def count(self, project: str, n: int, every: int, initial: int = 0) -> bool:
        self.redis.sadd(f"{self.prefix}:projects", project)
        return bool(self._count(keys=[self._key(project, "count")], args=[n, every, initial]))

    def request(self, project: str, reason: str) -> str:
        self.redis.sadd(f"{self.prefix}:projects", project)
        result = self._request(keys=[self._key(project, "job")], args=[reason, _now(), self.stale_after])
        return result.decode() if isinstance(result, bytes) else result

    def start(self, project: str, **fields) -> None:
        key = self._key(project, "job")
        pipe = self.redis.pipeline()
        pipe.hincrby(key, "runs", 1)
        pipe.hset(key, mapping={**{k: json.dumps(v) for k, v in fields.items()}, "state": "running",
                                "heartbeat": json.dumps(_now())})
        pipe.execute()

    def update(self, project: str, **fields) -> None:
        encoded = {k: json.dumps(v) for k, v in fields.items()}
        encoded["heartbeat"] = json.dumps(_now())
        self.redis.hset(self._key(project, "job"), mapping=encoded)

    def finish(self, project: str, ok: bool, **fields) -> bool:
        args = ["finished" if ok else "failed", _now()]
        for k, v in fields.items():
            args += [k, json.dumps(v)]
        return bool(self._finish(keys=[self._key(project, "job")], args=args))

    def status(self, project: str | None = None) -> dict:
        if project is not None:
            projects = [project]
        else:
            projects = sorted(p.decode() if isinstance(p, bytes) else p
                              for p in self.redis.smembers(f"{self.prefix}:projects"))
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
