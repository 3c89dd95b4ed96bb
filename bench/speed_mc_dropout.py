"""Cost of MC dropout for selection: one deterministic pass, T samples over the last layers, T full passes.

    python -m bench.speed_mc_dropout [--quick] [--threads N] [--sentences N] [--samples T] [--layers M] [--rounds R]

On N CoNLL test sentences (bench.conll.read_conll, a seeded subsample), through modeling.inference.Predictor with the
default encoder and a seeded PER/ORG/LOC/MISC head, in one process and interleaved round by round:
- deterministic: one pass with embeddings (what selection computes without MC dropout);
- plain: one pass without embeddings (what /predict computes);
- mc_last: the same pass plus T dropout samples over the last M layers and the head (the encoder runs once);
- mc_full: the same pass plus T dropout samples over every layer (what MC dropout costs without the split).
Ratios are taken per round (so both sides saw the same load) and the median is reported, with the load average.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import LABELS, format_table, load_average, make_texts, median, parse_args, report, set_threads, timed
from bench.conll import CONLL_DIR, read_conll, subsample

NAME = "speed_mc_dropout"


def add_arguments(parser) -> None:
    parser.add_argument("--sentences", type=int, help="CoNLL test sentences (default 500; --quick: 16)")
    parser.add_argument("--samples", type=int, default=10, help="MC dropout samples T (default 10)")
    parser.add_argument("--layers", type=int, default=2, help="sampled top layers M (default 2)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 2; --quick: 1)")
    parser.add_argument("--data", default=str(CONLL_DIR / "test.tsv"), help="CoNLL file (token<TAB>tag lines)")


def load_texts(path: str, n: int, seed: int, quick: bool) -> tuple[list[str], str]:
    """N sentences of the CoNLL file; a --quick run without the file (tests elsewhere) uses the seeded corpus."""
    if not Path(path).is_file() and quick:
        return make_texts(n, seed=seed), "synthetic news texts (bench.corpus): CoNLL file not found"
    return [e.text for e in subsample(read_conll(path), n, seed)], f"{n} sentences of {path}"


def measure(predictor, texts: list[str], samples: int, layers: int, total_layers: int, rounds: int) -> dict:
    parties = {
        "deterministic": dict(embeddings=True),
        "plain": dict(),
        "mc_last": dict(embeddings=True, mc_samples=samples, mc_layers=layers),
        "mc_full": dict(embeddings=True, mc_samples=samples, mc_layers=total_layers),
    }
    seconds: dict[str, list[float]] = {name: [] for name in parties}
    loads = [load_average()]
    for r in range(rounds):
        for name, kwargs in parties.items():
            seconds[name].append(timed(predictor.predict, texts, **kwargs)[0])
        loads.append(load_average())
        print(f"  round {r + 1}/{rounds}: " + "  ".join(f"{k} {v[-1]:.2f}s" for k, v in seconds.items()), flush=True)

    def ratio(name: str) -> float:
        return median([a / b for a, b in zip(seconds[name], seconds["deterministic"])])

    return {
        "sentences": len(texts),
        "samples": samples,
        "layers": layers,
        "total_layers": total_layers,
        "rounds": rounds,
        "seconds": seconds,
        "median_s": {k: median(v) for k, v in seconds.items()},
        "ratio_to_deterministic": {k: ratio(k) for k in parties},
        "mc_full_over_mc_last": median([f / m for f, m in zip(seconds["mc_full"], seconds["mc_last"])]),
        # One full pass plus T passes over M of L layers, counting layers only (embeddings and head are small).
        "layer_count_estimate_mc_last": 1 + samples * layers / total_layers,
        "layer_count_estimate_mc_full": 1 + samples,
        "load_average_by_round": loads,
    }


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv, add_arguments)
    set_threads(args.threads)
    n = args.sentences or (16 if args.quick else 500)
    samples, rounds = (2, args.rounds or 1) if args.quick else (args.samples, args.rounds or 2)
    from modeling.base_model import load_base_model
    from modeling.inference import Predictor
    from settings import Settings

    texts, source = load_texts(args.data, n, args.seed, args.quick)
    loaded = load_base_model(None, list(LABELS))
    settings = Settings()
    predictor = Predictor(loaded.model, loaded.tokenizer, settings.max_sequence_length, settings.inference_batch_size)
    total_layers = int(loaded.model.config.num_hidden_layers)
    predictor.predict(texts[:16], embeddings=True, mc_samples=2, mc_layers=args.layers)  # warm up allocator, kernels
    start = time.perf_counter()
    results = measure(predictor, texts, samples, args.layers, total_layers, rounds)
    results.update(texts=source, wall_s=time.perf_counter() - start)
    publish(args, results)
    return results


def publish(args, results: dict) -> None:
    ratios, med = results["ratio_to_deterministic"], results["median_s"]
    labels = {
        "plain": "plain pass, no embeddings (/predict)",
        "deterministic": "deterministic pass with embeddings",
        "mc_last": f"MC dropout, T={results['samples']} over the last {results['layers']} layers + head",
        "mc_full": f"MC dropout, T={results['samples']} over all {results['total_layers']} layers (full passes)",
    }
    estimates = {
        "plain": "",
        "deterministic": "1",
        "mc_last": f"{results['layer_count_estimate_mc_last']:.2f}",
        "mc_full": f"{results['layer_count_estimate_mc_full']:.2f}",
    }
    rows = [
        [labels[k], f"{med[k]:.2f}", f"{results['sentences'] / med[k]:.0f}", f"{ratios[k]:.2f}x", estimates[k]]
        for k in ("plain", "deterministic", "mc_last", "mc_full")
    ]
    table = format_table(["pass", "median s", "sentences/s", "x deterministic", "layer-count estimate"], rows)
    notes = [
        f"texts: {results['texts']}; {results['rounds']} interleaved rounds; torch threads {args.threads}",
        f"MC over all layers costs {results['mc_full_over_mc_last']:.2f}x MC over the last {results['layers']}",
        "1/5/15-min load average before and after each round: "
        + " -> ".join(str(x) for x in results["load_average_by_round"]),
    ]
    report(NAME, args, results, [table], notes)


if __name__ == "__main__":
    main()
