"""Charts as inline SVG, drawn on the server: no JavaScript, nothing to
download, and allowed by a ``default-src 'self'`` Content-Security-Policy
(presentation attributes only, no ``style=``). Every bar carries a
``<title>``, which browsers show on hover and screen readers read."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 12, 28


def bar_chart(points: list[tuple[datetime, float, float]], *, unit: str, title: str,
              fmt: Callable[[float], str], highlight_name: str = "", whole: bool = False) -> Markup:
    """Bars per bucket: (time, value, highlighted part of the value, e.g. errors).
    ``whole``: the values are counts, so every axis label is a whole number."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = 4 * _nice_step(max((v for _, v, _ in points), default=0.0) / 4, whole)
    n = max(len(points), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.75, 1.0)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg" data-points="{sum(1 for _, v, _ in points if v)}">',
             f'<title>{escape(title)}</title>']
    for i in range(5):  # grid lines and y labels
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{escape(fmt(value))}</text>')
    every = max(1, -(-n // 8))  # at most ~8 x labels
    for i, (at, value, part) in enumerate(points):
        x = LEFT + i * slot + (slot - bar_w) / 2
        h = plot_h * value / top if top else 0.0
        label = at.strftime("%m-%d %H:00" if unit == "hour" else "%Y-%m-%d")
        tip = f"{label}: {fmt(value)}" + (f" ({fmt(part)} {highlight_name})" if part else "")
        if value:
            parts.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                         f'class="bar"><title>{escape(tip)}</title></rect>')
        if part:
            ph = plot_h * part / top if top else 0.0
            parts.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - ph:.1f}" width="{bar_w:.1f}" height="{ph:.1f}" '
                         f'class="bar-part"><title>{escape(tip)}</title></rect>')
        if i % every == 0:
            tick = at.strftime("%H:00" if unit == "hour" else "%m-%d")
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" class="axis">'
                         f'{escape(tick)}</text>')
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" class="baseline"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _nice_step(value: float, whole: bool) -> float:
    """A round grid step at or above value: 1, 2, 2.5 or 5 x 10^k (counts: 1, 2, 3 or 5 x 10^k, at least 1)."""
    if value <= 0:
        return 1.0 if whole else 0.25
    magnitude = 1.0
    while magnitude > value:
        magnitude /= 10
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in ((1, 2, 3, 5, 10) if whole else (1, 2, 2.5, 5, 10)):
        if whole and step * magnitude < 1:
            continue
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude
