"""Small server-side SVG plots: bar charts (grouped or stacked) and line charts, with axes, a
title, a description and the data as a table beside them.

Every word comes in from the caller, already in the page's language (a template passes its
catalog messages), so this module holds no text of its own. A plot is ``role="img"`` with a
``<title>`` and a ``<desc>``; ``data_table`` gives the same numbers as an HTML table, for
screen readers and for anyone who wants the figures. Colours are attributes, not ``style``: the
pages keep a strict Content-Security-Policy possible, and the SVG needs no stylesheet.

Use from a template, where the plot functions are passed in the context::

    {{ bar_chart(title=_("..."), description=_("..."), categories=["2024", "2025"],
                 series=[series(_("First wish"), [0.5, 0.7])], percent=True) }}
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

#: Fills with at least 3:1 contrast against white (WCAG's non-text contrast), told apart by more
#: than hue (lightness differs too): blue, orange, grey, green, purple, red.
PALETTE = ("#0b5cad", "#b35900", "#5f6670", "#1d7a36", "#6b3fa0", "#b3261e")
INK = "#1b1f24"
GRID = "#c9ced6"
WIDTH = 640
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    """One named row of values, one per category (bars) or per x (lines); ``None`` is no value."""

    name: str
    values: Sequence[float | None]
    #: A colour of its own; else the palette's next.
    color: str | None = None


def series(name: str, values: Sequence[float | None], color: str | None = None) -> Series:
    return Series(name=name, values=list(values), color=color)


@dataclass
class _Frame:
    """The plot area inside the SVG, and the value axis."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    y_max: float
    ticks: list[float] = field(default_factory=list)

    @property
    def inner_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def inner_height(self) -> float:
        return self.height - self.top - self.bottom

    def y(self, value: float) -> float:
        return self.top + self.inner_height * (1 - (value / self.y_max if self.y_max else 0))


def nice_max(largest: float) -> float:
    """A round top for the value axis, at or above the largest value: 1, 2, 2.5 or 5 times a power of ten."""
    if largest <= 0:
        return 1.0
    power = float(10.0 ** math.floor(math.log10(largest)))
    for step in (1, 2, 2.5, 5, 10):
        if largest <= step * power:
            return float(step * power)
    return 10 * power


def _fmt(value: float, percent: bool, decimals: int) -> str:
    if percent:
        return f"{value * 100:.{decimals}f}%"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.{decimals}f}"


def _color(index: int, given: str | None) -> str:
    return given or PALETTE[index % len(PALETTE)]


def _open_svg(title: str, description: str, width: int, height: int) -> tuple[list[str], str]:
    ident = f"plot{next(_ids)}"
    parts = [
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img"'
        f' aria-labelledby="{ident}-t {ident}-d" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(description)}</desc>',
        f'<text x="0" y="18" font-size="16" font-weight="700" fill="{INK}">{escape(title)}</text>',
    ]
    return parts, ident


def _value_axis(parts: list[str], frame: _Frame, percent: bool, label: str | None) -> None:
    for tick in frame.ticks:
        y = frame.y(tick)
        parts.append(
            f'<line x1="{frame.left}" y1="{y:.1f}" x2="{frame.width - frame.right}" y2="{y:.1f}"'
            f' stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{frame.left - 6}" y="{y + 4:.1f}" font-size="12" text-anchor="end" fill="{INK}">'
            f"{_fmt(tick, percent, 0)}</text>"
        )
    bottom = frame.height - frame.bottom
    parts.append(
        f'<line x1="{frame.left}" y1="{frame.top}" x2="{frame.left}" y2="{bottom}" stroke="{INK}" stroke-width="1"/>'
    )
    parts.append(
        f'<line x1="{frame.left}" y1="{bottom}" x2="{frame.width - frame.right}" y2="{bottom}"'
        f' stroke="{INK}" stroke-width="1"/>'
    )
    if label:
        middle = frame.top + frame.inner_height / 2
        parts.append(
            f'<text x="12" y="{middle:.1f}" font-size="12" text-anchor="middle" fill="{INK}"'
            f' transform="rotate(-90 12 {middle:.1f})">{escape(label)}</text>'
        )


def _legend(parts: list[str], all_series: Sequence[Series], frame: _Frame) -> None:
    x = float(frame.left)
    y = frame.height - 12
    for index, one in enumerate(all_series):
        parts.append(f'<rect x="{x:.1f}" y="{y - 10}" width="12" height="12" fill="{_color(index, one.color)}"/>')
        parts.append(f'<text x="{x + 16:.1f}" y="{y}" font-size="12" fill="{INK}">{escape(one.name)}</text>')
        # Roughly the text's width: CJK characters are wider than Latin ones.
        x += 32 + sum(13 if ord(c) > 0x2E80 else 7 for c in one.name)


def _ticks(y_max: float, count: int = 4) -> list[float]:
    return [y_max * i / count for i in range(count + 1)]


