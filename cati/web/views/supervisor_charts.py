"""Bar charts for the supervisor pages, as geometry for inline SVG drawn by the templates
(``supervisor/_charts.jinja2``): no script and no external resource, so they pass the Content
Security Policy and show without JavaScript. Every chart comes with its numbers as a table for
screen readers and for people who would rather read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 28


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int
    show_label: bool


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[Tick]
    baseline: float
    left: float
    right: float
    maximum: int


def _nice_max(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^k at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def bar_chart(points: Sequence[tuple[str, int]], *, label_every: int = 1, width: int = WIDTH,
              height: int = HEIGHT) -> Chart:
    """Vertical bars for (label, value) pairs; every ``label_every``-th label is shown, counted
    back from the last bar (today, on a time axis), so labels never crowd at the end."""
    maximum = _nice_max(max((v for _, v in points), default=0))
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    slot = plot_w / max(len(points), 1)
    gap = min(4.0, slot * 0.2)
    bars = []
    for i, (label, value) in enumerate(points):
        h = plot_h * value / maximum
        bars.append(Bar(x=round(LEFT + i * slot + gap / 2, 1), y=round(TOP + plot_h - h, 1),
                        width=round(max(slot - gap, 1), 1), height=round(h, 1), label=label, value=value,
                        show_label=(len(points) - 1 - i) % label_every == 0))
    ticks = [Tick(y=round(TOP + plot_h - plot_h * f, 1), value=round(maximum * f)) for f in (0, 0.5, 1)]
    return Chart(width, height, bars, ticks, baseline=TOP + plot_h, left=LEFT, right=width - RIGHT,
                 maximum=maximum)
