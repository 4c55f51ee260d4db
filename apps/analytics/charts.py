"""Server-rendered SVG charts for the staff pages: no script and no CDN needed.

Every chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that summarise
it for screen readers; each bar has its own ``<title>`` (a tooltip) and ``data-value``. The
pages show the same numbers in a data table beside each chart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 16, 40


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]
    css_class: str


def _nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value``."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= value)


def _f(value: float) -> str:
    return f"{value:.2f}"


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def bar_chart_svg(*, chart_id: str, title: str, summary: str, labels: list[str], series: list[Series]) -> SafeString:
    """Stacked bars, one per label, the series stacked bottom-up in the order given."""
    count = max(len(labels), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    slot = plot_w / count
    bar_w = max(slot * 0.8, 0.5)
    parts: list[str] = [
        format_html(
            '<svg id="{}" class="chart" viewBox="0 0 {} {}" width="100%" role="img" aria-labelledby="{}-title {}-desc"'
            ' data-points="{}" xmlns="http://www.w3.org/2000/svg">',
            chart_id,
            WIDTH,
            HEIGHT,
            chart_id,
            chart_id,
            len(labels),
        ),
        format_html('<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>', chart_id, title, chart_id, summary),
    ]
    # axis, gridlines and the scale
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(
            format_html('<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"/>', LEFT, _f(y), WIDTH - RIGHT, _f(y))
        )
        parts.append(
            format_html(
                '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
                LEFT - 6,
                _f(y + 4),
                _number(round(top * fraction, 2)),
            )
        )
    for index, label in enumerate(labels):
        base = TOP + plot_h
        x = LEFT + slot * index + (slot - bar_w) / 2
        for item in series:
            value = item.values[index]
            height = plot_h * value / top if top else 0
            if value:
                parts.append(
                    format_html(
                        '<rect class="{}" x="{}" y="{}" width="{}" height="{}" data-label="{}"'
                        ' data-series="{}" data-value="{}"><title>{}: {} {}</title></rect>',
                        item.css_class,
                        _f(x),
                        _f(base - height),
                        _f(bar_w),
                        _f(height),
                        label,
                        item.name,
                        _number(value),
                        label,
                        _number(value),
                        item.name,
                    )
                )
            base -= height
    step = max(1, count // 6)
    for index in range(0, len(labels), step):
        x = LEFT + slot * index + slot / 2
        parts.append(
            format_html(
                '<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>',
                _f(x),
                HEIGHT - BOTTOM + 16,
                labels[index][5:] if len(labels[index]) == 10 else labels[index],
            )
        )
    if len(series) > 1:
        x = LEFT
        for item in series:
            parts.append(
                format_html('<rect class="{}" x="{}" y="{}" width="10" height="10"/>', item.css_class, x, HEIGHT - 14)
            )
            parts.append(format_html('<text class="legend" x="{}" y="{}">{}</text>', x + 14, HEIGHT - 5, item.name))
            x += 14 + 8 * len(item.name) + 16
    parts.append("</svg>")
    return mark_safe("".join(str(part) for part in parts))  # noqa: S308 (every value above is escaped)


def share_bar_svg(*, chart_id: str, title: str, shares: dict[str, int]) -> SafeString:
    """One horizontal bar split into the sentiment shares (percentages summing to 100)."""
    summary = ", ".join(f"{name} {value}%" for name, value in shares.items())
    width = WIDTH - LEFT - RIGHT
    parts = [
        format_html(
            '<svg id="{}" class="chart chart-share" viewBox="0 0 {} 70" width="100%" role="img"'
            ' aria-labelledby="{}-title {}-desc" data-points="{}" xmlns="http://www.w3.org/2000/svg">',
            chart_id,
            WIDTH,
            chart_id,
            chart_id,
            len(shares),
        ),
        format_html(
            '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>',
            chart_id,
            title,
            chart_id,
            summary or "No messages",
        ),
    ]
    x = float(LEFT)
    if not any(shares.values()):
        parts.append(format_html('<rect class="empty" x="{}" y="8" width="{}" height="28"/>', LEFT, width))
        parts.append(format_html('<text class="legend" x="{}" y="27">No messages in this range</text>', LEFT + 8))
    for name, value in shares.items():
        w = width * value / 100
        if value:
            parts.append(
                format_html(
                    '<rect class="s-{}" x="{}" y="8" width="{}" height="28" data-series="{}" data-value="{}">'
                    "<title>{}: {}%</title></rect>",
                    name,
                    _f(x),
                    _f(w),
                    name,
                    value,
                    name,
                    value,
                )
            )
        x += w
    x = float(LEFT)
    for name, value in shares.items():
        parts.append(format_html('<rect class="s-{}" x="{}" y="48" width="10" height="10"/>', name, _f(x)))
        parts.append(format_html('<text class="legend" x="{}" y="57">{} {}%</text>', _f(x + 14), name, value))
        x += 140
    parts.append("</svg>")
    return mark_safe("".join(str(part) for part in parts))  # noqa: S308 (every value above is escaped)
