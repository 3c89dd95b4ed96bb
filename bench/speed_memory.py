"""Benchmark 5: memory of a web process serving one model, against a bare process that only loaded the model.

    python -m bench.speed_memory [--quick] [--threads N]

A gunicorn server (bench/servers.start_gunicorn: --preload, 1 worker, 4 threads) answers /predict on
mixed-length batches and single tasks; then psutil reads the worker's resident memory (now and peak, VmHWM),
with its child processes, and the master's. Two bare python processes give the reference: one that only loads
the same weights, one that also runs the same texts through a batched forward pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import (
    REPO,
    TYPICAL_TEXT,
    build_model,
    format_table,
    make_texts,
    parse_args,
    predict_body,
    report,
    service_env,
    set_threads,
)

NAME = "speed_memory"
MB = 1024 * 1024

BARE = """
import json, os, sys
import psutil, torch
torch.set_num_threads({threads})
from bench.common import BareModel, make_texts
bare = BareModel({model!r})
after_load = psutil.Process().memory_info().rss
if {forward}:
    for seed in range({batches}):
        bare.forward_batched(make_texts({batch}, seed=seed))
    bare.forward_one({text!r})
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({{"rss": psutil.Process().memory_info().rss, "after_load": after_load,
                  "peak": int(status["VmHWM"].split()[0]) * 1024}}))
"""


def peak_rss(pid: int) -> int:
    """VmHWM: the most resident memory the process ever had, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def process_memory(proc, children: bool = True) -> dict:
    """Resident (now, peak, unique) memory of `proc` (plus its children), in bytes."""
    family = [proc, *(proc.children(recursive=True) if children else [])]
    rss = sum(p.memory_info().rss for p in family)
    uss = sum(p.memory_full_info().uss for p in family)
    return {
        "pid": proc.pid,
        "processes": len(family),
        "rss": rss,
        "uss": uss,
        "peak": sum(peak_rss(p.pid) for p in family),
    }


def bare_process(model_dir: Path, threads: int, forward: bool, batches: int, batch: int) -> dict:
    code = BARE.format(
        threads=threads,
        model=str(model_dir),
        forward=forward,
        batches=batches,
        batch=batch,
        text=TYPICAL_TEXT,
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    set_threads(args.threads)
    batches, batch = (1, 16) if args.quick else (4, 256)
    import psutil
    import requests

    from bench.servers import start_gunicorn

    with tempfile.TemporaryDirectory(prefix="nerb-bench-") as tmp:
        tmp = Path(tmp)
        model_dir = build_model(tmp / "model")
        server, url = start_gunicorn(tmp, workers=1, **service_env(model_dir, tmp / "store", args.threads))
        try:
            master = psutil.Process(server.proc.pid)
            idle_master = process_memory(master, children=False)
            with requests.Session() as session:
                for seed in range(batches):
                    r = session.post(url + "/predict", json=predict_body(make_texts(batch, seed=seed)), timeout=600)
                    assert r.status_code == 200, r.text[:300]
                for _ in range(10):
                    assert session.post(url + "/predict", json=predict_body([TYPICAL_TEXT]), timeout=60).ok
            (worker,) = master.children()
            web = {
                "worker": process_memory(worker),
                "master": process_memory(master, children=False),
                "master_before_requests": idle_master,
            }
        finally:
            server.stop()
        loaded = bare_process(model_dir, args.threads, False, batches, batch)
        forwarded = None if args.quick else bare_process(model_dir, args.threads, True, batches, batch)

    worker_only = web["worker"]
    results = {
        "requests": f"{batches} x /predict of {batch} mixed-length tasks, then 10 single tasks",
        "web": web,
        "bare_loaded": loaded,
        "bare_loaded_and_forward": forwarded,
        "worker_peak_over_bare_loaded": worker_only["peak"] / loaded["peak"],
    }
    rows = [
        [
            "gunicorn worker (+ children), after the requests",
            worker_only["processes"],
            worker_only["rss"] / MB,
            worker_only["peak"] / MB,
            worker_only["uss"] / MB,
        ],
        [
            "gunicorn master (--preload: app built, no model)",
            web["master"]["processes"],
            web["master"]["rss"] / MB,
            web["master"]["peak"] / MB,
            web["master"]["uss"] / MB,
        ],
        ["bare python: model + tokenizer loaded", 1, loaded["rss"] / MB, loaded["peak"] / MB, ""],
    ]
    if forwarded:
        rows.append(
            ["bare python: loaded + same texts forwarded", 1, forwarded["rss"] / MB, forwarded["peak"] / MB, ""]
        )
    table = format_table(["process", "processes", "RSS MiB", "peak RSS MiB", "USS MiB"], rows)
    notes = [
        f"requests: {results['requests']}",
        f"worker peak / bare loaded peak: {results['worker_peak_over_bare_loaded']:.2f}x",
        "the master is counted alone (the worker is its child); worker RSS includes pages shared with it",
        "peak = VmHWM from /proc/<pid>/status; USS = memory unique to the process (psutil)",
    ]
    report(NAME, args, results, [table], notes)
    return results


if __name__ == "__main__":
    main()
