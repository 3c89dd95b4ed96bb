"""When to stop annotating: a learning curve fitted and extrapolated, and the stability of successive models.

Inputs are what the service records, one point per model version:

learning curve   [(annotations, validation F1)]          F1 in [0, 1]
stability        [(annotations, agreement)]              share of unlabelled-pool predictions that the version
                                                         and the one before it agree on, in [0, 1]

The curve     F1(n) = a - b * n^(-c)   (an inverse power law; Figueroa et al. 2012, "Predicting sample size
              required for classification performance", BMC Medical Informatics and Decision Making 12:8), fitted
              with 0 <= a <= 1, b >= 0 and c in [C_MIN, C_MAX]: for each c on a grid the model is linear in (a, b),
              solved by weighted least squares with Huber weights (iteratively reweighted), so one noisy version
              does not bend the curve; points are weighted by their annotations, as Figueroa et al. weight the
              larger samples more, because small training sets give the noisiest F1. The c with the smallest
              robust loss wins.
The slope     the Theil-Sen slope (median of pairwise slopes) of the last `window` points: what the recent versions
              actually gained per annotation, whatever the fit says.
Stability     Bloodgood & Vijay-Shanker 2009, "A Method for Stopping Active Learning Based on Stabilizing
              Predictions" (CoNLL): stop once successive models agree on a held-aside unlabelled set at or above a
              threshold (they use Kappa 0.99) for `window` versions in a row.

The rule (`StopRule.judge`) fires for one of two reasons, and in both the curve must say that little is left:

predictions_stable   agreement >= agreement_threshold for the last `window` versions, AND the fitted gain of all
                     the remaining labels is below max_gain_stable, AND the recent slope carried over the last
                     step (the annotations between the last two versions) is below max_gain_stable
curve_flat           the fitted gain of all the remaining labels is below max_gain_flat (stricter: no agreement is
                     needed), AND the recent slope carried over the last step is below it too

"All the remaining labels" is the rest of the pool when its size is known (F1(pool) - F1(n), on the fitted curve),
else everything the curve has left (a - F1(n)): the stop rule is judged against what labelling everything would
reach, which is what the team gives up by stopping. The "next step" of the sentence is `step` times the labels so
far (doubling by default), capped at the rest of the pool.

Defaults (docs/stop-rule.md): the target is "where the rule fires, F1 is within 2 points of the full-pool F1, and
it never fires below 90% of it". The rule judges `remaining_bound`, the most any curve the points allow (a ~90%
profile-likelihood band on c, noise at least NOISE_FLOOR = 1 F1 point) gives the remaining labels, not the best
fit's estimate. max_gain_flat = 1.25 points and max_gain_stable = 2 points were chosen with
`python -m bench.stop_rule --synthetic`: noisy curves (1 point of noise) drawn from the inverse power laws fitted
to the recorded benchmark tracks (and slower and faster ones), replayed to the whole pool. The curve alone then
fires at 30-100% of the pool (mostly 50-80%), the true curve there at most 1.4 points under the full-pool F1
(1.5 points let it fire 2.1 points under it); agreement_threshold = 0.99 over window = 3 versions is Bloodgood &
Vijay-Shanker's Kappa setting; min_versions = 4 because a three-parameter curve needs four points to say
anything about its bend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import InvalidParameterError

__all__ = [
    "CurveFit",
    "StopRule",
    "StopVerdict",
    "fit_learning_curve",
    "recent_slope",
    "C_MIN",
    "C_MAX",
]

C_MIN = 0.05
C_MAX = 3.0
_C_GRID = np.geomspace(C_MIN, C_MAX, 120)
_HUBER_K = 1.345  # Huber's tuning constant (95% efficiency under Gaussian noise)
NOISE_FLOOR = 0.01  # F1 of one version is not known better than about a point (test-set and training noise)
PLAUSIBLE_LOSS = 1.35  # half the 90% quantile of chi-square with one degree of freedom (profile likelihood on c)
_IRLS_STEPS = 20

TOO_FEW = "too_few_versions"
STILL_LEARNING = "still_learning"
PREDICTIONS_STABLE = "predictions_stable"
CURVE_FLAT = "curve_flat"


@dataclass(frozen=True)
class CurveFit:
    """F1(n) = a - b * n^(-c), the best robust fit, with the curves the points cannot tell apart from it.

    `scale` is the noise the fit assumes (F1; the robust residual scale, at least NOISE_FLOOR), `plausible` the
    (a, b, c) of every exponent on the grid whose robust loss is within PLAUSIBLE_LOSS of the best one (a profile
    likelihood interval on c, at about 90%): with few or noisy points it is wide, and `gain_bound` takes the most
    any of them promises, so the rule does not stop on a curve the points merely allow to be flat.
    """

    a: float
    b: float
    c: float
    scale: float
    points: int
    plausible: tuple[tuple[float, float, float], ...] = ()

    def __call__(self, n) -> np.ndarray | float:
        return _curve(self.a, self.b, self.c, n)

    def gain(self, n: float, more: float) -> float:
        """What `more` annotations on top of `n` add, on the best fitted curve (>= 0)."""
        return max(0.0, float(self(n + max(0.0, more))) - float(self(n)))

    def gain_bound(self, n: float, more: float | None = None) -> float:
        """The largest gain any plausible curve gives `more` annotations on top of `n` (None: all it has left)."""
        best = self.gain(n, more) if more is not None else max(0.0, self.a - float(self(n)))
        for a, b, c in self.plausible:
            if more is None:
                g = a - float(_curve(a, b, c, n))
            else:
                g = float(_curve(a, b, c, n + max(0.0, more))) - float(_curve(a, b, c, n))
            best = max(best, g)
        return best

    def as_dict(self) -> dict:
        c_values = [c for _, _, c in self.plausible] or [self.c]
        return {
            "a": round(self.a, 6),
            "b": round(self.b, 6),
            "c": round(self.c, 6),
            "scale": round(self.scale, 6),
            "points": self.points,
            "c_range": [round(min(c_values), 6), round(max(c_values), 6)],
        }


def _curve(a: float, b: float, c: float, n) -> np.ndarray | float:
    x = np.asarray(n, dtype=np.float64)
    value = a - b * np.power(np.maximum(x, 1.0), -c)
    return float(value) if value.ndim == 0 else value


def _points(curve: Sequence[tuple[float, float]], what: str) -> tuple[np.ndarray, np.ndarray]:
    """Finite points, sorted by annotations, annotations > 0; several points at one count keep the latest."""
    by_n: dict[float, float] = {}
    for item in curve:
        if len(item) != 2:
            raise InvalidParameterError(f"{what} points are (annotations, value) pairs, got {item!r}")
        n, y = float(item[0]), float(item[1])
        if math.isfinite(n) and math.isfinite(y) and n > 0:
            by_n[n] = y
    n = np.array(sorted(by_n), dtype=np.float64)
    return n, np.array([by_n[k] for k in n], dtype=np.float64)


def _huber(u: np.ndarray) -> np.ndarray:
    u = np.abs(u)
    return np.where(u <= _HUBER_K, 0.5 * u**2, _HUBER_K * u - 0.5 * _HUBER_K**2)


def _fit_all_c(n: np.ndarray, y: np.ndarray, base_w: np.ndarray, scale: float | None) -> tuple[np.ndarray, ...]:
    """(a, b, loss, scale) per exponent of the grid: Huber IRLS of y = a - b * n^-c under 0 <= a <= 1, b >= 0.

    `scale` None: re-estimated per exponent from its residuals (MAD, at least NOISE_FLOOR) at each step. The loss is
    the weighted Huber loss in F1 units (scale^2 * rho(r / scale)), so exponents with different scales compare.
    """
    x = np.power(n[None, :], -_C_GRID[:, None])  # (C, m)
    yy = np.broadcast_to(y, x.shape)
    w = np.broadcast_to(base_w, x.shape).copy()
    s = np.full(len(_C_GRID), scale if scale is not None else NOISE_FLOOR)
    for _ in range(_IRLS_STEPS):
        sw = w.sum(axis=1)
        mx, my = (w * x).sum(axis=1) / sw, (w * yy).sum(axis=1) / sw
        sxx = (w * (x - mx[:, None]) ** 2).sum(axis=1)
        beta = np.where(
            sxx > 1e-300, (w * (x - mx[:, None]) * (yy - my[:, None])).sum(axis=1) / np.maximum(sxx, 1e-300), 0.0
        )
        a, b = my - beta * mx, -beta
        falling = b < 0  # a falling curve: the best non-decreasing one is flat
        a, b = np.where(falling, my, a), np.where(falling, 0.0, b)
        over = a > 1.0  # F1 cannot pass 1: fix a and refit b alone
        b_fixed = np.maximum(0.0, (w * x * (1.0 - yy)).sum(axis=1) / np.maximum((w * x * x).sum(axis=1), 1e-300))
        a, b = np.where(over, 1.0, a), np.where(over, b_fixed, b)
        under = a < 0.0
        a, b = np.where(under, 0.0, a), np.where(under, 0.0, b)
        r = yy - (a[:, None] - b[:, None] * x)
        if scale is None:
            mad = np.median(np.abs(r - np.median(r, axis=1, keepdims=True)), axis=1) * 1.4826
            s = np.maximum(mad, NOISE_FLOOR)
        u = np.abs(r) / (_HUBER_K * s[:, None])
        new_w = base_w[None, :] * np.where(u <= 1.0, 1.0, 1.0 / np.maximum(u, 1e-12))
        if np.allclose(new_w, w, rtol=1e-6, atol=1e-12):
            break
        w = new_w
    r = yy - (a[:, None] - b[:, None] * x)
    loss = (base_w[None, :] * _huber(r / s[:, None])).sum(axis=1) * s**2
    return a, b, loss, s


def fit_learning_curve(curve: Sequence[tuple[float, float]]) -> CurveFit | None:
    """The constrained, robust inverse-power-law fit of (annotations, F1) points; None below three distinct points.

    Points are weighted by their annotations (normalised to sum to the point count). Pass one finds the best
    exponent with the noise scale estimated from the residuals; pass two fixes that scale (at least NOISE_FLOOR)
    and profiles the loss over every exponent, keeping those within PLAUSIBLE_LOSS (in units of scale^2) of the
    best as `plausible`.
    """
    n, y = _points(curve, "learning-curve")
    if len(n) < 3:
        return None
    base_w = n / n.sum() * len(n)
    _, _, loss, scales = _fit_all_c(n, y, base_w, None)
    scale = float(max(scales[int(np.argmin(loss))], NOISE_FLOOR))
    a, b, loss, _ = _fit_all_c(n, y, base_w, scale)
    k = int(np.argmin(loss))
    keep = loss <= loss[k] + PLAUSIBLE_LOSS * scale**2
    plausible = tuple((float(a[i]), float(b[i]), float(_C_GRID[i])) for i in np.flatnonzero(keep))
    return CurveFit(a=float(a[k]), b=float(b[k]), c=float(_C_GRID[k]), scale=scale, points=len(n), plausible=plausible)


def recent_slope(curve: Sequence[tuple[float, float]], window: int = 3) -> float | None:
    """Theil-Sen slope (F1 per annotation) of the last `window` points; None below two points."""
    n, y = _points(curve, "learning-curve")
    n, y = n[-window:], y[-window:]
    if len(n) < 2:
        return None
    slopes = [(y[j] - y[i]) / (n[j] - n[i]) for i in range(len(n)) for j in range(i + 1, len(n))]
    return float(np.median(slopes))


@dataclass(frozen=True)
class StopVerdict:
    """What the rule says after the latest version: `stop`, why (`reason`), and a sentence for people."""

    stop: bool
    reason: str
    sentence: str
    annotations: float | None = None
    f1: float | None = None
    next_annotations: int | None = None  # N of the sentence: the next step (capped at the rest of the pool)
    next_gain: float | None = None  # X of the sentence, in F1 (0..1), on the fitted curve
    remaining_gain: float | None = None  # what all the remaining labels would add, on the fitted curve
    remaining_bound: float | None = None  # the most any plausible curve gives them: what the rule judges
    slope: float | None = None  # recent Theil-Sen slope, F1 per annotation
    stable_versions: int = 0  # how many of the latest versions in a row have agreement >= the threshold
    versions_needed: int = 0  # versions still needed before the rule can judge
    fit: dict | None = None
    parameters: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _points_word(k: float) -> str:
    return f"{k * 100:.1f} F1 point" + ("" if round(k * 100, 1) == 1.0 else "s")


@dataclass(frozen=True)
class StopRule:
    """Judge a learning curve and the agreement of successive versions: `StopRule().judge(curve, agreement)`.

    min_versions          versions (curve points) before any judgement; fewer: "needs K more versions to judge"
    window                versions in a row that must agree (Bloodgood & Vijay-Shanker's window) and the points of
                          the recent slope
    agreement_threshold   agreement of a version with the one before it that counts as stable
    max_gain_stable       the remaining fitted gain under which stable predictions stop the annotation (F1, 0..1)
    max_gain_flat         the remaining fitted gain under which the curve alone stops it (stricter)
    step                  the sentence's next step, as a multiple of the labels so far (1.0: doubling them)
    """

    min_versions: int = 4
    window: int = 3
    agreement_threshold: float = 0.99
    max_gain_stable: float = 0.02
    max_gain_flat: float = 0.0125
    step: float = 1.0

    def __post_init__(self) -> None:
        if self.min_versions < 3:
            raise InvalidParameterError(f"min_versions must be >= 3 (three curve parameters), got {self.min_versions}")
        if self.window < 2:
            raise InvalidParameterError(f"window must be >= 2, got {self.window}")
        if not 0.0 < self.agreement_threshold <= 1.0:
            raise InvalidParameterError(f"agreement_threshold must be in (0, 1], got {self.agreement_threshold}")
        if not (0.0 < self.max_gain_flat and 0.0 < self.max_gain_stable):
            raise InvalidParameterError("max_gain_flat and max_gain_stable must be > 0")
        if not self.step > 0.0:
            raise InvalidParameterError(f"step must be > 0, got {self.step}")

    def judge(
        self,
        curve: Sequence[tuple[float, float]],
        agreement: Sequence[tuple[float, float]] = (),
        pool_size: int | None = None,
    ) -> StopVerdict:
        """The verdict after the latest version; `pool_size` (labelled + unlabelled tasks) caps the extrapolation."""
        parameters = asdict(self)
        n, y = _points(curve, "learning-curve")
        if len(n) < self.min_versions:
            need = self.min_versions - len(n)
            return StopVerdict(
                stop=False,
                reason=TOO_FEW,
                sentence=f"Too early to tell: the learning curve needs {need} more model version"
                f"{'s' if need != 1 else ''} to judge.",
                annotations=float(n[-1]) if len(n) else None,
                f1=float(y[-1]) if len(y) else None,
                versions_needed=need,
                parameters=parameters,
            )
        points = list(zip(n, y))
        fit = fit_learning_curve(points)
        slope = recent_slope(points, self.window)
        last_n, last_f1 = float(n[-1]), float(y[-1])
        remaining = None if pool_size is None else max(0.0, float(pool_size) - last_n)
        step_n = last_n * self.step if remaining is None else min(last_n * self.step, remaining)
        next_n = int(round(step_n))
        next_gain = fit.gain(last_n, step_n)
        remaining_gain = fit.gain(last_n, remaining) if remaining is not None else max(0.0, fit.a - fit(last_n))
        bound = fit.gain_bound(last_n, remaining)
        last_step = float(n[-1] - n[-2])
        slope_gain = max(0.0, (slope or 0.0) * last_step)
        stable = _stable_run([p for p in agreement if float(p[0]) <= last_n], self.agreement_threshold)

        common = dict(
            annotations=last_n,
            f1=last_f1,
            next_annotations=next_n,
            next_gain=next_gain,
            remaining_gain=remaining_gain,
            remaining_bound=bound,
            slope=slope,
            stable_versions=stable,
            fit=fit.as_dict(),
            parameters=parameters,
        )
        left = "the rest of the pool" if remaining is not None else "any number of further labels"
        if stable >= self.window and bound < self.max_gain_stable and slope_gain < self.max_gain_stable:
            return StopVerdict(
                stop=True,
                reason=PREDICTIONS_STABLE,
                sentence="Predictions have stopped changing: further labels add little "
                f"({stable} versions in a row agree on at least {self.agreement_threshold:.0%} of the pool; "
                f"{left} would add about {_points_word(remaining_gain)}).",
                **common,
            )
        if bound < self.max_gain_flat and slope_gain < self.max_gain_flat:
            return StopVerdict(
                stop=True,
                reason=CURVE_FLAT,
                sentence="The learning curve has flattened: further labels add little "
                f"(about {next_n} more annotations would add about {_points_word(next_gain)}; "
                f"{left} about {_points_word(remaining_gain)}).",
                **common,
            )
        if next_n <= 0:
            sentence = "Every task of the pool is labelled."
        else:
            sentence = f"About {next_n} more annotations would add about {_points_word(next_gain)}."
        return StopVerdict(stop=False, reason=STILL_LEARNING, sentence=sentence, **common)


def _stable_run(agreement: Sequence[tuple[float, float]], threshold: float) -> int:
    """How many of the latest versions in a row agree with their predecessor at or above `threshold`."""
    _, values = _points(agreement, "agreement")
    run = 0
    for value in values[::-1]:
        if value < threshold:
            break
        run += 1
    return run
