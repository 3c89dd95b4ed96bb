"""Learning-curve measures and paired comparisons across seeds. Pure (numpy only).

AULC        area under F1(x) divided by the x range (trapezoids): the mean F1 over the budget
paired      per seed, arm minus baseline on the same seed (same pool, same test set); mean and a 95% Student-t
            interval over seeds, so "above zero" means the difference is larger than the seed-to-seed noise
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

# two-sided 95% quantiles of Student's t for 1..30 degrees of freedom; beyond that 1.96 is close enough
_T975 = [
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
]


def t975(df: int) -> float:
    return _T975[df - 1] if 1 <= df <= len(_T975) else 1.96


def normalised_aulc(
    x: Sequence[float], y: Sequence[float], low: float | None = None, high: float | None = None
) -> float:
    """Mean F1 over [low, high] (default: the curve's own x range), F1 interpolated linearly between points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) == 0:
        return float("nan")
    low = x[0] if low is None else low
    high = x[-1] if high is None else high
    if high <= low:
        return float(np.interp(low, x, y))
    grid = np.union1d(x[(x > low) & (x < high)], [low, high])
    values = np.interp(grid, x, y)
    return float(np.sum((grid[1:] - grid[:-1]) * (values[1:] + values[:-1]) / 2) / (high - low))


def first_reaching(x: Sequence[float], y: Sequence[float], target: float) -> float | None:
    """Smallest x whose y reaches `target`, or None."""
    for xi, yi in zip(x, y):
        if yi >= target:
            return float(xi)
    return None


def paired(differences: Sequence[float]) -> dict:
    """Mean of per-seed differences with its 95% t-interval (no interval from a single seed)."""
    d = np.asarray([v for v in differences if not math.isnan(v)], float)
    n = len(d)
    if n == 0:
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan"), "seeds": 0}
    mean = float(d.mean())
    if n == 1:
        return {"mean": mean, "low": float("nan"), "high": float("nan"), "seeds": 1}
    half = t975(n - 1) * float(d.std(ddof=1)) / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "seeds": n}


def agreement(previous: Sequence[Sequence[str]], current: Sequence[Sequence[str]]) -> float:
    """Share of texts whose decoded tag sequences are identical (1.0 for an empty pool)."""
    if len(previous) != len(current):
        raise ValueError("agreement needs the same texts from both models")
    if not previous:
        return 1.0
    return sum(list(a) == list(b) for a, b in zip(previous, current)) / len(previous)