def bar_chart(
    *,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    percent: bool = False,
    stacked: bool = False,
    y_max: float | None = None,
    y_label: str | None = None,
    decimals: int = 0,
    height: int = 300,
) -> Markup:
    """Vertical bars: one group per category, one bar per series (side by side, or ``stacked``),
    each labelled with its value; the value axis from 0 with gridlines, a legend under it."""
    if stacked:
        largest = max(
            (sum(v or 0 for v in column) for column in zip(*(s.values for s in series), strict=True)), default=0.0
        )
    else:
        largest = max((v for s in series for v in s.values if v is not None), default=0.0)
    top_value = y_max if y_max is not None else (1.0 if percent and largest <= 1 else nice_max(largest))
    frame = _Frame(WIDTH, height, left=56, right=8, top=32, bottom=64, y_max=top_value, ticks=_ticks(top_value))
    parts, _ident = _open_svg(title, description, WIDTH, height)
    _value_axis(parts, frame, percent, y_label)
    slot = frame.inner_width / max(1, len(categories))
    bars = 1 if stacked else max(1, len(series))
    bar_width = min(48.0, slot * 0.8 / bars)
    for c, category in enumerate(categories):
        start = frame.left + slot * c + (slot - bar_width * bars) / 2
        base = 0.0
        for s, one in enumerate(series):
            value = one.values[c] if c < len(one.values) else None
            if value is None:
                continue
            x = start if stacked else start + bar_width * s
            low, high = (base, base + value) if stacked else (0.0, value)
            y_top, y_bottom = frame.y(high), frame.y(low)
            parts.append(
                f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{bar_width:.1f}" height="{max(0.0, y_bottom - y_top):.1f}"'
                f' fill="{_color(s, one.color)}"/>'
            )
            label = _fmt(value, percent, decimals)
            if stacked:
                if y_bottom - y_top >= 14:
                    parts.append(
                        f'<text x="{x + bar_width / 2:.1f}" y="{(y_top + y_bottom) / 2 + 4:.1f}" font-size="11"'
                        f' text-anchor="middle" fill="#ffffff">{label}</text>'
                    )
            else:
                parts.append(
                    f'<text x="{x + bar_width / 2:.1f}" y="{y_top - 3:.1f}" font-size="11" text-anchor="middle"'
                    f' fill="{INK}">{label}</text>'
                )
            base += value if stacked else 0
        parts.append(
            f'<text x="{frame.left + slot * c + slot / 2:.1f}" y="{frame.height - frame.bottom + 16}" font-size="12"'
            f' text-anchor="middle" fill="{INK}">{escape(category)}</text>'
        )
    _legend(parts, series, frame)
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    *,
    title: str,
    description: str,
    x: Sequence[float],
    series: Sequence[Series],
    x_label: Callable[[float], str] | None = None,
    x_ticks: Sequence[float] | None = None,
    percent: bool = False,
    y_max: float | None = None,
    y_label: str | None = None,
    height: int = 260,
) -> Markup:
    """Lines over a numeric x (times as seconds, say): one polyline per series, a gap where a
    value is ``None``; ``x_label`` writes an x value (default: the number)."""
    largest = max((v for s in series for v in s.values if v is not None), default=0.0)
    top_value = y_max if y_max is not None else (1.0 if percent and largest <= 1 else nice_max(largest))
    frame = _Frame(WIDTH, height, left=56, right=12, top=32, bottom=56, y_max=top_value, ticks=_ticks(top_value))
    parts, _ident = _open_svg(title, description, WIDTH, height)
    _value_axis(parts, frame, percent, y_label)
    low, high = (min(x), max(x)) if x else (0.0, 1.0)
    span = (high - low) or 1.0

    def x_at(value: float) -> float:
        return frame.left + frame.inner_width * (value - low) / span

    write = x_label or (lambda v: _fmt(v, False, 1))
    for tick in x_ticks if x_ticks is not None else ([low, low + span / 2, high] if x else []):
        parts.append(
            f'<text x="{x_at(tick):.1f}" y="{frame.height - frame.bottom + 16}" font-size="12" text-anchor="middle"'
            f' fill="{INK}">{escape(write(tick))}</text>'
        )
    for s, one in enumerate(series):
        runs: list[list[str]] = [[]]
        for xv, yv in zip(x, one.values, strict=False):
            if yv is None:
                runs.append([])
            else:
                runs[-1].append(f"{x_at(xv):.1f},{frame.y(yv):.1f}")
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{_color(s, one.color)}"/>')
            elif run:
                parts.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{_color(s, one.color)}"'
                    f' stroke-width="2" stroke-linejoin="round"/>'
                )
    _legend(parts, series, frame)
    parts.append("</svg>")
    return Markup("".join(parts))


def data_table(
    *,
    caption: str,
    corner: str,
    categories: Sequence[str],
    series: Sequence[Series],
    percent: bool = False,
    decimals: int = 1,
    extra: Sequence[Series] = (),
) -> Markup:
    """The plot's numbers as a table: a row per category, a column per series (then ``extra``
    columns, figures the plot does not draw, such as counts)."""
    columns = [*series, *extra]
    head = "".join(f'<th scope="col">{escape(s.name)}</th>' for s in columns)
    rows = []
    for c, category in enumerate(categories):
        cells = []
        for index, one in enumerate(columns):
            value = one.values[c] if c < len(one.values) else None
            as_percent = percent and index < len(series)
            cells.append(f'<td class="num">{"—" if value is None else _fmt(value, as_percent, decimals)}</td>')
        rows.append(f'<tr><th scope="row">{escape(category)}</th>{"".join(cells)}</tr>')
    return Markup(
        f'<table class="plot-table"><caption>{escape(caption)}</caption>'
        f'<thead><tr><th scope="col">{escape(corner)}</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


#: What a template needs to draw: pass ``**PLOTTING`` into ``pages.render``.
PLOTTING: dict[str, Any] = {
    "bar_chart": bar_chart,
    "line_chart": line_chart,
    "data_table": data_table,
    "series": series,
}
