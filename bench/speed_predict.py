"""Benchmark 1: /predict throughput on many tasks, against a per-text HF pipeline and a bare batched forward pass.

    python -m bench.speed_predict [--quick] [--threads N] [--profile]

Ours: the real Flask app (create_app(settings)) through Flask's in-process test client, so JSON in and out and
the whole /predict route are counted but no socket is. All three run in this one process with the same torch
thread count, interleaved round by round; the pipeline's texts are split over the rounds.
Targets: ours at least 5x faster than the pipeline, and at most 1.15x the bare forward pass.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from bench.common import (
    BareModel,
    build_model,
    flask_client,
    format_table,
    make_texts,
    median,
    parse_args,
    predict_body,
    report,
    set_threads,
    timed,
    verdict,
)

NAME = "speed_predict"
PIPELINE_TARGET = 5.0  # ours must be at least this many times faster than the per-text pipeline
FLOOR_TARGET = 1.15  # ours may take at most this many times the bare forward pass


def measure_size(n: int, rounds: int, client, bare: BareModel, pipe, seed: int) -> dict:
    texts = make_texts(n, seed=seed)
    body = json.dumps(predict_body(texts))  # serialised once: the client's JSON encoding is not ours to count
    ours, floor, pipe_parts = [], [], []
    chunks = [texts[r::rounds] for r in range(rounds)]
    for r in range(rounds):
        seconds, response = timed(client.post, "/predict", data=body, content_type="application/json")
        assert response.status_code == 200 and len(response.json["results"]) == n, response.status_code
        ours.append(seconds)
        floor.append(timed(bare.forward_batched, texts)[0])
        start = time.perf_counter()
        for text in chunks[r]:
            pipe(text)
        pipe_parts.append(time.perf_counter() - start)
        print(
            f"  n={n} round {r + 1}/{rounds}: ours {ours[-1]:.2f}s  bare {floor[-1]:.2f}s  "
            f"pipeline {pipe_parts[-1]:.2f}s for {len(chunks[r])} texts",
            flush=True,
        )
    pipeline_s = sum(pipe_parts)
    ours_s, floor_s = median(ours), median(floor)
    # Per round: the pipeline's time per text there, scaled to n texts, over ours in the same round.
    per_round = [part / len(chunk) * n / o for part, chunk, o in zip(pipe_parts, chunks, ours)]
    return {
        "tasks": n,
        "rounds": rounds,
        "ours_s": ours,
        "bare_s": floor,
        "pipeline_parts_s": pipe_parts,
        "ours_median_s": ours_s,
        "bare_median_s": floor_s,
        "pipeline_s": pipeline_s,
        "ours_tasks_per_s": n / ours_s,
        "bare_tasks_per_s": n / floor_s,
        "pipeline_tasks_per_s": n / pipeline_s,
        "speedup_vs_pipeline_rounds": per_round,
        "speedup_vs_pipeline": median(per_round),
        "speedup_vs_pipeline_totals": pipeline_s / ours_s,
        "ratio_to_bare": median([o / f for o, f in zip(ours, floor)]),  # per round, so both saw the same load
    }


def profile_predict(client, texts: list[str], out_dir: Path) -> Path:
    """pyinstrument over one /predict call; the text profile goes next to the results."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.002)
    profiler.start()
    client.post("/predict", json=predict_body(texts))
    profiler.stop()
    path = Path(out_dir) / f"profile-predict-{len(texts)}.txt"
    path.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    return path


def main(argv=None) -> dict:
    args = parse_args(
        __doc__.splitlines()[0],
        argv,
        lambda p: p.add_argument("--profile", action="store_true", help="also profile one /predict"),
    )
    set_threads(args.threads)
    sizes = [(8, 2), (24, 2)] if args.quick else [(256, 3), (2000, 2)]
    from transformers import pipeline

    with tempfile.TemporaryDirectory(prefix="nerb-bench-") as tmp:
        model_dir = build_model(Path(tmp) / "model")
        client = flask_client(model_dir, Path(tmp) / "store")
        bare = BareModel(model_dir)
        pipe = pipeline("token-classification", model=str(model_dir), aggregation_strategy="simple")
        warm = make_texts(16, seed=args.seed + 99)  # load the served model, fill allocator caches, for all three
        client.post("/predict", json=predict_body(warm))
        bare.forward_batched(warm)
        for text in warm[:4]:
            pipe(text)
        results = {"sizes": [measure_size(n, rounds, client, bare, pipe, args.seed) for n, rounds in sizes]}
        if args.profile:
            results["profile"] = str(profile_predict(client, make_texts(sizes[0][0], seed=args.seed), args.out))
    publish(args, results)
    return results


def publish(args, results: dict, machine: dict | None = None) -> None:
    """Print the table and write the results files (also used to re-render a saved run)."""
    rows = []
    for s in results["sizes"]:
        rows.append(
            [
                s["tasks"],
                f"{s['ours_median_s']:.2f}",
                f"{s['bare_median_s']:.2f}",
                f"{s['pipeline_s']:.2f}",
                f"{s['ours_tasks_per_s']:.0f}",
                f"{s['pipeline_tasks_per_s']:.0f}",
                f"{s['speedup_vs_pipeline']:.2f}x ({verdict(PIPELINE_TARGET, s['speedup_vs_pipeline'])})",
                ", ".join(f"{x:.1f}" for x in s["speedup_vs_pipeline_rounds"]),
                f"{s['ratio_to_bare']:.2f}x ({verdict(s['ratio_to_bare'], FLOOR_TARGET)})",
            ]
        )
    table = format_table(
        [
            "tasks",
            "ours s",
            "bare forward s",
            "pipeline s",
            "ours tasks/s",
            "pipeline tasks/s",
            f"pipeline/ours (target >= {PIPELINE_TARGET:g}x)",
            "per round",
            f"ours/bare (target <= {FLOOR_TARGET}x)",
        ],
        rows,
    )
    results["targets"] = {"speedup_vs_pipeline_min": PIPELINE_TARGET, "ratio_to_bare_max": FLOOR_TARGET}
    notes = [
        "ours: Flask test client of create_app(settings) (in-process, JSON in/out, no socket); median over rounds",
        "bare forward: same weights, tokenize (128-token windows, 32 overlap) + batches of 32 sorted by length under "
        "inference_mode; median over rounds",
        "pipeline: transformers pipeline('token-classification', aggregation_strategy='simple') once per text; "
        "its texts split over the rounds and summed ('pipeline s')",
        "pipeline/ours and ours/bare are medians of per-round ratios (measured back to back, so under the same "
        "machine load); the pipeline's per-round time is scaled from its share of the texts",
    ]
    report(NAME, args, results, [table], notes, machine)


if __name__ == "__main__":
    main()
