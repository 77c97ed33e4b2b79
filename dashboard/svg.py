"""Charts drawn on the server as inline SVG: a page reads without JavaScript, and a chart
is a few hundred bytes of markup, not a library."""

from __future__ import annotations

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
