"""Load: a webhook burst against gunicorn + Redis counts exactly; /predict under concurrency follows a deploy.

Figures (p50/p99 latency, requests, errors) are printed, and written to tests/hardening/results/load.json
when HARDENING_RESULTS=1.
"""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests

from bench.corpus import make_tasks
from bench.servers import start_gunicorn
from tests.support.bodies import annotation_webhook, predict_body
from tests.support.rule_model import save_rule_version

pytestmark = pytest.mark.slow
RESULTS = Path(__file__).parent / "results" / "load.json"
REDIS_DB = 12  # our own database on the shared Redis: only this one is ever flushed
SWITCH_GRACE_S = 10.0  # a worker loads a newly deployed (one-layer) version in the background within this


def record(section: str, figures: dict) -> None:
    """Keep the figures in the committed results file only when asked (HARDENING_RESULTS=1), so test runs
    do not rewrite a tracked file."""
    if os.environ.get("HARDENING_RESULTS") != "1":
        return
    RESULTS.parent.mkdir(exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    data[section] = figures
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def test_webhook_burst_counts_exactly_and_coalesces(tmp_path, rule_model_dir):
    from rq import Queue

    url_redis = f"redis://127.0.0.1:6379/{REDIS_DB}"
    try:
        shared = redis.Redis.from_url(url_redis)
        shared.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    shared.flushdb()
    proc, url = start_gunicorn(
        tmp_path,
        workers=2,
        threads=8,
        MODEL_DIR=tmp_path / "models",
        REDIS_URL=url_redis,
        BASELINE_MODEL_NAME=rule_model_dir,
        START_TRAINING_EACH_N_UPDATES=25,
        LOG_LEVEL="WARNING",
    )
    plan = {1: 120, 2: 80}  # annotations per project: 200 webhooks
    bodies = [annotation_webhook(t, project=p) for p, n in plan.items() for t in make_tasks(n, seed=p, start_id=1)]
    session_local = threading.local()

    def send(body):
        session = getattr(session_local, "s", None) or requests.Session()
        session_local.s = session
        started = time.perf_counter()
        response = session.post(url + "/webhook", json=body, timeout=10)
        return response.status_code, response.json().get("status"), body["project"]["id"], time.perf_counter() - started

    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(send, bodies))
        took = time.perf_counter() - started
        assert [a[0] for a in answers] == [201] * len(bodies), [a for a in answers if a[0] != 201][:5]
        status = requests.get(url + "/train_status", timeout=5).json()["jobs"]
        queue = Queue("ner-training", connection=shared)
        jobs = [job.args[0] for job in queue.jobs]
        for project, n in plan.items():
            statuses = [a[1] for a in answers if a[2] == project]
            assert statuses.count("queued") == 1 and statuses.count("already queued") == n // 25 - 1, statuses
            assert status[str(project)]["annotations_since_last_job"] == n % 25
            assert status[str(project)]["state"] == "queued"
            assert jobs.count(str(project)) == 1, jobs
        assert len(jobs) == len(plan)
        slowest = max(a[3] for a in answers)
        print(f"{len(bodies)} webhooks from 20 clients in {took:.2f}s, slowest {slowest * 1000:.0f} ms, 0 errors")
        record(
            "webhook_burst",
            {
                "webhooks": len(bodies),
                "clients": 20,
                "seconds": round(took, 2),
                "slowest_ms": round(slowest * 1000),
                "errors": 0,
                "jobs_queued": len(jobs),
            },
        )
    finally:
        proc.stop()
        shared.flushdb()


