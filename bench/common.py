"""Shared pieces of the speed benchmarks: the model and texts they all use, timing, tables, and results files.

Every benchmark measures the things it compares in one process run, interleaved, and reports ratios.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]

RESULTS = REPO / "bench" / "results"
LABELS = ("PER", "ORG", "LOC", "MISC")
# A typical single task: one news sentence of average length for the corpus.
TYPICAL_TEXT = "Tomas Reinholt told reporters in Port Alvar that talks with Norvane Bank had stalled on Friday."


# ---------------------------------------------------------------------------------------------- command line


def parse_args(
    description: str, argv: Sequence[str] | None = None, extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.Namespace:
    """The flags every benchmark takes: --quick (tiny sizes, for tests), --threads, --out, --seed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run (used by the tests)")
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="torch threads for every measured party (default: all cores)",
    )
    parser.add_argument("--out", default=str(RESULTS), help="directory for <name>.json and <name>.md")
    parser.add_argument("--seed", type=int, default=0)
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def set_threads(n: int) -> None:
    """Same intra-op thread count for everything measured in this process (and quiet model loading)."""
    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(n)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


# ---------------------------------------------------------------------------------------------- model and texts


def build_model(directory: Path) -> Path:
    """Save the default encoder with a seeded PER/ORG/LOC/MISC BIO head, so the service and the references
    load the very same weights (the service serves it as a trained base model with an NER head)."""
    from modeling.base_model import load_base_model

    directory = Path(directory)
    if (directory / "config.json").is_file():
        return directory
    loaded = load_base_model(None, list(LABELS))
    loaded.model.save_pretrained(directory)
    loaded.tokenizer.save_pretrained(directory)
    return directory


def make_texts(n: int, seed: int = 0) -> list[str]:
    """`n` news-style texts of mixed length, deterministic in (n, seed).

    About 80% are one sentence, 15% short paragraphs (2-4 sentences) and 5% long ones (8-20 sentences,
    roughly 150-350 words, i.e. more than one 128-token window but under the encoder's 512 positions).
    """
    from bench.corpus import make_tasks

    rng = random.Random(seed)
    sentences = [t["data"]["text"] for t in make_tasks(max(50, n * 2), seed=seed)]
    texts = []
    for _ in range(n):
        roll = rng.random()
        k = 1 if roll < 0.80 else rng.randint(2, 4) if roll < 0.95 else rng.randint(8, 20)
        texts.append(" ".join(rng.choice(sentences) for _ in range(k)))
    return texts


def tasks_for(texts: Sequence[str], start_id: int = 1) -> list[dict]:
    """Label Studio tasks (as /predict and /select_samples receive them) holding `texts`."""
    return [{"id": start_id + i, "data": {"text": t}} for i, t in enumerate(texts)]


def label_config() -> str:
    from bench.corpus import LABEL_CONFIG

    return LABEL_CONFIG


def predict_body(texts: Sequence[str], project: str = "1", start_id: int = 1) -> dict:
    return {
        "tasks": tasks_for(texts, start_id),
        "project": project,
        "label_config": label_config(),
        "params": {"context": None},
    }


def service_env(model_dir: Path, store_dir: Path, threads: int, **extra) -> dict[str, str]:
    """Environment for the service under test: our saved model as the base model, thread count pinned."""
    return {
        "MODEL_DIR": str(store_dir),
        "BASELINE_MODEL_NAME": str(model_dir),
        "LOG_LEVEL": "WARNING",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        **{k: str(v) for k, v in extra.items()},
    }


def flask_client(model_dir: Path, store_dir: Path, **env):
    """An in-process Flask test client of the real app (no socket, no gunicorn); `client.runtime` is the process's
    objects (`services.runtime.ServingObjects`).

    Built like `_wsgi.create_app(settings)` (protocol app around NERBackend and the process's objects), keeping a
    handle on those objects so a benchmark can time the stages of a request directly.
    """
    from _wsgi import configure_logging
    from model import NERBackend
    from services.runtime import serving_objects
    from settings import Settings
    from web.app import create_app

    values = {
        "MODEL_DIR": str(store_dir),
        "BASELINE_MODEL_NAME": str(model_dir),
        "LOG_LEVEL": "WARNING",
        **{k: str(v) for k, v in env.items()},
    }
    settings = Settings.from_env(values)
    configure_logging(settings.log_level)
    runtime = serving_objects(settings)
    app = create_app(settings, lambda project, label_config: NERBackend(runtime, project, label_config))
    app.testing = True
    client = app.test_client()
    client.runtime = runtime
    return client


# ---------------------------------------------------------------------------------------------- timing


