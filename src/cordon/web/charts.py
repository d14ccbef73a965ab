"""Charts as inline SVG, rendered on the server: no script, no library in the browser.

Each function returns markup ready to put in a template (`{{ bar_chart(...) }}`); every text
that comes from data is escaped. Charts carry a title and a description for screen readers,
and pages should show the same numbers in a table or list next to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

# Colours of the stylesheet (static/cordon.css), readable on white (contrast >= 4.5:1).
INK = "#1f2933"
ACCENT = "#1d5fa8"
MUTED = "#52606d"
GRID = "#d9e2ec"


def _pairs(data: Mapping[str, float] | Iterable[tuple[Any, float]]) -> list[tuple[str, float]]:
    items = data.items() if isinstance(data, Mapping) else data
    return [(str(label), float(value)) for label, value in items]


def _fmt(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.2f}"


def bar_chart(data: Mapping[str, float] | Iterable[tuple[Any, float]], title: str,
              width: int = 360, limit: int = 12) -> Markup:
    """Horizontal bars, largest first (at most `limit`; the rest summed as "other")."""
    pairs = sorted(_pairs(data), key=lambda p: -p[1])
    if len(pairs) > limit:
        rest = sum(v for _, v in pairs[limit - 1:])
        pairs = [*pairs[: limit - 1], ("other", rest)]
    row, label_w, value_w = 22, 150, 50
    height = max(1, len(pairs)) * row + 10
    top = max((v for _, v in pairs), default=0) or 1
    bar_space = width - label_w - value_w
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        # str() first: a str added to Markup is escaped, which turned <desc> into text.
        "<desc>" + str(escape("; ".join(f"{label}: {_fmt(v)}" for label, v in pairs)
                              or "no data")) + "</desc>",
    ]
    if not pairs:
        parts.append(f'<text x="4" y="16" fill="{MUTED}" font-size="13">no data yet</text>')
    for i, (label, value) in enumerate(pairs):
        y = 5 + i * row
        shown = label if len(label) <= 20 else label[:19] + "…"
        bar = max(1.0, bar_space * value / top) if value > 0 else 0
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" fill="{INK}" '
                     f'font-size="12">{escape(shown)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{bar:.1f}" height="{row - 8}" '
                     f'fill="{ACCENT}"/>')
        parts.append(f'<text x="{label_w + bar + 4:.1f}" y="{y + 15}" fill="{INK}" '
                     f'font-size="12">{_fmt(value)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def time_chart(points: Sequence[tuple[Any, float]], title: str, unit: str = "",
               width: int = 400, height: int = 170) -> Markup:
    """A line over time (or any ordered labels): `points` are (label, value) in order,
    e.g. ("2026-11", 120) or (a datetime, 3.5). The first and last labels are written
    under the axis; the largest value at its top."""
    pairs = [(label if isinstance(label, str) else _label(label), float(v))
             for label, v in points]
    left, right, top_pad, bottom = 48, 10, 12, 26
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    high = max((v for _, v in pairs), default=0) or 1
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        "<desc>" + str(escape("; ".join(f"{label}: {_fmt(v)}{unit}" for label, v in pairs)
                              or "no data")) + "</desc>",
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" '
        f'y2="{top_pad + plot_h}" stroke="{GRID}"/>',
        f'<line x1="{left}" y1="{top_pad}" x2="{left + plot_w}" y2="{top_pad}" '
        f'stroke="{GRID}"/>',
        f'<text x="{left - 4}" y="{top_pad + 4}" text-anchor="end" fill="{MUTED}" '
        f'font-size="11">{_fmt(high)}{escape(unit)}</text>',
        f'<text x="{left - 4}" y="{top_pad + plot_h + 4}" text-anchor="end" fill="{MUTED}" '
        f'font-size="11">0</text>',
    ]
    if not pairs:
        parts.append(f'<text x="{left + 8}" y="{top_pad + plot_h / 2}" fill="{MUTED}" '
                     f'font-size="13">no data yet</text>')
    else:
        step = plot_w / max(1, len(pairs) - 1)
        coords = [(left + (i * step if len(pairs) > 1 else plot_w / 2),
                   top_pad + plot_h - plot_h * v / high) for i, (_, v) in enumerate(pairs)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{ACCENT}" '
                     f'stroke-width="2"/>')
        for x, y in coords if len(coords) <= 60 else []:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{ACCENT}"/>')
        first, last = pairs[0][0], pairs[-1][0]
        base = top_pad + plot_h + 16
        parts.append(f'<text x="{left}" y="{base}" fill="{MUTED}" font-size="11">'
                     f"{escape(first)}</text>")
        if len(pairs) > 1:
            parts.append(f'<text x="{left + plot_w}" y="{base}" text-anchor="end" '
                         f'fill="{MUTED}" font-size="11">{escape(last)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _label(value: Any) -> str:
    strftime = getattr(value, "strftime", None)
    return str(strftime("%Y-%m-%d %H:%M")) if strftime else str(value)
