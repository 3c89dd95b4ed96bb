"""Benchmark 7: serving speed at each SERVING_PRECISION on CoNLL sentences, over HTTP, side by side in one run.

    python -m bench.speed_serving [--quick] [--threads N] [--model DIR | --train-sentences N [--train-epochs E]
        [--save-model DIR]]
        [--conll-test FILE] [--conll-train FILE] [--sizes 256 2000] [--precisions fp32 bf16 int8]
        [--clients 8] [--requests N] [--rounds R]

For each precision a real gunicorn (1 worker, --preload, SERVING_PRECISION=<p>, SERVING_PRECISION_FORCE=true
because a model directory served as a base model has no parity figures, TORCH_THREADS=--threads) serves the model
directory; this process runs the references on the same weights with the same thread count:
  - /predict of --sizes CoNLL test sentences (one request each, rounds interleaved with the bare forward) against
    the per-text fp32 `transformers.pipeline("ner")` (aggregation "simple") and a bare batched forward at the same
    precision (tokenize, length-sorted batches of 32, forward under inference_mode);
  - entity F1 (strict IOB2 on words, against the CoNLL gold) of what /predict serves, and its drop and span
    agreement against the fp32 server's answers;
  - single-task /predict p50 over HTTP against a bare single forward at the same precision (alternating blocks);
  - --clients concurrent clients sending single tasks: throughput against one client's, p99 against idle p99;
  - the web worker's peak RSS (VmHWM) after all of that.
The model: --model DIR (any token-classification checkpoint whose labels are the CoNLL file's), or the default
encoder fine-tuned here on --train-sentences sentences of --conll-train (--train-epochs, the service's learning
rate; --save-model keeps it for a later --model), or with neither the default encoder with a seeded untrained head
(speed is the same; F1 then means nothing). The load average is printed at
the start and the end and stored with the results.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from bench.common import (
    BareModel,
    format_table,
    latency_summary,
    load_average,
    median,
    parse_args,
    report,
    service_env,
    set_threads,
    verdict,
)
from bench.conll import CONLL_DIR, labels_of, read_conll, subsample
from bench.corpus import label_config

NAME = "speed_serving"
SINGLE_BLOCKS = 4  # single-task latency: HTTP and bare forward in this many alternating blocks each
SETTLE_S = 0.2  # pause between blocks, longer than an OpenMP spin-wait
TARGETS = {
    "vs_pipeline_min": 5.0,
    "f1_drop_max": 0.005,
    "vs_bare_max": 1.15,
    "single_p50_vs_bare_max": 1.5,
    "concurrent_throughput_min": 3.0,
    "concurrent_p99_vs_idle_max": 3.0,
    "worker_rss_mib_max": 700,
}


def add_arguments(parser) -> None:
    parser.add_argument("--model", help="a token-classification checkpoint directory (default: see --train-sentences)")
    parser.add_argument(
        "--train-sentences",
        type=int,
        default=0,
        help="fine-tune the default encoder on this many --conll-train sentences first",
    )
    parser.add_argument("--train-epochs", type=int, default=1, help="epochs of that fine-tuning (default 1)")
    parser.add_argument("--save-model", help="keep the fine-tuned checkpoint in this directory (reuse with --model)")
    parser.add_argument("--conll-test", default=str(CONLL_DIR / "test.tsv"))
    parser.add_argument("--conll-train", default=str(CONLL_DIR / "train.tsv"))
    parser.add_argument("--sizes", type=int, nargs="+", help="sentences per /predict (default 256 2000)")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, help="single-task requests per client (default 100)")
    parser.add_argument("--rounds", type=int, help="rounds per size (default 3)")


# --------------------------------------------------------------------------------------------------- the model


def prepare_model(args, labels: tuple[str, ...], directory: Path) -> tuple[Path, str]:
    """(checkpoint directory, how it was made)."""
    if args.model:
        return Path(args.model), f"--model {args.model}"
    from modeling.base_model import load_base_model

    loaded = load_base_model(None, list(labels))
    how = "default encoder, seeded untrained head (F1 meaningless)"
    if args.train_sentences:
        from settings import Settings
        from training.trainer import fine_tune

        train = subsample(read_conll(args.conll_train), args.train_sentences, args.seed)
        settings = Settings.from_env(
            {"NUM_TRAIN_EPOCHS": str(args.train_epochs), "MIN_TRAIN_STEPS": "0", "BATCH_SIZE": "16"}
        )
        started = time.perf_counter()
        fine_tune(loaded, train, [], settings)
        how = (
            f"default encoder fine-tuned on {len(train)} sentences of {args.conll_train} ({args.train_epochs} "
            f"epoch(s), {time.perf_counter() - started:.0f}s)"
        )
        loaded.model.cpu()
        if args.save_model:
            directory = Path(args.save_model)
    loaded.model.save_pretrained(directory)
    loaded.tokenizer.save_pretrained(directory)
    return directory, how


def body(texts, config: str, start_id: int = 1) -> dict:
    return {
        "tasks": [{"id": start_id + i, "data": {"text": t}} for i, t in enumerate(texts)],
        "project": "1",
        "label_config": config,
    }


# --------------------------------------------------------------------------------------------------- accuracy


def spans_of(prediction: dict) -> tuple:
    from text.spans.span import Span

    return tuple(Span(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in prediction["result"])


def entity_f1(examples, predicted: list[tuple]) -> float:
    """Strict IOB2 entity F1 of predicted spans against the gold ones, both aligned to the same words."""
    from text.spans.alignment import align_spans
    from text.words import split_words
    from training.evaluation import score_tags

    gold, guessed = [], []
    for example, spans in zip(examples, predicted):
        words = split_words(example.text)
        gold.append(align_spans(words, example.spans)[0])
        guessed.append(align_spans(words, spans)[0])
    return score_tags(gold, guessed)["entity_f1"]


def pipeline_spans(entities: list[dict]) -> tuple:
    from text.spans.span import Span

    return tuple(Span(e["start"], e["end"], e["entity_group"]) for e in entities)


# --------------------------------------------------------------------------------------------------- one server


def worker_peak_rss_mib(server) -> float:
    """VmHWM (peak resident set) of the gunicorn worker(s) under `server`, the largest, in MiB."""
    import psutil

    peaks = []
    for child in psutil.Process(server.proc.pid).children(recursive=True):
        try:
            for line in Path(f"/proc/{child.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return max(peaks, default=float("nan"))


def concurrent_clients(url: str, config: str, texts: list[str], clients: int, per_client: int) -> dict:
    """`clients` threads, each with its own keep-alive session, sending `per_client` single-task requests."""
    import requests

    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client(k: int) -> None:
        session = requests.Session()
        mine = []
        start.wait()
        for i in range(per_client):
            text = texts[(k * per_client + i) % len(texts)]
            t0 = time.perf_counter()
            response = session.post(url + "/predict", json=body([text], config), timeout=120)
            mine.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.text
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {
        "clients": clients,
        "requests": len(latencies),
        "wall_s": wall,
        "throughput_rps": len(latencies) / wall,
        **latency_summary(latencies),
    }


def measure_precision(precision: str, args, model_dir: Path, tmp: Path, examples, config: str, sizes, pipe_s) -> dict:
    import requests

    from bench.servers import start_gunicorn
    from modeling.precision import to_precision

    bare = BareModel(model_dir)
    bare.model = to_precision(bare.model, precision)
    env = service_env(
        model_dir,
        tmp / f"store-{precision}",
        args.threads,
        SERVING_PRECISION=precision,
        SERVING_PRECISION_FORCE="true",
        TORCH_THREADS=args.threads,
    )
    server, url = start_gunicorn(tmp, workers=1, threads=max(8, args.clients), **env)
    out: dict = {"precision": precision, "sizes": []}
    try:
        session = requests.Session()
        texts_all = [e.text for e in examples]
        warm = texts_all[:16]
        assert session.post(url + "/predict", json=body(warm, config), timeout=300).status_code == 200
        bare.forward_batched(warm)
        health = session.get(url + "/health", timeout=10).json()
        out["served_precision"] = health["models"].get("1", {}).get("precision")
        out["torch_threads"] = health.get("torch_threads")
        for n in sizes:
            texts = texts_all[:n]
            payload = body(texts, config)
            ours, floor, answers = [], [], None
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                response = session.post(url + "/predict", json=payload, timeout=1800)
                ours.append(time.perf_counter() - t0)
                assert response.status_code == 200, response.text[:300]
                answers = response.json()["results"]
                t0 = time.perf_counter()
                bare.forward_batched(texts)
                floor.append(time.perf_counter() - t0)
                print(f"  {precision} n={n}: /predict {ours[-1]:.2f}s  bare {floor[-1]:.2f}s", flush=True)
            spans = [spans_of(a) for a in answers]
            out["sizes"].append(
                {
                    "tasks": n,
                    "ours_s": ours,
                    "bare_s": floor,
                    "ours_median_s": median(ours),
                    "bare_median_s": median(floor),
                    "tasks_per_s": n / median(ours),
                    "vs_pipeline": pipe_s[n] / median(ours),
                    "vs_bare": median([o / f for o, f in zip(ours, floor)]),
                    "entity_f1": entity_f1(examples[:n], spans),
                    "spans": spans,
                }
            )
        single = texts_all[: max(1, args.requests)]
        http, floor = [], []
        # Alternating blocks, not request by request: right after a forward pass this process's OpenMP threads
        # spin-wait for more work and take the cores the server needs (measured: HTTP p50 22.6 ms interleaved one
        # by one against 13.8-14.4 ms in blocks, bare 13.1 against 9.3-9.8 ms), so each side would time the other.
        block = max(1, len(single) // SINGLE_BLOCKS)
        for start in range(0, len(single), block):
            for text in single[start : start + block]:
                t0 = time.perf_counter()
                assert session.post(url + "/predict", json=body([text], config), timeout=60).status_code == 200
                http.append(time.perf_counter() - t0)
            time.sleep(SETTLE_S)
            for text in single[start : start + block]:
                t0 = time.perf_counter()
                bare.forward_one(text)
                floor.append(time.perf_counter() - t0)
            time.sleep(SETTLE_S)
        out["single_http"], out["single_bare"] = latency_summary(http), latency_summary(floor)
        out["single_p50_vs_bare"] = out["single_http"]["p50_ms"] / out["single_bare"]["p50_ms"]
        one = concurrent_clients(url, config, texts_all, 1, args.requests)
        many = concurrent_clients(url, config, texts_all, args.clients, args.requests)
        out["one_client"], out["concurrent"] = one, many
        out["concurrent_throughput_vs_one"] = many["throughput_rps"] / one["throughput_rps"]
        out["concurrent_p99_vs_idle"] = many["p99_ms"] / out["single_http"]["p99_ms"]
        out["worker_peak_rss_mib"] = worker_peak_rss_mib(server)
    finally:
        server.stop()
    return out


# --------------------------------------------------------------------------------------------------- the run


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv, add_arguments)
    set_threads(args.threads)
    args.sizes = args.sizes or ([16] if args.quick else [256, 2000])
    args.requests = args.requests or (4 if args.quick else 100)
    args.rounds = args.rounds or (1 if args.quick else 3)
    if args.quick:
        args.clients = min(args.clients, 2)
    load_start = load_average()
    print(f"load average at start: {load_start}", flush=True)
    examples = read_conll(args.conll_test)
    if len(examples) < max(args.sizes):
        raise SystemExit(f"{args.conll_test} holds {len(examples)} sentences, fewer than --sizes {max(args.sizes)}")
    examples = examples[: max(max(args.sizes), args.requests * args.clients)]
    labels = labels_of(examples)
    config = label_config(labels)
    from transformers import pipeline

    with tempfile.TemporaryDirectory(prefix="nerb-bench-") as tmp:
        tmp = Path(tmp)
        model_dir, how = prepare_model(args, labels, tmp / "model")
        print(f"model: {how}", flush=True)
        pipe = pipeline("ner", model=str(model_dir), aggregation_strategy="simple")
        pipe_s, pipe_f1 = {}, {}
        for n in args.sizes:  # per text, fp32: the reference every precision is compared with
            t0 = time.perf_counter()
            found = [pipeline_spans(pipe(e.text)) for e in examples[:n]]
            pipe_s[n] = time.perf_counter() - t0
            pipe_f1[n] = entity_f1(examples[:n], found)
            print(f"  pipeline n={n}: {pipe_s[n]:.2f}s", flush=True)
        runs = [
            measure_precision(p, args, model_dir, tmp, examples, config, args.sizes, pipe_s) for p in args.precisions
        ]
    results = summarise(runs, pipe_s, pipe_f1, how, load_start)
    publish(args, results)
    return results


def summarise(runs: list[dict], pipe_s: dict, pipe_f1: dict, how: str, load_start) -> dict:
    """Each precision's F1 drop and span agreement against the fp32 server's answers (when fp32 was run)."""
    from modeling.parity import span_agreement

    reference = next((r for r in runs if r["precision"] == "fp32"), None)
    for run in runs:
        for i, size in enumerate(run["sizes"]):
            if reference is not None:
                ref = reference["sizes"][i]
                size["f1_drop_vs_fp32"] = ref["entity_f1"] - size["entity_f1"]
                size["span_agreement_vs_fp32"] = span_agreement(ref["spans"], size["spans"])
    for run in runs:
        for size in run["sizes"]:
            del size["spans"]
    return {
        "model": how,
        "runs": runs,
        "pipeline_s": pipe_s,
        "pipeline_entity_f1": pipe_f1,
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "targets": TARGETS,
    }


def publish(args, results: dict) -> None:
    rows = []
    for run in results["runs"]:
        for s in run["sizes"]:
            rows.append(
                [
                    run["precision"],
                    run.get("served_precision"),
                    s["tasks"],
                    f"{s['tasks_per_s']:.0f}",
                    f"{s['vs_pipeline']:.2f}x ({verdict(TARGETS['vs_pipeline_min'], s['vs_pipeline'])})",
                    f"{s['vs_bare']:.2f}x ({verdict(s['vs_bare'], TARGETS['vs_bare_max'])})",
                    f"{s['entity_f1']:.4f}",
                    f"{s.get('f1_drop_vs_fp32', float('nan')):+.4f}",
                    f"{s.get('span_agreement_vs_fp32', float('nan')):.4f}",
                ]
            )
    batch_table = format_table(
        [
            "precision",
            "served",
            "tasks",
            "/predict tasks/s",
            "vs per-text fp32 pipeline (>= 5x)",
            "/predict / bare batched (<= 1.15x)",
            "entity F1",
            "F1 drop vs fp32 (<= 0.005)",
            "span agreement vs fp32",
        ],
        rows,
    )
    rows = []
    for run in results["runs"]:
        rows.append(
            [
                run["precision"],
                f"{run['single_http']['p50_ms']:.1f}",
                f"{run['single_bare']['p50_ms']:.1f}",
                f"{run['single_p50_vs_bare']:.2f}x ({verdict(run['single_p50_vs_bare'], 1.5)})",
                f"{run['one_client']['throughput_rps']:.1f}",
                f"{run['concurrent']['throughput_rps']:.1f}",
                f"{run['concurrent_throughput_vs_one']:.2f}x ({verdict(3.0, run['concurrent_throughput_vs_one'])})",
                f"{run['concurrent']['p99_ms']:.1f}",
                f"{run['concurrent_p99_vs_idle']:.2f}x ({verdict(run['concurrent_p99_vs_idle'], 3.0)})",
                f"{run['worker_peak_rss_mib']:.0f} ({verdict(run['worker_peak_rss_mib'], 700)})",
            ]
        )
    single_table = format_table(
        [
            "precision",
            "single p50 ms HTTP",
            "bare single p50 ms",
            "ratio (<= 1.5x)",
            "1 client req/s",
            f"{results['runs'][0]['concurrent']['clients']} clients req/s",
            "throughput vs 1 (>= 3x)",
            "concurrent p99 ms",
            "p99 vs idle p99 (<= 3x)",
            "worker peak RSS MiB (<= 700)",
        ],
        rows,
    )
    pipe = ", ".join(
        f"{n} tasks: {s:.2f}s, F1 {results['pipeline_entity_f1'][n]:.4f}" for n, s in results["pipeline_s"].items()
    )
    notes = [
        f"model: {results['model']}",
        f"load average (1, 5, 15 min) at start {results['load_average_start']}, at end {results['load_average_end']}",
        f"per-text fp32 pipeline('ner', aggregation_strategy='simple'): {pipe}",
        "ours: gunicorn 1 worker --preload, SERVING_PRECISION forced (no parity gate: the directory is served as a "
        "base model), one HTTP request per size; medians over rounds interleaved with the bare forward",
        "entity F1: strict IOB2 over words against the CoNLL gold; F1 drop and span agreement against the fp32 "
        "server's answers for the same request",
    ]
    print()
    report(NAME, args, results, [batch_table, single_table], notes)


if __name__ == "__main__":
    main()
