"""Learning-curve and k-fold plots for the label-efficiency benchmarks (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

AXIS_LABELS = {
    "sentences": "labelled sentences (tasks)",
    "tokens": "labelled tokens",
    "entities": "labelled gold entities",
    "seconds": "estimated annotator seconds (bench/active/annotation_time.py)",
}


def plot_learning_curves(
    curves: Mapping[str, dict],
    full_f1: float | None,
    axis: str,
    path: str | Path,
    title: str = "",
    ylabel: str = "entity F1 of the served spans",
    xlabel: str | None = None,
) -> Path:
    """F1 (mean over seeds, min-max band) against labelled sentences or tokens; the full-pool F1 as a line.

    `curves[name]` holds "f1", "f1_min", "f1_max" (whatever figure `ylabel` names), the axis and "seeds"."""
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for name, c in curves.items():
        x = c[axis]
        (line,) = ax.plot(x, c["f1"], marker="o", markersize=3, label=f"{name} ({min(c['seeds'])} seeds)")
        ax.fill_between(x, c["f1_min"], c["f1_max"], color=line.get_color(), alpha=0.15, linewidth=0)
    if full_f1 is not None:
        ax.axhline(full_f1, color="black", linestyle="--", linewidth=1, label=f"full pool ({full_f1:.3f})")
        ax.axhline(0.95 * full_f1, color="grey", linestyle=":", linewidth=1, label="95% of full pool")
    ax.set_xlabel(xlabel or AXIS_LABELS.get(axis, axis))
    ax.set_ylabel(ylabel)
    return _finish(fig, ax, path, title, legend_loc="lower right")


def plot_kfold(
    sizes: Sequence[int],
    means: Sequence[float],
    mins: Sequence[float],
    maxs: Sequence[float],
    path: str | Path,
    title: str = "",
) -> Path:
    """Held-out F1 against the number of training examples, mean over folds with a min-max band."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    ax.plot(sizes, means, marker="o", label="mean over folds")
    ax.fill_between(sizes, mins, maxs, alpha=0.2, linewidth=0, label="min-max over folds")
    ax.set_xscale("log")
    ax.set_xticks(list(sizes))
    ax.set_xticklabels([str(s) for s in sizes])
    ax.set_xlabel("labelled training examples")
    ax.set_ylabel("held-out entity F1 (seqeval strict IOB2)")
    return _finish(fig, ax, path, title)


def _finish(fig, ax, path: str | Path, title: str, legend_loc: str = "best") -> Path:
    """The common end of every plot: axis floor, grid, legend, title, save, close."""
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc=legend_loc)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
