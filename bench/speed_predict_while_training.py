"""Benchmark 4: single-task /predict latency while a training job runs in another process, against idle.

    python -m bench.speed_predict_while_training [--quick] [--threads N] [--examples N] [--epochs N]

Setup measured: gunicorn (bench/servers.start_gunicorn: --preload, 1 worker, 4 threads, torch threads
pinned to --threads) serves project 1; a sequential client posts one typical task after another. The training
job is `training.pipeline.run_training` in a separate Python process, as the RQ worker (`rq worker
ner-training`) runs it: same model store, generated annotated tasks (bench/corpus.py), DEPLOY_POLICY=manual
so the served version does not change mid-measurement. The job process is left at torch's default thread count
(all cores), as an RQ worker would be; the variants show the job at `nice 19` and with one torch thread.
Latency is measured idle (before and after) and over the whole job (from its first progress report to its exit).
Target: p99 while training at most 2x the idle p99.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import (
    REPO,
    TYPICAL_TEXT,
    build_model,
    format_table,
    latency_summary,
    parse_args,
    predict_body,
    report,
    service_env,
    set_threads,
    verdict,
)

NAME = "speed_predict_while_training"
TARGET = 2.0  # p99 while training / idle p99
SHIPPED = -1  # the child calls modeling.niceness.yield_cpu_to_serving, as the RQ entry point does
VARIANTS = {
    "default": {"nice": 0, "threads": 0},
    "nice 19": {"nice": 19, "threads": 0},
    "1 torch thread": {"nice": 0, "threads": 1},
    "as shipped": {"nice": SHIPPED, "threads": SHIPPED},
}


# ---------------------------------------------------------------------------------------------- the job process


def train_child(model_dir: str, store_dir: str, examples: int, epochs: int, nice: int, threads: int) -> None:
    """Run one training job like the RQ worker does, printing progress lines the parent waits on."""
    if nice == SHIPPED:
        from modeling.niceness import yield_cpu_to_serving
        from settings import Settings as _Settings

        yield_cpu_to_serving(_Settings.from_env({}))
        nice = threads = 0
    if nice:
        os.nice(nice)
    import torch

    if threads:
        torch.set_num_threads(threads)
    from bench.corpus import LABEL_CONFIG, make_tasks
    from settings import Settings
    from text.label_config import parse_ner_config
    from training.annotations import tasks_to_examples
    from training.pipeline import run_training

    settings = Settings.from_env(
        {
            "MODEL_DIR": store_dir,
            "BASELINE_MODEL_NAME": model_dir,
            "DEPLOY_POLICY": "manual",
            "NUM_TRAIN_EPOCHS": str(epochs),
            "MIN_TRAIN_STEPS": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    from store.local import LocalStore

    config = parse_ner_config(LABEL_CONFIG)
    data, _ = tasks_to_examples(make_tasks(examples, seed=7), config)
    store = LocalStore(settings.model_dir, keep=settings.keep_versions)

    def progress(fraction: float, message: str) -> None:
        print(f"PROGRESS {fraction:.3f} {message}", flush=True)

    outcome = run_training("1", data, config, settings, store, progress=progress)
    print(
        "DONE "
        + json.dumps(
            {
                "version": outcome.version,
                "seconds": round(outcome.seconds, 1),
                "train_size": outcome.train_size,
                "steps": len(outcome.history),
            }
        ),
        flush=True,
    )


class TrainingJob:
    """The job process, with its latest progress line read in the background."""

    def __init__(
        self, model_dir: Path, store_dir: Path, examples: int, epochs: int, nice: int, threads: int, log: Path
    ):
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
        args = [
            sys.executable,
            "-m",
            "bench.speed_predict_while_training",
            "--train-child",
            "--model-dir",
            str(model_dir),
            "--store",
            str(store_dir),
            "--examples",
            str(examples),
            "--epochs",
            str(epochs),
            "--nice",
            str(nice),
            "--child-threads",
            str(threads),
        ]
        self.log = open(log, "w")
        self.proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.started = threading.Event()
        self.fraction, self.message, self.done = 0.0, "", None
        self.started_at = time.perf_counter()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.startswith("PROGRESS "):
                _, fraction, message = line.rstrip("\n").split(" ", 2)
                self.fraction, self.message = float(fraction), message
                self.started.set()
            elif line.startswith("DONE "):
                self.done = json.loads(line[5:])

    def running(self) -> bool:
        return self.proc.poll() is None

    def finish(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self.log.close()


# ---------------------------------------------------------------------------------------------- the client


def sequential(
    session, url: str, body: str, count: int | None = None, while_running: TrainingJob | None = None, cap_s: float = 600
) -> tuple[list[float], list[str]]:
    """Back-to-back single-task requests: `count` of them, or as long as the job runs (at most cap_s)."""
    latencies, phases = [], []
    deadline = time.perf_counter() + cap_s
    while (count is None or len(latencies) < count) and time.perf_counter() < deadline:
        if while_running is not None and not while_running.running():
            break
        start = time.perf_counter()
        response = session.post(url + "/predict", data=body, headers={"Content-Type": "application/json"}, timeout=120)
        latencies.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text[:300]
        phases.append(while_running.message if while_running is not None else "idle")
    return latencies, phases


def phase_of(message: str) -> str:
    """Coarse phase of the job from its last progress message (for the per-phase breakdown)."""
    if message.startswith(("epoch", "trained")):
        return "fine-tuning"
    if message.startswith(("scoring", "loading")):
        return "loading + scoring a model"
    if message.startswith("saved"):
        return "after save (MLflow logging)"
    return "split / save"


def main(argv=None) -> dict:
    def extra(p):
        p.add_argument("--examples", type=int, help="annotated tasks to train on (default 200)")
        p.add_argument("--epochs", type=int, help="NUM_TRAIN_EPOCHS of the job (default 3; MIN_TRAIN_STEPS=0)")
        p.add_argument("--requests", type=int, help="idle requests before and after (default 150 each)")
        p.add_argument("--variants", default=None, help="comma-separated: " + ", ".join(VARIANTS))
        p.add_argument("--train-child", action="store_true", help=argparse_hidden())
        p.add_argument("--model-dir", help=argparse_hidden())
        p.add_argument("--store", help=argparse_hidden())
        p.add_argument("--nice", type=int, default=0, help=argparse_hidden())
        p.add_argument("--child-threads", type=int, default=0, help=argparse_hidden())

    args = parse_args(__doc__.splitlines()[0], argv, extra)
    examples = args.examples or (16 if args.quick else 200)
    epochs = args.epochs or (1 if args.quick else 3)
    if args.train_child:
        train_child(args.model_dir, args.store, examples, epochs, args.nice, args.child_threads)
        return {}
    set_threads(args.threads)
    idle_n = args.requests or (10 if args.quick else 150)
    names = args.variants.split(",") if args.variants else (["default"] if args.quick else list(VARIANTS))
    import requests

    from bench.servers import start_gunicorn

    body = json.dumps(predict_body([TYPICAL_TEXT]))
    runs = {}
    with tempfile.TemporaryDirectory(prefix="nerb-bench-") as tmp:
        tmp = Path(tmp)
        model_dir = build_model(tmp / "model")
        store = tmp / "store"
        server, url = start_gunicorn(tmp, workers=1, **service_env(model_dir, store, args.threads))
        try:
            with requests.Session() as session:
                sequential(session, url, body, count=10)  # load the model in the worker
                idle, _ = sequential(session, url, body, count=idle_n)
                for name in names:
                    variant = VARIANTS[name]
                    job = TrainingJob(
                        model_dir,
                        store,
                        examples,
                        epochs,
                        variant["nice"],
                        variant["threads"],
                        tmp / f"train-{len(runs)}.log",
                    )
                    if not job.started.wait(timeout=300):
                        raise RuntimeError(
                            f"training job did not start: {(tmp / f'train-{len(runs)}.log').read_text()[-2000:]}"
                        )
                    cap = 15 if args.quick else 900  # a quick run stops the job after 15 s
                    busy, phases = sequential(session, url, body, while_running=job, cap_s=cap)
                    rc = job.finish(timeout=0.1 if args.quick else 600)
                    if not args.quick and (rc != 0 or job.done is None):
                        raise RuntimeError(
                            f"training job failed ({rc}): {(tmp / f'train-{len(runs)}.log').read_text()[-3000:]}"
                        )
                    by_phase: dict[str, list[float]] = {}
                    for latency, message in zip(busy, phases):
                        by_phase.setdefault(phase_of(message), []).append(latency)
                    after, _ = sequential(session, url, body, count=idle_n)
                    idle += after
                    runs[name] = {
                        "job": variant,
                        "training": latency_summary(busy),
                        "outcome": job.done,
                        "job_seconds": time.perf_counter() - job.started_at,
                        "phases": {k: latency_summary(v) for k, v in by_phase.items()},
                        "idle_after": latency_summary(after),
                    }
        finally:
            server.stop()

    idle_s = latency_summary(idle)
    for run in runs.values():
        run["p99_ratio"] = run["training"]["p99_ms"] / idle_s["p99_ms"]
        run["p50_ratio"] = run["training"]["p50_ms"] / idle_s["p50_ms"]
    results = {
        "idle": idle_s,
        "runs": runs,
        "target_p99_ratio": TARGET,
        "examples": examples,
        "epochs": epochs,
        "setup": "gunicorn 1 worker x 4 threads; run_training in a separate process (as the RQ worker); "
        "DEPLOY_POLICY=manual; sequential single-task client",
    }
    rows = [
        ["idle (before + after each job)", idle_s["n"], idle_s["p50_ms"], idle_s["p90_ms"], idle_s["p99_ms"], "", ""]
    ]
    for name, run in runs.items():
        t = run["training"]
        rows.append(
            [
                f"while training: job {name}",
                t["n"],
                t["p50_ms"],
                t["p90_ms"],
                t["p99_ms"],
                f"{run['p99_ratio']:.2f}x ({verdict(run['p99_ratio'], TARGET)})",
                f"{run['job_seconds']:.0f}",
            ]
        )
    table = format_table(
        [
            "/predict, 1 task",
            "requests",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            f"p99 / idle p99 (target <= {TARGET:g}x)",
            "job s",
        ],
        rows,
    )
    phase_rows = [
        [name, phase, s["n"], s["p50_ms"], s["p99_ms"]]
        for name, run in runs.items()
        for phase, s in run["phases"].items()
    ]
    phase_table = format_table(["job", "phase of the job", "requests", "p50 ms", "p99 ms"], phase_rows)
    notes = [
        f"job: run_training on {examples} generated annotated tasks, NUM_TRAIN_EPOCHS={epochs}, "
        "MIN_TRAIN_STEPS=0, in a separate process (the RQ setup, not the in-process worker thread)",
        "job 'default' uses torch's default threads (all cores), like an RQ worker; 'nice 19' lowers its CPU "
        "priority; '1 torch thread' leaves one core to the web worker",
    ]
    report(NAME, args, results, [table, phase_table], notes)
    return results


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
