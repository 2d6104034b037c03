"""Charts drawn on the server as SVG: no chart library, nothing to vendor, and the colours
come from the console's CSS variables (`static/console/dashboard.css`), so dark mode reads
as well as light. Text in a chart is only numbers and dates we format ourselves, escaped."""

from collections.abc import Callable
from datetime import datetime

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 14, 26


def _nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value` (axis top)."""
    if value <= 0:
        return 1
    power = 1
    while power * 10 <= value:
        power *= 10
    while power > value:
        power /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _points(values: list[float], top: float) -> str:
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max(len(values) - 1, 1)
    return " ".join(
        f"{LEFT + inner_w * i / count:.1f},{TOP + inner_h * (1 - v / top):.1f}"
        for i, v in enumerate(values)
    )


def line_chart(
    *,
    title: str,
    buckets: list[datetime],
    current: list[float],
    previous: list[float],
    fmt: Callable[[float], str],
    hourly: bool,
) -> SafeString:
    """This period as a solid line, the previous one dashed, three value ticks, three dates."""
    top = _nice_max(max([*current, *previous, 0]))
    inner_h = HEIGHT - TOP - BOTTOM
    parts = [
        format_html(
            '<svg class="dash-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
            'preserveAspectRatio="none">',
            WIDTH,
            HEIGHT,
            title,
        )  # fmt: skip
    ]
    for fraction in (0, 0.5, 1):
        y = TOP + inner_h * (1 - fraction)
        parts.append(
            format_html(
                '<line class="dash-grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="dash-chart-text" x="{}" y="{}" text-anchor="end">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                f"{y:.1f}",
                f"{y:.1f}",
                LEFT - 6,
                f"{y + 4:.1f}",
                fmt(top * fraction),
            )  # fmt: skip
        )
    if buckets:
        count = max(len(buckets) - 1, 1)
        for index in sorted({0, len(buckets) // 2, len(buckets) - 1}):
            x = LEFT + (WIDTH - LEFT - RIGHT) * index / count
            label = buckets[index].strftime("%H:00" if hourly else "%d %b")
            anchor = "start" if index == 0 else "end" if index == len(buckets) - 1 else "middle"
            parts.append(
                format_html(
                    '<text class="dash-chart-text" x="{}" y="{}" text-anchor="{}">{}</text>',
                    f"{x:.1f}",
                    HEIGHT - 6,
                    anchor,
                    label,
                )  # fmt: skip
            )
    parts.append(
        format_html('<polyline class="dash-line-previous" points="{}"/>', _points(previous, top))
    )
    parts.append(format_html('<polyline class="dash-line" points="{}"/>', _points(current, top)))
    parts.append(mark_safe("</svg>"))  # noqa: S308 - a constant
    return mark_safe("".join(str(p) for p in parts))  # noqa: S308 - every part escaped above


def bar(value: float, whole: float) -> SafeString:
    """A small horizontal bar for a table cell (share of the table's largest value)."""
    share = 0 if not whole else max(0.0, min(1.0, value / whole))
    return format_html(
        '<span class="dash-bar" aria-hidden="true"><span style="width:{}%"></span></span>',
        f"{share * 100:.0f}",
    )


__all__ = ["line_chart", "bar", "escape"]
