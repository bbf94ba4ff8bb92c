"""The overview's trend chart: open findings over time, as inline SVG drawn on the server.

No script and no external asset: the page's Content-Security-Policy forbids both, and an SVG
of a few hundred points is small. Every text in the SVG is escaped, though today all of it is
numbers and dates the server formats itself: the chart must stay safe if a label ever carries
user text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from markupsafe import Markup

from nix_audit.fleet.views import TrendPoint

__all__ = ["DEFAULT_BOX", "ChartBox", "nice_ceiling", "trend_chart"]


@dataclass(frozen=True, slots=True)
class ChartBox:
    """The drawing's size and the margins left for the axis labels, in SVG units."""

    width: int = 720
    height: int = 240
    left: int = 56
    right: int = 16
    top: int = 16
    bottom: int = 44

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom


def nice_ceiling(value: int) -> int:
    """The y axis' top: ``value`` rounded up to 1, 2 or 5 times a power of ten (at least 1)."""
    if value <= 1:
        return 1
    magnitude = int(10 ** math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude  # not reached: value <= 10 * magnitude by definition


DEFAULT_BOX = ChartBox()


def trend_chart(points: Sequence[TrendPoint], box: ChartBox = DEFAULT_BOX) -> Markup:
    """An ``<svg>`` with the open and critical findings of each trend point, with axes."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {box.width} {box.height}" '
        f'width="{box.width}" height="{box.height}" role="img" '
        'aria-labelledby="trend-title" class="trend">',
        '<title id="trend-title">Open findings over time</title>',
    ]
    if not points:
        parts.append(_text(box.width / 2, box.height / 2, "No evaluation yet", anchor="middle"))
        return _svg(parts)
    top = nice_ceiling(max(p.open for p in points))
    parts += _axes(box, top, points[0].at, points[-1].at)
    parts.append(_line(box, points, top, lambda p: p.open, "open", "#1f5fa8"))
    parts.append(_line(box, points, top, lambda p: p.critical, "critical", "#b00020"))
    parts += _legend(box)
    return _svg(parts)


def _svg(parts: Sequence[str]) -> Markup:
    # Markup: the template must not escape the drawing, whose every text _text escaped.
    return Markup("".join([*parts, "</svg>"]))  # noqa: S704


def _x(box: ChartBox, at: datetime, first: datetime, last: datetime) -> float:
    span = (last - first).total_seconds()
    if span <= 0:  # one point, or all at one instant: in the middle
        return box.left + box.plot_width / 2
    return box.left + box.plot_width * (at - first).total_seconds() / span


def _y(box: ChartBox, value: int, top: int) -> float:
    return box.top + box.plot_height * (1 - value / top)


def _axes(box: ChartBox, top: int, first: datetime, last: datetime) -> list[str]:
    bottom_y = box.top + box.plot_height
    right_x = box.left + box.plot_width
    out = [
        f'<line x1="{box.left}" y1="{box.top}" x2="{box.left}" y2="{bottom_y}" stroke="#555"/>',
        f'<line x1="{box.left}" y1="{bottom_y}" x2="{right_x}" y2="{bottom_y}" stroke="#555"/>',
    ]
    for value in sorted({0, top // 2, top}):
        y = _y(box, value, top)
        out.append(
            f'<line x1="{box.left - 4}" y1="{y:.1f}" x2="{right_x}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        out.append(_text(box.left - 8, y + 4, str(value), anchor="end"))
    label_y = bottom_y + 16
    out.append(_text(box.left, label_y, _date(first), anchor="start"))
    if last != first:
        out.append(_text(right_x, label_y, _date(last), anchor="end"))
    out.append(_text(box.left + box.plot_width / 2, box.height - 6, "time (UTC)", anchor="middle"))
    middle = box.top + box.plot_height / 2
    out.append(
        f'<text x="14" y="{middle:.1f}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {middle:.1f})">findings</text>'
    )
    return out


def _line(
    box: ChartBox,
    points: Sequence[TrendPoint],
    top: int,
    value: Callable[[TrendPoint], int],
    name: str,
    colour: str,
) -> str:
    first, last = points[0].at, points[-1].at
    coords = " ".join(
        f"{_x(box, p.at, first, last):.1f},{_y(box, value(p), top):.1f}" for p in points
    )
    if len(points) == 1:  # a polyline of one point draws nothing: a dot instead
        x, y = coords.split(",")
        return f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}" class="{escape(name)}"/>'
    return (
        f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2" '
        f'class="{escape(name)}"/>'
    )


def _legend(box: ChartBox) -> list[str]:
    x = box.left + box.plot_width - 170
    out = []
    for i, (name, colour) in enumerate((("open findings", "#1f5fa8"), ("critical", "#b00020"))):
        lx = x + i * 110
        out.append(
            f'<line x1="{lx}" y1="{box.top + 6}" x2="{lx + 18}" y2="{box.top + 6}" '
            f'stroke="{colour}" stroke-width="2"/>'
        )
        out.append(_text(lx + 22, box.top + 10, name, anchor="start"))
    return out


def _text(x: float, y: float, text: str, *, anchor: str) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="12">{escape(text)}</text>'
    )


def _date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")
