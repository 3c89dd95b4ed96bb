"""What a task costs an annotator, so selection can rank uncertainty per second instead of per task.

c(x) = a + b * words(x)        fitted by least squares (a, b >= 0) on (words, lead_time) pairs that Label Studio
                               sends with annotations made in its labelling view (Settles et al. 2008,
                               "Active learning with real annotation costs": time grows with length, plus a
                               fixed cost per task)
rank = U(x) / c(x)             with U a "sum" reduction, this is uncertainty per second of annotation
Until MIN_TIMED annotations carry a lead time, c(x) = words(x) (a = 0, b = 1): token counts stand in for time.
Lead times above OUTLIER_FACTOR x their median (an annotator who left the tab open) are clipped to that bound, and
points whose residual exceeds RESIDUAL_FACTOR x the median residual are dropped before a second fit.

seconds(x) = per_text + per_token * tokens(x) + per_entity * entities(x)
                               the annotator-time model the label-efficiency benchmark prices labelled sets with
                               (`AnnotationTime`); `fit_annotation_time` fits it the same robust way on lead times
                               whose annotations are known (entities = regions the annotator drew), by
                               non-negative least squares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidParameterError

__all__ = [
    "AnnotationTime",
    "CostModel",
    "MIN_TIMED",
    "TOKEN_COUNT",
    "cost_adjusted",
    "fit_annotation_time",
    "fit_cost",
]

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
    a, b = _robust_fit(x[:, None], y, lambda f, t: _nonnegative_line(f[:, 0], t), min_timed)
    if a + b * x.min() <= 0:  # degenerate data (all zero after clipping cannot happen; be safe anyway)
        return TOKEN_COUNT
    return CostModel(float(a), float(b), f"lead times of {x.shape[0]} annotations", int(x.shape[0]))


def _robust_fit(features: np.ndarray, y: np.ndarray, solve, min_timed: int) -> tuple[float, ...]:
    """Coefficients (intercept first) of `solve(features, y)` after clipping lead times at OUTLIER_FACTOR x their
    median, refitted once without the points whose residual exceeds RESIDUAL_FACTOR x the median residual."""
    y = np.minimum(y, OUTLIER_FACTOR * np.median(y))
    coefficients = solve(features, y)
    residual = np.abs(y - (coefficients[0] + features @ np.asarray(coefficients[1:])))
    inliers = residual <= RESIDUAL_FACTOR * np.median(residual) + 1e-9
    if min_timed <= inliers.sum() < y.shape[0]:  # refit without the points the first fit could not explain
        coefficients = solve(features[inliers], y[inliers])
    return tuple(coefficients)


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


@dataclass(frozen=True)
class AnnotationTime:
    """Estimated annotator seconds: per_text + per_token * tokens + per_entity * entities.

    Linear, so it prices one text or a whole labelled set alike (texts = how many, tokens and entities = totals)."""

    per_text: float
    per_token: float
    per_entity: float
    source: str
    observations: int = 0

    def __call__(self, texts, tokens, entities) -> np.ndarray:
        return (
            self.per_text * np.asarray(texts, dtype=np.float64)
            + self.per_token * np.asarray(tokens, dtype=np.float64)
            + self.per_entity * np.asarray(entities, dtype=np.float64)
        )

    def scaled(self, per_text: float = 1.0, per_token: float = 1.0, per_entity: float = 1.0) -> AnnotationTime:
        """The same model with each coefficient multiplied (a sensitivity corner)."""
        return AnnotationTime(
            self.per_text * per_text,
            self.per_token * per_token,
            self.per_entity * per_entity,
            f"{self.source} x({per_text:g}, {per_token:g}, {per_entity:g})",
            self.observations,
        )

    def as_dict(self) -> dict:
        return {
            "per_text": round(self.per_text, 4),
            "per_token": round(self.per_token, 4),
            "per_entity": round(self.per_entity, 4),
            "source": self.source,
            "observations": self.observations,
        }


def fit_annotation_time(tokens, entities, seconds, min_timed: int = MIN_TIMED) -> AnnotationTime | None:
    """per_text, per_token, per_entity >= 0 by non-negative least squares on the valid texts (tokens > 0,
    entities >= 0, seconds > 0, all finite), with fit_cost's clipping and refit; None below `min_timed` texts."""
    from scipy.optimize import nnls

    t = np.asarray(tokens, dtype=np.float64).reshape(-1)
    e = np.asarray(entities, dtype=np.float64).reshape(-1)
    y = np.asarray(seconds, dtype=np.float64).reshape(-1)
    if not t.shape == e.shape == y.shape:
        raise InvalidParameterError(f"{t.shape[0]} token counts, {e.shape[0]} entity counts, {y.shape[0]} lead times")
    keep = np.isfinite(t) & np.isfinite(e) & np.isfinite(y) & (t > 0) & (e >= 0) & (y > 0)
    t, e, y = t[keep], e[keep], y[keep]
    if t.shape[0] < min_timed:
        return None

    def solve(features: np.ndarray, target: np.ndarray) -> tuple[float, ...]:
        design = np.column_stack([np.ones(features.shape[0]), features])
        return tuple(float(c) for c in nnls(design, target)[0])

    per_text, per_token, per_entity = _robust_fit(np.column_stack([t, e]), y, solve, min_timed)
    return AnnotationTime(per_text, per_token, per_entity, f"lead times of {t.shape[0]} annotations", int(t.shape[0]))
