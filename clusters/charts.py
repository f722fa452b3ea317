"""Line charts as geometry for a server-rendered SVG (pure: no Django, no I/O).

line_chart() maps time series onto a fixed canvas; templates/clusters/_chart.html draws
the result, so every name and label reaches the page through the template's escaping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 12, 28  # margins for the axes' labels
PALETTE_SIZE = 6  # .series-0 … .series-5 in portal.css


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[datetime, float]]
    css: str = ""  # a fixed colour class (e.g. a severity's), else the palette's next


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    label: str  # "time: value unit", the point's tooltip


@dataclass(frozen=True)
class Line:
    name: str
    css: str
    points: str  # the polyline's "x,y x,y …"
    dots: list[Dot]
    last: str  # the latest value, for the legend


@dataclass(frozen=True)
class Tick:
    at: float
    label: str
    anchor: str = "middle"


@dataclass
class Chart:
    title: str
    unit: str
    width: int = WIDTH
    height: int = HEIGHT
    lines: list[Line] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(line.dots for line in self.lines)

    @property
    def plot(self) -> dict[str, float]:
        return {
            "left": LEFT,
            "top": TOP,
            "right": self.width - RIGHT,
            "bottom": self.height - BOTTOM,
        }


def _number(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 4, 8 × 10ⁿ at or above value: a top whose quarters are round."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 4, 8, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def line_chart(
    title: str,
    series: list[Series],
    unit: str,
    width: int = WIDTH,
    height: int = HEIGHT,
    days: bool = False,
) -> Chart:
    """Place every series on one time axis (x) and one value axis from 0 (y)."""
    chart = Chart(title=title, unit=unit, width=width, height=height)
    times = [at for s in series for at, _ in s.points]
    if not times:
        return chart
    start, end = min(times), max(times)
    span = (end - start).total_seconds() or 1.0
    top = nice_ceiling(max((v for s in series for _, v in s.points), default=0))
    box = chart.plot
    plot_w, plot_h = box["right"] - box["left"], box["bottom"] - box["top"]

    def x_of(at: datetime) -> float:
        offset = (at - start).total_seconds() / span if end > start else 0.5
        return round(box["left"] + offset * plot_w, 1)

    def y_of(value: float) -> float:
        return round(box["bottom"] - max(value, 0) / top * plot_h, 1)

    fmt = "%Y-%m-%d" if days else "%m-%d %H:%M" if span >= 3600 else "%H:%M:%S"
    for index, s in enumerate(series):
        ordered = sorted(s.points)
        dots = [Dot(x_of(at), y_of(v), f"{at:{fmt}} UTC: {_number(v)} {unit}") for at, v in ordered]
        chart.lines.append(
            Line(
                name=s.name,
                css=s.css or f"series-{index % PALETTE_SIZE}",
                points=" ".join(f"{d.x},{d.y}" for d in dots),
                dots=dots,
                last=f"{_number(ordered[-1][1])} {unit}" if ordered else "—",
            )
        )
    chart.y_ticks = [Tick(y_of(top * i / 4), _number(top * i / 4)) for i in range(5)]
    if end == start:
        chart.x_ticks = [Tick(x_of(start), f"{start:{fmt}}")]
    else:
        chart.x_ticks = [
            Tick(x_of(at), f"{at:{fmt}}", "start" if i == 0 else "end" if i == 4 else "middle")
            for i, at in enumerate(start + (end - start) * i / 4 for i in range(5))
        ]
    return chart
