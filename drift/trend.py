"""Values across runs as one inline SVG line chart: time on x, one line per series."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

PALETTE = (
    "#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2",
    "#B279A2", "#EECA3B", "#FF9DA6", "#9D755D", "#BAB0AC",
)  # fmt: skip
"""Colours of the lines in turn; past ten, they repeat dashed."""

MAX_MARKERS = 120
"""Past this many runs, points get no marker: the line alone reads better and weighs less."""


@dataclass(frozen=True)
class Series:
    """One line: a value per run (``None`` where the run has none)."""

    name: str
    values: list[float | None]
    colour: str
    width: float = 1.5
    dashed: bool = False


@dataclass(frozen=True)
class Guide:
    """A horizontal reference line, such as a threshold."""

    value: float
    label: str


def series_style(index: int) -> tuple[str, bool]:
    """The colour of the ``index``-th line, and whether it is dashed (past the palette)."""
    return PALETTE[index % len(PALETTE)], index >= len(PALETTE)


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = max(span, 1e-9) / ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _y_range(values: list[float], floor: float | None) -> tuple[float, float, float]:
    low = min(values) if floor is None else min([floor, *values])
    high = max(values)
    if high - low < 1e-9:
        low, high = low - 0.05, high + 0.05
    step = _nice_step(high - low)
    return step * math.floor(low / step), step * math.ceil(high / step), step


def _stamp(moment: datetime, span_s: float) -> str:
    # As precise as the span needs: seconds for runs minutes apart, the date alone past days.
    if span_s <= 600:
        pattern = "%H:%M:%S"
    elif span_s <= 2 * 86400:
        pattern = "%m-%d %H:%M"
    else:
        pattern = "%Y-%m-%d"
    return moment.astimezone(UTC).strftime(pattern)


def line_chart(
    times: list[datetime],
    series: list[Series],
    y_title: str,
    guides: list[Guide] | None = None,
    y_floor: float | None = 0.0,
    label: str = "",
) -> str:
    """An inline SVG with a line per series over ``times`` (one value per run and series)."""
    guides = guides or []
    width, height, left, right, top, bottom = 1040, 300, 62, 16, 14, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in series for v in s.values if v is not None] + [g.value for g in guides]
    low, high, step = _y_range(values or [0.0, 1.0], y_floor)
    start, end = (min(times), max(times)) if times else (datetime.now(UTC),) * 2
    span_s = (end - start).total_seconds()

    def x_at(moment: datetime) -> float:
        if span_s <= 0:
            return left + plot_w / 2
        return left + (moment - start).total_seconds() / span_s * plot_w

    def y_at(value: float) -> float:
        return top + plot_h - (value - low) / (high - low) * plot_h

    parts = [
        f'<svg class="trend" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(label or y_title)}">'
    ]
    for i in range(round((high - low) / step) + 1):
        value = low + i * step
        y = y_at(value)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{"#8c959f" if i == 0 else "#eaeef2"}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#57606a">{value:.3g}</text>'
        )
    tick_count = 1 if span_s <= 0 else 6
    for i in range(tick_count):
        moment = start + (end - start) * (i / max(tick_count - 1, 1))
        x = x_at(moment)
        # The outer labels align inwards so that neither is cut off at the edge.
        anchor = "middle"
        if tick_count > 1 and i in (0, tick_count - 1):
            anchor = "start" if i == 0 else "end"
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" '
            f'stroke="#8c959f"/><text x="{x:.1f}" y="{top + plot_h + 17}" font-size="11" '
            f'fill="#424a53" text-anchor="{anchor}">{_stamp(moment, span_s)} UTC</text>'
        )
    for guide in guides:
        y = y_at(guide.value)
        parts.append(
            f'<g class="guide"><line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#8c959f" stroke-dasharray="6 4"/><text x="{left + plot_w - 4}" '
            f'y="{y - 4:.1f}" font-size="11" fill="#57606a" text-anchor="end">'
            f"{escape(guide.label)}</text></g>"
        )
    markers = len(times) <= MAX_MARKERS
    for line in series:
        parts.append(_series(line, times, x_at, y_at, markers))
    parts.append(
        f'<text x="14" y="{top + plot_h / 2:.1f}" font-size="12" fill="#1f2328" '
        f'text-anchor="middle" transform="rotate(-90 14 {top + plot_h / 2:.1f})">'
        f"{escape(y_title)}</text></svg>"
    )
    return "".join(parts)


def _series(
    line: Series,
    times: list[datetime],
    x_at: Callable[[datetime], float],
    y_at: Callable[[float], float],
    markers: bool,
) -> str:
    dash = ' stroke-dasharray="5 3"' if line.dashed else ""
    runs: list[list[str]] = [[]]
    dots = []
    for moment, value in zip(times, line.values, strict=True):
        if value is None:
            runs.append([])  # a run without the value breaks the line rather than bridging it
            continue
        x, y = x_at(moment), y_at(value)
        runs[-1].append(f"{x:.1f},{y:.1f}")
        if markers or len(runs[-1]) == 1:
            when = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
            dots.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{line.width + 1:.1f}" fill="{line.colour}">'
                f"<title>{escape(line.name)} {when}: {value:.3f}</title></circle>"
            )
    polylines = "".join(
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{line.colour}" '
        f'stroke-width="{line.width}"{dash}/>'
        for points in runs
        if len(points) > 1
    )
    return (
        f'<g class="series" data-name="{escape(line.name)}"><title>{escape(line.name)}</title>'
        f"{polylines}{''.join(dots)}</g>"
    )


def legend(series: list[Series]) -> str:
    """The chart's key as HTML: a swatch and a name per series."""
    items = "".join(
        f'<span class="key"><i style="background:{s.colour}'
        f'{";opacity:.6" if s.dashed else ""}"></i>{escape(s.name)}</span>'
        for s in series
    )
    return f'<div class="legend">{items}</div>'
