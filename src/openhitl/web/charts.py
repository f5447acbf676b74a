"""Small charts drawn on the server as SVG: bars and lines, every label escaped, colours from app.css."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 240
NARROW = 420  # for a chart that shares its row with another
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 28, 30
TICKS = 4
Format = Callable[[float], str]
# Round steps for a time axis, in seconds: 1 s to 1 week.
TIME_STEPS = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
    172800,
    604800,
)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    css: str = "series-a"  # the class app.css colours this series with


def plain(value: float) -> str:
    return f"{value:g}"


def nice_step(value: float, steps: Sequence[float] = ()) -> float:
    """A gridline step at least `value`: one of `steps`, else 1, 2 or 5 times a power of ten (1 at least)."""
    fitting = [step for step in steps if step >= value]
    if fitting:
        return fitting[0]
    if value <= 1:
        return 1.0
    power: float = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _attrs(**values: object) -> str:
    return " ".join(
        f'{name.rstrip("_").replace("_", "-")}="{escape(str(value))}"' for name, value in values.items()
    )


def _text(x: float, y: float, content: str, css: str, anchor: str = "middle") -> str:
    return (
        f"<text {_attrs(x=f'{x:.1f}', y=f'{y:.1f}', class_=css, text_anchor=anchor)}>{escape(content)}</text>"
    )


class Plot:
    """The drawing area of one chart: value axis from 0 to a round top, one slot per label."""

    def __init__(
        self, labels: Sequence[str], series: Sequence[Series], *, width: int, steps: Sequence[float]
    ) -> None:
        self.labels = labels
        self.series = series
        self.outer = width
        highest = max((v for s in series for v in s.values if v is not None), default=0.0)
        self.top = nice_step(highest / TICKS, steps) * TICKS
        self.width = width - LEFT - RIGHT
        self.height = HEIGHT - TOP - BOTTOM
        self.slot = self.width / max(len(labels), 1)

    def y(self, value: float) -> float:
        return TOP + self.height * (1 - value / self.top)

    def centre(self, index: int) -> float:
        return LEFT + self.slot * (index + 0.5)

    def axes(self, fmt: Format, label_every: int) -> list[str]:
        parts = []
        for step in range(TICKS + 1):
            value = self.top * step / TICKS
            y = self.y(value)
            parts.append(
                f"<line {_attrs(x1=LEFT, x2=self.outer - RIGHT, y1=f'{y:.1f}', y2=f'{y:.1f}', class_='grid')}/>"
            )
            parts.append(_text(LEFT - 6, y + 4, fmt(value), "tick", "end"))
        for index, label in enumerate(self.labels):
            if index % label_every == 0:
                parts.append(_text(self.centre(index), HEIGHT - BOTTOM + 18, label, "tick"))
        return parts

    def legend(self) -> list[str]:
        if len(self.series) < 2:
            return []
        parts, x = [], LEFT
        for each in self.series:
            parts.append(f"<rect {_attrs(x=x, y=8, width=10, height=10, class_=f'swatch {each.css}')}/>")
            parts.append(_text(x + 14, 17, each.name, "legend", "start"))
            x += 24 + 7 * len(each.name)
        return parts


def _svg(title: str, parts: list[str], width: int) -> Markup:
    head = _attrs(class_="chart", viewBox=f"0 0 {width} {HEIGHT}", role="img", aria_label=title)
    return Markup(f"<svg {head}><title>{escape(title)}</title>{''.join(parts)}</svg>")


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    fmt: Format = plain,
    label_every: int = 1,
    width: int = WIDTH,
    steps: Sequence[float] = (),
) -> Markup:
    """Bars side by side for each label, one per series; each bar's tooltip says its value."""
    plot = Plot(labels, series, width=width, steps=steps)
    parts = plot.axes(fmt, label_every) + plot.legend()
    bar = plot.slot * 0.8 / max(len(series), 1)
    for index, label in enumerate(labels):
        left = plot.centre(index) - bar * len(series) / 2
        for number, each in enumerate(series):
            value = each.values[index]
            if value is None:
                continue
            y = plot.y(value)
            box = _attrs(
                x=f"{left + bar * number:.1f}",
                y=f"{y:.1f}",
                width=f"{max(bar - 1, 1):.1f}",
                height=f"{TOP + plot.height - y:.1f}",
                class_=f"bar {each.css}",
            )
            parts.append(
                f"<rect {box}><title>{escape(f'{label} · {each.name}: {fmt(value)}')}</title></rect>"
            )
    return _svg(title, parts, width)


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    fmt: Format = plain,
    label_every: int = 1,
    width: int = WIDTH,
    steps: Sequence[float] = (),
) -> Markup:
    """A line per series through the labels' values, with a dot (and tooltip) on each point."""
    plot = Plot(labels, series, width=width, steps=steps)
    parts = plot.axes(fmt, label_every) + plot.legend()
    for each in series:
        points = [
            (plot.centre(i), plot.y(v), labels[i], v) for i, v in enumerate(each.values) if v is not None
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
        parts.append(f"<polyline {_attrs(points=path, class_=f'line {each.css}')}/>")
        for x, y, label, value in points:
            dot = _attrs(cx=f"{x:.1f}", cy=f"{y:.1f}", r=3, class_=f"point {each.css}")
            parts.append(f"<circle {dot}><title>{escape(f'{label}: {fmt(value)}')}</title></circle>")
    return _svg(title, parts, width)
