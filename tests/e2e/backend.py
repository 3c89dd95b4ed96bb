"""The backend under test as real processes (gunicorn serving `_wsgi:app`, an `rq worker` for training jobs),
its HTTP routes as a plain client would call them, and a step timer that names the step and shows logs on failure.
"""

from __future__ import annotations

import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import pytest
import requests

from bench.servers import start_gunicorn
from tests.support.redis_server import rq_worker


class Backend:
    """One gunicorn serving the backend on a free loopback port; `auth` is (user, password) or None."""

    def __init__(self, tmp_path: Path, threads: int = 4, **env):
        self.env = {k: str(v) for k, v in env.items()}
        self.auth = (self.env["BASIC_AUTH_USER"], self.env["BASIC_AUTH_PASS"]) if "BASIC_AUTH_USER" in env else None
        t0 = time.monotonic()
        self.process, self.url = start_gunicorn(tmp_path, workers=1, threads=threads, timeout=120, **self.env)
        self.startup_seconds = time.monotonic() - t0

    def stop(self) -> None:
        self.process.stop()

    def tail(self, lines: int = 60) -> str:
        return self.process.tail(lines)

    # -- routes, called as curl would ----------------------------------------------------------------------------

    def post(self, path: str, body: dict, timeout: float = 120, auth: object = "default") -> requests.Response:
        return requests.post(self.url + path, json=body, timeout=timeout, auth=self.auth if auth == "default" else auth)

    def get(self, path: str, timeout: float = 10, auth: object = "default") -> requests.Response:
        return requests.get(self.url + path, timeout=timeout, auth=self.auth if auth == "default" else auth)

    def setup(self, project: str, label_config: str) -> str:
        """The model version the backend serves `project` now (what Label Studio's /setup call gets)."""
        r = self.post("/setup", {"project": project, "schema": label_config}, timeout=10)
        assert r.status_code == 200, f"POST /setup -> {r.status_code}: {r.text[:500]}"
        return r.json()["model_version"]

    def predict(self, tasks: list[dict], project: str, label_config: str) -> list[dict]:
        r = self.post("/predict", {"tasks": tasks, "project": project, "label_config": label_config})
        assert r.status_code == 200, f"POST /predict -> {r.status_code}: {r.text[:500]}"
        results = r.json()["results"]
        assert len(results) == len(tasks), f"/predict answered {len(results)} results for {len(tasks)} tasks"
        return results

    def job(self, project: int) -> dict:
        """The training-job state of `project` from GET /train_status (state, runs, counters, outcome)."""
        r = self.get(f"/train_status?project={project}")
        assert r.status_code == 200, f"GET /train_status -> {r.status_code}: {r.text[:500]}"
        return r.json()["jobs"].get(str(project), {})

    def wait_for_job(
        self, project: int, runs: int, timeout: float, worker: Worker | None = None, every: float = 1.0
    ) -> dict:
        """Poll /train_status until run number `runs` of the project's job has finished; print its progress.

        A failed job, a dead worker or the timeout is an AssertionError carrying the job's state.
        """
        deadline = time.monotonic() + timeout
        t0 = time.monotonic()
        last_message = None
        state: dict = {}
        while time.monotonic() < deadline:
            state = self.job(project)
            done = int(state.get("runs") or 0) >= runs and state.get("state") in ("finished", "failed")
            message = (state.get("state"), state.get("runs"), state.get("message"))
            if message != last_message or done:
                progress = state.get("progress")
                print(
                    f"[e2e]   {time.monotonic() - t0:6.1f} s  project {project} job: state={state.get('state')} "
                    f"runs={state.get('runs')} progress={progress} {state.get('message') or ''}",
                    flush=True,
                )
                last_message = message
            if done:
                assert state["state"] == "finished", f"training job of project {project} failed: {state}"
                return state
            if worker is not None:
                worker.assert_alive()
            time.sleep(every)
        raise AssertionError(
            f"training job run {runs} of project {project} did not finish within {timeout:.0f} s; last state: {state}"
        )


class Worker:
    """`python -m rq.cli worker --url <redis> ner-training` with the backend's environment."""

    def __init__(self, tmp_path: Path, redis_url: str, **env):
        self.process = rq_worker(redis_url, tmp_path / "rq-worker.log", **env)

    def assert_alive(self) -> None:
        code = self.process.proc.poll()
        assert code is None, f"the rq worker exited with {code}"

    def stop(self) -> None:
        """Cold shutdown: rq's first SIGTERM waits for the running job, the second kills its work horse. The horse
        runs in a session of its own, so a killpg of the worker's group misses it: it is killed by pid if it lingers."""
        proc = self.process.proc
        horses = _children(proc.pid) if proc.poll() is None else []
        for _ in range(2):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                time.sleep(0.5)
        self.process.stop(timeout=10)
        for pid in horses:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def tail(self, lines: int = 60) -> str:
        return self.process.tail(lines)


def _children(pid: int) -> list[int]:
    """Pids whose parent is `pid` (from /proc; empty where there is none)."""
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


class Steps:
    """Named, timed steps: a failure names its step and carries the tails of every process log."""

    def __init__(self, logs: Callable[[], dict[str, str]]):
        self.logs = logs
        self.rows: list[tuple[str, float, str, str]] = []  # (step, seconds, outcome, note)
        self.failed: str | None = None
        self.notes: dict[str, str] = {}

    def note(self, name: str, text: str) -> None:
        self.notes[name] = text

    def require_previous(self) -> None:
        if self.failed:
            pytest.skip(f"an earlier step failed: {self.failed}")

    @contextmanager
    def step(self, name: str, independent: bool = False):
        if not independent:
            self.require_previous()
        print(f"\n[e2e] step {name}", flush=True)
        t0 = time.monotonic()
        outcome = "FAILED"
        try:
            yield
            outcome = "ok"
        except Exception as exc:
            if not independent:
                self.failed = name
            tails = "\n".join(f"\n--- {what} (tail) ---\n{text}" for what, text in self.logs().items())
            pytest.fail(f"step {name!r} failed: {type(exc).__name__}: {exc}\n{tails}", pytrace=True)
        finally:
            seconds = time.monotonic() - t0
            self.rows.append((name, seconds, outcome, self.notes.get(name, "")))
            print(f"[e2e] step {name}: {outcome} in {seconds:.1f} s", flush=True)

    def table(self) -> str:
        width = max([len(r[0]) for r in self.rows] + [4])
        lines = [f"{'step':<{width}}  {'seconds':>8}  outcome  note", "-" * (width + 30)]
        lines += [f"{name:<{width}}  {sec:8.1f}  {outcome:<7}  {note}" for name, sec, outcome, note in self.rows]
        lines.append(f"{'total':<{width}}  {sum(r[1] for r in self.rows):8.1f}")
        return "\n".join(lines)


def entity_f1(gold: list[set], predicted: list[set]) -> dict:
    """Micro entity F1 by exact span match: a predicted (start, end, label) counts only if the gold has it."""
    tp = sum(len(g & p) for g, p in zip(gold, predicted))
    n_pred = sum(len(p) for p in predicted)
    n_gold = sum(len(g) for g in gold)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "predicted": n_pred, "gold": n_gold}


def project_key(project) -> str:
    """What Label Studio sends as `project` to /setup and /predict: "<id>.<created unix time>"."""
    return f"{project.id}.{int(project.created_at.timestamp())}"


def spans_of(result: list[dict]) -> set[tuple[int, int, str]]:
    return {(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in result}