def timed(fn: Callable, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def latency_summary(seconds: Sequence[float]) -> dict:
    """n, mean, p50, p90, p99, max of latencies, in milliseconds."""
    import numpy as np

    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "mean_ms": float(np.mean(ms)) if ms else float("nan"),
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else float("nan"),
    }


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


# ---------------------------------------------------------------------------------------------- reporting


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown pipe table that also reads well in a terminal."""

    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 10 else f"{v:,.1f}"
        return str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda values: "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def verdict(value: float, target: float) -> str:
    """'met' when value <= target (every target here is an upper bound on a time or a ratio)."""
    return "met" if value <= target else "MISSED"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    """The code a result was measured on: the commit (with "-dirty" when tracked files changed since), or, outside a
    git checkout (a copied snapshot of the code), a hash of every Python file of the service and the benchmark."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        if head:
            changed = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
            return head + ("-dirty" if changed else "")
    except (OSError, subprocess.SubprocessError):
        pass
    digest = hashlib.sha256()
    for path in sorted(p for p in REPO.rglob("*.py") if "tests" not in p.relative_to(REPO).parts):
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    return "files-sha256:" + digest.hexdigest()[:12]


def machine_info(threads: int | None = None) -> dict:
    info = {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "load_average_at_end": load_average(),
    }
    try:
        import torch
        import transformers

        info.update(torch=torch.__version__, transformers=transformers.__version__)
    except ImportError:
        pass
    if threads is not None:
        info["torch_threads"] = threads
    return info


def write_results(
    name: str,
    out_dir: str | Path,
    args: argparse.Namespace,
    results: dict,
    tables: Sequence[str],
    notes: Sequence[str] = (),
    machine: dict | None = None,
) -> tuple[Path, Path]:
    """bench/results/<name>.json (machine, command, results) and <name>.md (the same tables and notes)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    machine = machine or machine_info(getattr(args, "threads", None))
    command = " ".join(["python -m bench." + name, *getattr(args, "argv", [])])
    payload = {
        "name": name,
        "quick": bool(getattr(args, "quick", False)),
        "command": command,
        "machine": machine,
        "results": results,
    }
    json_path, md_path = out / f"{name}.json", out / f"{name}.md"
    json_path.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    header = (
        f"# {name}\n\n`{command}` on {machine['cpu_model']}, {machine['cores']} cores, "
        f"torch threads {machine.get('torch_threads')}, {machine['date']}, commit {machine['git_commit']}\n"
    )
    body = "\n\n".join(tables)
    md_path.write_text(
        header + "\n" + body + "\n" + ("\n" + "\n".join(f"- {n}" for n in notes) + "\n" if notes else "")
    )
    return json_path, md_path


def report(
    name: str,
    args: argparse.Namespace,
    results: dict,
    tables: Sequence[str],
    notes: Sequence[str] = (),
    machine: dict | None = None,
) -> None:
    """Print the tables and notes, then write the results files."""
    print()
    for table in tables:
        print(table)
        print()
    for note in notes:
        print("-", note)
    json_path, md_path = write_results(name, args.out, args, results, tables, notes, machine)
    print(f"\nwrote {json_path} and {md_path}")


# ---------------------------------------------------------------------------------------------- the floor


class BareModel:
    """The same weights with nothing around them: tokenize, forward under inference_mode, keep the logits.

    This is the floor the service is compared with. Long texts are cut into 128-token windows that overlap by
    32 tokens (the tokenizer's overflow), so the floor covers every token like the service's windows do.
    """

    def __init__(self, model_dir: Path, max_length: int = 128, stride: int = 32):
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.model = AutoModelForTokenClassification.from_pretrained(str(model_dir)).eval()
        self.max_length, self.stride = max_length, stride

    def forward_batched(self, texts: Sequence[str], batch_size: int = 32) -> int:
        """All texts in length-sorted batches with dynamic padding; returns the number of windows run."""
        import torch

        enc = self.tokenizer(
            list(texts), truncation=True, max_length=self.max_length, stride=self.stride, return_overflowing_tokens=True
        )
        rows = sorted(enc["input_ids"], key=len, reverse=True)
        with torch.inference_mode():
            for b in range(0, len(rows), batch_size):
                batch = rows[b : b + batch_size]
                width = len(batch[0])
                ids = torch.zeros((len(batch), width), dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for r, row in enumerate(batch):
                    ids[r, : len(row)] = torch.tensor(row)
                    mask[r, : len(row)] = 1
                self.model(input_ids=ids, attention_mask=mask).logits.softmax(-1)
        return len(rows)

    def forward_one(self, text: str):
        import torch

        enc = self.tokenizer(text, truncation=True, max_length=self.max_length, return_tensors="pt")
        with torch.inference_mode():
            return self.model(**enc).logits.softmax(-1)


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: how busy the machine was around a measurement."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []
