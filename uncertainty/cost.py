"""What a task costs an annotator, so selection can rank uncertainty per second instead of per task.

c(x) = a + b * words(x)        fitted by least squares (a, b >= 0) on (words, lead_time) pairs that Label Studio
                               sends with annotations made in its labelling view (Settles et al. 2008,
                               "Active learning with real annotation costs": time grows with length, plus a
                               fixed cost per task)
rank = U(x) / c(x)             with U a "sum" reduction, this is uncertainty per second of annotation
Until MIN_TIMED annotations carry a lead time, c(x) = words(x) (a = 0, b = 1): token counts stand in for time.
Lead times above OUTLIER_FACTOR x their median (an annotator who left the tab open) are clipped to that bound, and
points whose residual exceeds RESIDUAL_FACTOR x the median residual are dropped before a second fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidParameterError

__all__ = ["CostModel", "MIN_TIMED", "TOKEN_COUNT", "fit_cost", "cost_adjusted"]

MIN_TIMED = 20
OUTLIER_FACTOR = 10.0
RESIDUAL_FACTOR = 5.0


@dataclass(frozen=True)
class CostModel:
    """c(x) = a + b * words(x); `source` says where the numbers come from, for /select_samples' answer."""

    a: float
    b: float
    source: str
    observations: int = 0

    def __call__(self, words: np.ndarray) -> np.ndarray:
        return self.a + self.b * np.asarray(words, dtype=np.float64)

    def as_dict(self) -> dict:
        return {"a": round(self.a, 4), "b": round(self.b, 4), "source": self.source, "observations": self.observations}


TOKEN_COUNT = CostModel(0.0, 1.0, "token count (too few timed annotations)")


def fit_cost(words, seconds, min_timed: int = MIN_TIMED) -> CostModel:
    """Least-squares a, b >= 0 on the valid (words > 0, seconds > 0, finite) pairs; TOKEN_COUNT below `min_timed`."""
    x = np.asarray(words, dtype=np.float64).reshape(-1)
    y = np.asarray(seconds, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise InvalidParameterError(f"{x.shape[0]} word counts but {y.shape[0]} lead times")
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[keep], y[keep]
    if x.shape[0] < min_timed:
        return TOKEN_COUNT
    y = np.minimum(y, OUTLIER_FACTOR * np.median(y))
    a, b = _nonnegative_line(x, y)
    residual = np.abs(y - (a + b * x))
    inliers = residual <= RESIDUAL_FACTOR * np.median(residual) + 1e-9
    if min_timed <= inliers.sum() < x.shape[0]:  # refit without the points the first line could not explain
        a, b = _nonnegative_line(x[inliers], y[inliers])
    if a + b * x.min() <= 0:  # degenerate data (all zero after clipping cannot happen; be safe anyway)
        return TOKEN_COUNT
    return CostModel(float(a), float(b), f"lead times of {x.shape[0]} annotations", int(x.shape[0]))


def _nonnegative_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Ordinary least squares; when a coefficient comes out negative, the best fit with it held at 0."""
    if np.ptp(x) > 0:
        b, a = np.polyfit(x, y, 1)
        if a >= 0 and b >= 0:
            return float(a), float(b)
    through_origin = float((x * y).sum() / (x * x).sum())
    constant = float(y.mean())
    if np.ptp(x) == 0:
        return constant, 0.0
    # the better of the two one-parameter fits
    err_b = float(((y - through_origin * x) ** 2).sum())
    err_a = float(((y - constant) ** 2).sum())
    return (0.0, through_origin) if err_b <= err_a else (constant, 0.0)


def cost_adjusted(uncertainties, words, model: CostModel) -> np.ndarray:
    """U / c per text; an empty text (no words) keeps U = 0."""
    u = np.asarray(uncertainties, dtype=np.float64)
    cost = model(words)
    return np.divide(u, cost, out=np.zeros_like(u), where=cost > 0)
