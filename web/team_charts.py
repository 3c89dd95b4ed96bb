"""Chart geometry for the team page, drawn on the server as inline SVG (no script, no chart library, no CDN).

Pure: numbers in, coordinates out; the template (web/templates/team/_charts.html) draws them and escapes all text.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 30


@dataclass(frozen=True)
class Tick:
    at: float  # pixel position along its axis
    label: str


@dataclass(frozen=True)
class Series:
    name: str
    points: str  # "x,y x,y ..." for <polyline>
    dots: list[tuple[float, float, str]]  # (x, y, title) per point


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    series: list[Series]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    x_label: str
    y_label: str


def _ticks(low: float, high: float, count: int, to_pixel, fmt) -> list[Tick]:
    if high <= low:
        return [Tick(to_pixel(low), fmt(low))]
    step = (high - low) / (count - 1)
    ticks = [Tick(to_pixel(low + i * step), fmt(low + i * step)) for i in range(count)]
    return [t for i, t in enumerate(ticks) if i == 0 or t.label != ticks[i - 1].label]  # a short range rounds alike


def line_chart(
    series: dict[str, list[tuple[float, float, str]]], x_label: str, y_label: str, y_range=(0.0, 1.0)
) -> Chart | None:
    """Lines of (x, y, title) points over a shared x axis (annotations) and y in `y_range` (F1, rates); None when
    there is nothing to draw."""
    xs = [x for points in series.values() for x, y, _ in points if y is not None]
    if not xs:
        return None
    x_low, x_high = min(xs), max(xs)
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    y_low, y_high = y_range
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return round(LEFT + (x - x_low) / (x_high - x_low) * plot_w, 1)

    def py(y: float) -> float:
        y = min(max(y, y_low), y_high)
        return round(TOP + (1 - (y - y_low) / (y_high - y_low)) * plot_h, 1)

    drawn = []
    for name, points in series.items():
        kept = [(px(x), py(y), title) for x, y, title in points if y is not None]
        drawn.append(Series(name, " ".join(f"{x},{y}" for x, y, _ in kept), kept))
    return Chart(
        WIDTH,
        HEIGHT,
        LEFT,
        TOP,
        WIDTH - RIGHT,
        HEIGHT - BOTTOM,
        drawn,
        _ticks(x_low, x_high, 5, px, lambda v: f"{v:,.0f}"),
        _ticks(y_low, y_high, 5, py, lambda v: f"{v:.2f}"),
        x_label,
        y_label,
    )


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    x_label: str
    y_label: str


def bar_chart(bars: list[tuple[str, float]], x_label: str, y_label: str) -> BarChart | None:
    """Vertical bars (label, count) from 0 to the largest count; None when there are none."""
    if not bars:
        return None
    top_value = max(v for _, v in bars) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(bars)

    def py(v: float) -> float:
        return round(TOP + (1 - v / top_value) * plot_h, 1)

    drawn = [
        Bar(
            round(LEFT + i * slot + 1, 1),
            py(v),
            round(min(max(1.0, slot - 2), 80.0), 1),
            round(HEIGHT - BOTTOM - py(v), 1),
            f"{label}: {v:g}",
        )
        for i, (label, v) in enumerate(bars)
    ]
    every = max(1, len(bars) // 5)
    x_ticks = [Tick(round(LEFT + (i + 0.5) * slot, 1), label) for i, (label, _) in enumerate(bars) if i % every == 0]
    return BarChart(
        WIDTH,
        HEIGHT,
        LEFT,
        TOP,
        WIDTH - RIGHT,
        HEIGHT - BOTTOM,
        drawn,
        _ticks(0, top_value, 5, py, lambda v: f"{v:,.0f}"),
        x_ticks,
        x_label,
        y_label,
    )
