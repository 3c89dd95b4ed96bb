"""Benchmark 3: POST /select_samples on 10,000 inline tasks, cold (scores computed) and cached (same tasks again).

    python -m bench.speed_select [--quick] [--threads N] [--tasks N] [--profile]

Through the real Flask app's in-process test client (create_app(settings)); the request body is serialised once
outside the timing. After the calls, the parts of a cached call are timed one by one in this process (JSON
parsing, reading texts, hashing, cache lookups and aggregation, selection, response) to show what dominates.
Target: a cached call within 0.3 s.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from bench.common import (
    build_model,
    flask_client,
    format_table,
    label_config,
    make_texts,
    median,
    parse_args,
    report,
    set_threads,
    tasks_for,
    timed,
    verdict,
)

NAME = "speed_select"
TARGET_CACHED_S = 0.3


def breakdown(runtime, payload: bytes, repeats: int) -> dict:
    """Median seconds of each stage of a cached /select_samples call, run directly on the app's runtime.

    `select_uncached` is what the diversity loop costs when the remembered batch cannot be reused (a pool that
    changed); `selection_lookup` is what a repeated call pays instead.
    """
    import uncertainty
    from services.select import _text_hash, pool_digest, score_tasks
    from text.label_config import parse_ner_config
    from text.tasks import task_text
    from web.app import parse_select_request

    settings = runtime.settings
    stages: dict[str, list[float]] = {
        k: []
        for k in (
            "json_parse",
            "read_texts",
            "hash_texts",
            "pool_digest",
            "score_tasks_cached",
            "selection_lookup",
            "select_uncached",
            "respond",
        )
    }
    for _ in range(repeats):
        seconds, body = timed(json.loads, payload)
        stages["json_parse"].append(seconds)
        req = parse_select_request(body, settings)
        config = parse_ner_config(label_config())
        pool = [t for t in req.tasks if not (t.get("annotations") or t.get("is_labeled"))]
        start = time.perf_counter()
        items = [
            (t.get("id", i), text) for i, t in enumerate(pool) if (text := task_text(t, config.value_key)) is not None
        ]
        stages["read_texts"].append(time.perf_counter() - start)
        seconds, hashes = timed(lambda: [_text_hash(text) for _, text in items])
        stages["hash_texts"].append(seconds)
        seconds, digest = timed(pool_digest, items, hashes)
        stages["pool_digest"].append(seconds)
        served = runtime.models.get("0", config)
        table = runtime.scores.table("0", served.version, tuple(served.tags))
        ranking = runtime.rankings(None, strategy=req.strategy, reduction=req.reduction, top_k=req.top_k)
        seconds, (scores, _, embeddings) = timed(score_tasks, served, table, items, hashes, ranking)
        stages["score_tasks_cached"].append(seconds)

        def choose():
            return uncertainty.select(scores, embeddings, req.limit, diversity=req.diversity)

        key = ("bench", served.version, digest, req.strategy, req.limit, req.threshold, req.diversity)
        seconds, picked = timed(choose)
        stages["select_uncached"].append(seconds)
        runtime.scores.selection(key, lambda: picked)
        stages["selection_lookup"].append(timed(runtime.scores.selection, key, choose)[0])
        answer = {"task_ids": [items[i][0] for i in picked], "scores": [round(float(scores[i]), 6) for i in picked]}
        stages["respond"].append(timed(json.dumps, answer)[0])
    return {k: median(v) for k, v in stages.items()}


def profile_cached(client, payload: bytes, out_dir: Path) -> Path:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001)
    profiler.start()
    client.post("/select_samples", data=payload, content_type="application/json")
    profiler.stop()
    path = Path(out_dir) / "profile-select-cached.txt"
    path.write_text(profiler.output_text(unicode=False, color=False))
    return path


def main(argv=None) -> dict:
    def extra(p):
        p.add_argument("--tasks", type=int, help="pool size (default 10000)")
        p.add_argument("--profile", action="store_true", help="also profile one cached call with pyinstrument")

    args = parse_args(__doc__.splitlines()[0], argv, extra)
    set_threads(args.threads)
    n = args.tasks or (200 if args.quick else 10_000)
    repeats = 3 if args.quick else 5
    texts = make_texts(n, seed=args.seed)
    body = {"tasks": tasks_for(texts), "label_config": label_config(), "limit": 500}
    payload = json.dumps(body).encode()
    with tempfile.TemporaryDirectory(prefix="nerb-bench-") as tmp:
        tmp = Path(tmp)
        model_dir = build_model(tmp / "model")
        client = flask_client(model_dir, tmp / "store")
        # Load the model first (one tiny /predict), so "cold" means cold scores, not model loading.
        client.post("/predict", json={"tasks": tasks_for(["Warm up."]), "label_config": label_config()})

        def call():
            seconds, response = timed(client.post, "/select_samples", data=payload, content_type="application/json")
            assert response.status_code == 200, response.get_data(as_text=True)[:500]
            return seconds, response.json

        cold_s, cold = call()
        cached = [call() for _ in range(repeats)]
        cached_s = [s for s, _ in cached]
        assert all(answer["task_ids"] == cold["task_ids"] for _, answer in cached)
        stages = breakdown(client.runtime, payload, repeats)
        profile = str(profile_cached(client, payload, args.out)) if args.profile else None

    cached_median = median(cached_s)
    results = {
        "tasks": n,
        "payload_bytes": len(payload),
        "limit": 500,
        "mode": cold["mode"],
        "selected": len(cold["task_ids"]),
        "cold_s": cold_s,
        "cached_s": cached_s,
        "cached_median_s": cached_median,
        "cached_max_s": max(cached_s),
        "cached_stages_s": stages,
        "target_cached_s": TARGET_CACHED_S,
        "profile": profile,
    }
    rows = [
        ["cold (first call: forward pass over every task)", f"{cold_s:.2f}", f"{n / cold_s:.0f}", ""],
        [
            f"cached (same tasks, median of {repeats})",
            f"{cached_median:.3f}",
            f"{n / cached_median:.0f}",
            f"<= {TARGET_CACHED_S} s: {verdict(cached_median, TARGET_CACHED_S)}",
        ],
        [f"cached, worst of {repeats}", f"{max(cached_s):.3f}", "", ""],
    ]
    table = format_table(
        [
            f"/select_samples, {n:,} inline tasks ({len(payload) / 1e6:.1f} MB), limit 500",
            "seconds",
            "tasks/s",
            "target",
        ],
        rows,
    )
    repeated = {k: v for k, v in stages.items() if k != "select_uncached"}
    total = sum(repeated.values())
    stage_rows = [
        [k, f"{v * 1000:.1f}", f"{100 * v / total:.0f}%"] for k, v in sorted(repeated.items(), key=lambda kv: -kv[1])
    ]
    stage_rows.append(
        ["(select_uncached: the diversity loop when the pool changed)", f"{stages['select_uncached'] * 1000:.1f}", ""]
    )
    stage_table = format_table(["stage of a repeated call (timed directly)", "ms", "share"], stage_rows)
    notes = [
        "in-process Flask test client of create_app(settings); request JSON serialised outside the timing",
        f"selection mode {cold['mode']!r} (uncertainty + embedding diversity, threshold 0.8 from settings)",
    ]
    report(NAME, args, results, [table, stage_table], notes)
    return results


if __name__ == "__main__":
    main()