def test_predict_under_load_follows_a_deploy(tmp_path, rule_model_dir):
    import psutil

    from store.local import LocalStore

    duration, clients = 60.0, 8
    models = tmp_path / "models"
    store = LocalStore(models)
    first = save_rule_version(store, rule_model_dir, annotations=1)
    second = save_rule_version(store, rule_model_dir, annotations=2)
    store.deploy(1, first.name)
    proc, url = start_gunicorn(
        tmp_path, workers=2, threads=4, MODEL_DIR=models, BASELINE_MODEL_NAME=rule_model_dir, LOG_LEVEL="WARNING"
    )
    deadline = time.time() + 60  # /health answered from the first worker; the second may still be booting
    while len(workers := psutil.Process(proc.proc.pid).children()) < 2 and time.time() < deadline:
        time.sleep(0.2)
    if len(workers) != 2:
        tail = proc.tail()
        proc.stop()  # the try/finally below has not started yet: do not leave gunicorn running
        pytest.fail(f"gunicorn started {len(workers)} of 2 workers:\n{tail}")
    results: list[tuple[int, float, float, int, str]] = []  # thread, start, latency, status, version
    lock = threading.Lock()
    stop = threading.Event()
    texts = [t["data"]["text"] for t in make_tasks(50, seed=9)]

    def client(n: int) -> None:
        # A connection per request, as Label Studio's own calls come: kept-alive sessions stay on the worker that
        # accepted them, and on a loaded machine all eight can land on one worker, which leaves the other idle and
        # the check below that both switched without evidence.
        i = n
        while not stop.is_set():
            body = predict_body(texts[i % len(texts)])
            i += clients
            started = time.monotonic()
            try:
                response = requests.post(url + "/predict", json=body, timeout=30, headers={"Connection": "close"})
                version = response.json()["results"][0]["model_version"] if response.status_code == 200 else ""
                status = response.status_code
            except (requests.RequestException, ValueError) as exc:
                status, version = -1, type(exc).__name__
            with lock:
                results.append((n, started, time.monotonic() - started, status, version))

    try:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        begin = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(duration / 2)
        cpu_before = {w.pid: sum(w.cpu_times()[:2]) for w in workers}
        deploy = requests.post(url + "/deploy", json={"project_id": 1, "version": second.name}, timeout=30)
        deployed_at = time.monotonic()
        assert deploy.status_code == 200, deploy.text
        time.sleep(begin + duration - time.monotonic())
        stop.set()
        for t in threads:
            t.join(timeout=60)
        cpu_after = {w.pid: sum(w.cpu_times()[:2]) for w in workers}
    finally:
        stop.set()
        proc.stop()

    errors = [r for r in results if r[3] != 200]
    assert not errors, errors[:5]
    latencies = sorted(r[2] for r in results)
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    after = [r for r in results if r[1] > deployed_at]
    # Each worker loads the new version in the background while the old one answers, then switches: answers may
    # carry the old version only until the switch, which must come within SWITCH_GRACE_S.
    stale = [r for r in after if r[4] != second.name]
    switch_s = max((r[1] + r[2] - deployed_at for r in stale), default=0.0)
    late = [r for r in after if r[1] > deployed_at + SWITCH_GRACE_S and r[4] != second.name]
    assert not late, late[:5]
    assert {r[4] for r in results if r[1] < deployed_at - 1} == {first.name}
    # No response says which worker served it: both workers burning CPU after the deploy, while every answer
    # after the switch window carries the new version, shows that both switched.
    busy = {pid: round(cpu_after[pid] - cpu_before[pid], 2) for pid in cpu_before}
    assert all(seconds > 1.0 for seconds in busy.values()), busy
    figures = {
        "clients": clients,
        "seconds": duration,
        "workers": 2,
        "requests": len(results),
        "errors": 0,
        "requests_per_s": round(len(results) / duration, 1),
        "p50_ms": round(p50 * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "after_deploy": len(after),
        "stale_while_loading": len(stale),
        "switch_s": round(switch_s, 2),
        "stale_after_grace": 0,
        "worker_cpu_s_after_deploy": list(busy.values()),
    }
    print(f"/predict under load: {figures}")
    record("predict_under_load", figures)
