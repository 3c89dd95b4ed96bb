"""Benchmark 2: single-task /predict latency over HTTP (gunicorn, 1 worker) against one bare forward pass in-process.

    python -m bench.speed_latency [--quick] [--threads N] [--requests N]

The server is started with bench/servers.start_gunicorn (1 worker, 4 threads, --preload) and torch
threads pinned to --threads through OMP_NUM_THREADS; this process runs the bare forward (tokenize + forward of
the same text, same weights, same thread count). The two alternate request by request, so both see the same
machine load. Target: ours p50 at most 1.5x the bare forward's p50.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import (
    TYPICAL_TEXT,
    BareModel,
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

NAME = "speed_latency"
TARGET = 1.5  # ours p50 / bare p50


def main(argv=None) -> dict:
    args = parse_args(
        __doc__.splitlines()[0],
        argv,
        lambda p: p.add_argument("--requests", type=int, help="measured requests (default 300)"),
    )
    set_threads(args.threads)
    n = args.requests or (20 if args.quick else 300)
    import requests

    from bench.servers import start_gunicorn

    body = predict_body([TYPICAL_TEXT])
    with tempfile.TemporaryDirectory(prefix="nerb-bench-") as tmp:
        tmp = Path(tmp)
        model_dir = build_model(tmp / "model")
        bare = BareModel(model_dir)
        server, url = start_gunicorn(tmp, workers=1, **service_env(model_dir, tmp / "store", args.threads))
        try:
            session = requests.Session()
            for _ in range(10):  # the first request loads the model in the worker
                assert session.post(url + "/predict", json=body, timeout=120).status_code == 200
                bare.forward_one(TYPICAL_TEXT)
            http, floor = [], []
            for _ in range(n):
                start = time.perf_counter()
                response = session.post(url + "/predict", json=body, timeout=60)
                http.append(time.perf_counter() - start)
                assert response.status_code == 200, response.text
                start = time.perf_counter()
                bare.forward_one(TYPICAL_TEXT)
                floor.append(time.perf_counter() - start)
        finally:
            server.stop()

    ours_s, bare_s = latency_summary(http), latency_summary(floor)
    ratio = ours_s["p50_ms"] / bare_s["p50_ms"]
    results = {
        "text": TYPICAL_TEXT,
        "requests": n,
        "ours_http": ours_s,
        "bare_forward": bare_s,
        "p50_ratio": ratio,
        "p99_ratio": ours_s["p99_ms"] / bare_s["p99_ms"],
        "target_p50_ratio": TARGET,
        "server": "gunicorn --preload, 1 worker, 4 threads (gthread), requests.Session keep-alive",
    }
    rows = [
        ["ours: POST /predict over HTTP", *(f"{ours_s[k]:.1f}" for k in ("mean_ms", "p50_ms", "p90_ms", "p99_ms"))],
        ["bare tokenize + forward", *(f"{bare_s[k]:.1f}" for k in ("mean_ms", "p50_ms", "p90_ms", "p99_ms"))],
        ["ratio", *(f"{ours_s[k] / bare_s[k]:.2f}x" for k in ("mean_ms", "p50_ms", "p90_ms", "p99_ms"))],
    ]
    table = format_table(
        [
            "single task (%d words), %d requests" % (len(TYPICAL_TEXT.split()), n),
            "mean ms",
            "p50 ms",
            "p90 ms",
            "p99 ms",
        ],
        rows,
    )
    notes = [
        f"p50 ratio {ratio:.2f}x, target <= {TARGET}x: {verdict(ratio, TARGET)}",
        "HTTP and bare forward alternate one by one; the bare forward runs in the client process",
    ]
    report(NAME, args, results, [table], notes)
    return results


if __name__ == "__main__":
    main()
