"""Charts drawn on the server as inline SVG: a page reads without JavaScript, and a chart
is a few hundred bytes of markup, not a library."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape


def sparkline(values: list[float], label: str, width: int = 96, height: int = 24) -> Markup:
    """A line over ``values`` (oldest first) with a dot on the last; ``label`` is what a
    screen reader says instead of the drawing."""
    pad = 2.0
    top = max(values) if values else 0.0
    n = len(values)
    if n == 0:
        points: list[tuple[float, float]] = []
    else:
        step = (width - 2 * pad) / max(n - 1, 1)
        span = height - 2 * pad
        points = [
            (pad + i * step, height - pad - (v / top * span if top > 0 else 0.0))
            for i, v in enumerate(values)
        ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dot = (
        f'<circle cx="{points[-1][0]:.1f}" cy="{points[-1][1]:.1f}" r="2" class="spark-dot"/>'
        if points
        else ""
    )
    return Markup(
        f'<svg class="spark" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(label)}</title>'
        f'<polyline fill="none" class="spark-line" points="{path}"/>{dot}</svg>'
    )


def meter(fraction: float | None, label: str, width: int = 80, height: int = 10) -> Markup:
    """A bar filled to ``fraction`` (capped at 1), red past it; nothing for no budget."""
    if fraction is None:
        return Markup('<span class="muted">no budget</span>')
    filled = max(0.0, min(fraction, 1.0)) * width
    cls = "over" if fraction >= 1 else "warn" if fraction >= 0.75 else "ok"
    return Markup(
        f'<svg class="meter" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(label)}</title>'
        f'<rect width="{width}" height="{height}" class="meter-bg"/>'
        f'<rect width="{filled:.1f}" height="{height}" class="meter-{cls}"/></svg>'
    )


PALETTE = ("#0b5cad", "#b34700", "#1e6b2f", "#7a3e9d", "#8a6d00", "#a11a1a", "#4d4d4d")
"""Series colours: each at least 4.5:1 against white (so also against the page), told
apart by hue and by the white gap drawn between stacked segments."""


def _step(top: float, ticks: int = 4) -> float:
    """The gridline step: the smallest 1, 2, 2.5 or 5 times a power of ten that ``ticks``
    steps reach ``top`` with, so every label is a round figure."""
    if top <= 0:
        return 0.25
    scale = 10.0 ** math.floor(math.log10(top / ticks))
    return next(m * scale for m in (1, 2, 2.5, 5, 10) if m * scale * ticks >= top * (1 - 1e-9))


def dollars(value: float, step: float) -> str:
    """``value`` with as many decimals as ``step`` needs, at least two."""
    places = 2
    if step > 0:
        power = math.floor(math.log10(step))
        halves = round(step / 10.0**power, 6) == 2.5  # 0.025 needs one place more than 0.02
        places = max(2, -power + halves)
    return f"${value:,.{places}f}"


def stacked_bars(
    days: list[str], series: Sequence[Any], label: str, width: int = 720, height: int = 220
) -> Markup:
    """A bar per day, its segments the ``series`` (objects with ``key``, ``colour`` and
    ``daily``, bottom first), a dollar axis with four gridlines and every few dates under
    it. ``label`` is the chart's title for a screen reader; the page gives the numbers in
    a table as well."""
    left, right, top_pad, bottom = 60.0, 8.0, 8.0, 22.0
    n = max(len(days), 1)
    totals = [sum(s.daily[i] for s in series) for i in range(len(days))]
    step = _step(max(totals, default=0.0))
    top = step * 4
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    slot = plot_w / n
    bar = max(1.0, slot * 0.7)
    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(label)}</title>'
    ]
    for k in range(5):
        value = step * k
        y = top_pad + plot_h - plot_h * k / 4
        parts.append(
            f'<line x1="{left:.0f}" x2="{width - right:.0f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'class="grid"/><text x="{left - 6:.0f}" y="{y + 4:.1f}" text-anchor="end" '
            f'class="axis">{dollars(value, step)}</text>'
        )
    every = max(1, math.ceil(n / 8))
    for i, day in enumerate(days):
        x = left + i * slot + (slot - bar) / 2
        base = top_pad + plot_h
        for s in series:
            v = s.daily[i]
            if v <= 0:
                continue
            h = plot_h * v / top
            base -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{s.colour}" stroke="#fff" stroke-width="1"/>'
            )
        if (n - 1 - i) % every == 0:  # the last day always labelled
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 6:.0f}" text-anchor="middle" '
                f'class="axis">{escape(day[5:])}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def swatch(colour: str) -> Markup:
    """The legend's square in a series' colour (an attribute, not a style: the pages'
    content security policy allows no inline styles)."""
    return Markup(
        f'<svg class="swatch" width="12" height="12" aria-hidden="true">'
        f'<rect width="12" height="12" fill="{escape(colour)}"/></svg>'
    )
