"""Small, dependency-free SVG charts for the review report: histogram, bars, scatter.

Each function takes plain arrays (the GUI plots the same arrays with Qt) and returns one
``<svg>`` element as text, to be inlined in HTML: no external fonts, scripts or styles, no
XML namespace URL (inline SVG in HTML does not need one). Hovering a bar or point shows
its exact value through an SVG ``<title>``, which needs no JavaScript.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

import numpy as np

COLOUR_A = "#4c78a8"
COLOUR_B = "#f58518"
COLOUR_BAD = "#e45756"
GRID = "#e6e8eb"
AXIS = "#6b7280"
INK = "#1f2937"
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]``, about ``count`` of them (1-2-5 steps)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else [0.0]
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _fmt(v: float, step: float) -> str:
    if step >= 1:
        return f"{v:.0f}"
    digits = min(4, max(1, -math.floor(math.log10(step) + 1e-9)))
    return f"{v:.{digits}f}"


def _percent(step: float):
    """A tick formatter for fractions shown as percent, with as many digits as ``step`` needs."""
    digits = 0 if step * 100 >= 1 else math.ceil(-math.log10(step * 100) - 1e-9)
    return lambda v: f"{v * 100:.{digits}f}%"


class _Canvas:
    """An SVG drawing with a plot area and the coordinate maps of its two axes."""

    def __init__(self, width: int, height: int, title: str, *, left: int = 52, right: int = 16,
                 top: int = 34, bottom: int = 44) -> None:  # fmt: skip
        self.w, self.h = width, height
        self.x0, self.x1 = left, width - right
        self.y0, self.y1 = top, height - bottom
        self.parts: list[str] = [
            f'<svg class="plot" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{escape(title)}" style="{FONT}">',
            f"<title>{escape(title)}</title>",
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
            f'<text x="12" y="20" font-size="13" font-weight="600" fill="{INK}">{escape(title)}</text>',
        ]
        self.xlo, self.xhi, self.ylo, self.yhi = 0.0, 1.0, 0.0, 1.0

    def set_x(self, lo: float, hi: float) -> None:
        self.xlo, self.xhi = lo, hi if hi > lo else lo + 1

    def set_y(self, lo: float, hi: float) -> None:
        self.ylo, self.yhi = lo, hi if hi > lo else lo + 1

    def x(self, v: float) -> float:
        return self.x0 + (v - self.xlo) / (self.xhi - self.xlo) * (self.x1 - self.x0)

    def y(self, v: float) -> float:
        return self.y1 - (v - self.ylo) / (self.yhi - self.ylo) * (self.y1 - self.y0)

    def add(self, text: str) -> None:
        self.parts.append(text)

    def x_axis(self, ticks: Sequence[float], label: str, fmt=None) -> None:
        step = (ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
        for t in ticks:
            x = self.x(t)
            self.add(f'<line x1="{x:.1f}" y1="{self.y0}" x2="{x:.1f}" y2="{self.y1}" stroke="{GRID}"/>')
            text = fmt(t) if fmt else _fmt(t, step)
            self.add(f'<text x="{x:.1f}" y="{self.y1 + 15}" font-size="11" fill="{AXIS}" '
                     f'text-anchor="middle">{escape(text)}</text>')  # fmt: skip
        self.add(f'<line x1="{self.x0}" y1="{self.y1}" x2="{self.x1}" y2="{self.y1}" stroke="{AXIS}"/>')
        self.add(f'<text x="{(self.x0 + self.x1) / 2:.1f}" y="{self.h - 8}" font-size="12" fill="{INK}" '
                 f'text-anchor="middle">{escape(label)}</text>')  # fmt: skip

    def y_axis(self, ticks: Sequence[float], label: str, fmt=None) -> None:
        step = (ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
        for t in ticks:
            y = self.y(t)
            self.add(f'<line x1="{self.x0}" y1="{y:.1f}" x2="{self.x1}" y2="{y:.1f}" stroke="{GRID}"/>')
            text = fmt(t) if fmt else _fmt(t, step)
            self.add(f'<text x="{self.x0 - 6}" y="{y + 4:.1f}" font-size="11" fill="{AXIS}" '
                     f'text-anchor="end">{escape(text)}</text>')  # fmt: skip
        self.add(f'<line x1="{self.x0}" y1="{self.y0}" x2="{self.x0}" y2="{self.y1}" stroke="{AXIS}"/>')
        cy = (self.y0 + self.y1) / 2
        self.add(f'<text x="14" y="{cy:.1f}" font-size="12" fill="{INK}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {cy:.1f})">{escape(label)}</text>')  # fmt: skip

    def legend(self, items: Sequence[tuple[str, str]]) -> None:
        x = self.x1
        for colour, label in reversed(items):
            w = 7 * len(label) + 22
            x -= w
            self.add(f'<rect x="{x}" y="11" width="10" height="10" rx="2" fill="{colour}"/>'
                     f'<text x="{x + 14}" y="20" font-size="11" fill="{INK}">{escape(label)}</text>')  # fmt: skip

    def empty(self, message: str) -> None:
        self.add(f'<text x="{(self.x0 + self.x1) / 2:.1f}" y="{(self.y0 + self.y1) / 2:.1f}" font-size="12" '
                 f'fill="{AXIS}" text-anchor="middle">{escape(message)}</text>')  # fmt: skip

    def svg(self) -> str:
        return "\n".join([*self.parts, "</svg>"])


def histogram_svg(edges: Sequence[float], counts: Sequence[int], *, title: str, xlabel: str,
                  ylabel: str = "clips", counts_b: Sequence[int] | None = None,
                  labels: tuple[str, str] = ("A", "B"), width: int = 392, height: int = 280,
                  colour: str = COLOUR_A) -> str:  # fmt: skip
    """A histogram of precomputed bins (``edges`` has one more value than ``counts``);
    ``counts_b`` draws a second series beside the first in each bin."""
    edges = np.asarray(edges, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.int64)
    c = _Canvas(width, height, title)
    top = int(max(counts.max(initial=0), 0 if counts_b is None else np.max(counts_b, initial=0)))
    c.set_x(float(edges[0]), float(edges[-1]))
    yt = nice_ticks(0, max(top, 1), 4)
    yt = [t for t in yt if float(t).is_integer()] or [0, 1]
    c.set_y(0, max(yt[-1], top, 1))
    c.x_axis(nice_ticks(float(edges[0]), float(edges[-1]), 5), xlabel)
    c.y_axis(yt, ylabel, fmt=lambda v: f"{v:.0f}")
    series = [(counts, colour)] + ([] if counts_b is None else [(np.asarray(counts_b), COLOUR_B)])
    for s, (vals, col) in enumerate(series):
        for i, n in enumerate(vals):
            if n <= 0:
                continue
            xa, xb = c.x(edges[i]), c.x(edges[i + 1])
            gap = 1.0
            if len(series) == 2:
                mid = (xa + xb) / 2
                xa, xb = (xa, mid) if s == 0 else (mid, xb)
            y = c.y(float(n))
            name = labels[s] + ": " if len(series) == 2 else ""
            c.add(f'<rect x="{xa + gap / 2:.1f}" y="{y:.1f}" width="{max(0.5, xb - xa - gap):.1f}" '
                  f'height="{c.y1 - y:.1f}" fill="{col}"><title>{escape(name)}{edges[i]:.2f}\u2013'
                  f'{edges[i + 1]:.2f}: {int(n)} clip{"s" if n != 1 else ""}</title></rect>')  # fmt: skip
    if counts_b is not None:
        c.legend([(colour, labels[0]), (COLOUR_B, labels[1])])
    if top == 0:
        c.empty("no values")
    return c.svg()


def bar_chart_svg(names: Sequence[str], values: Sequence[float], counts: Sequence[int], *,
                  title: str, xlabel: str, width: int = 392, bar_height: int = 18,
                  lo: float = 0.0, hi: float = 1.0, colour: str = COLOUR_A, unit: str = "clip") -> str:  # fmt: skip
    """Horizontal bars, one per name, labelled with the value and the count (``n=``).

    Values may be negative (``lo < 0``, e.g. deltas); NaN values get no bar.
    """
    n = len(names)
    label_w = int(min(190, max(60, 6.6 * max((len(s) for s in names), default=4) + 8)))
    height = 34 + 44 + max(1, n) * (bar_height + 4)
    c = _Canvas(width, height, title, left=label_w + 8, right=64)
    c.set_x(lo, hi)
    c.set_y(0, max(1, n))
    c.x_axis(nice_ticks(lo, hi, 5), xlabel)
    c.add(f'<line x1="{c.x(0):.1f}" y1="{c.y0}" x2="{c.x(0):.1f}" y2="{c.y1}" stroke="{AXIS}"/>')
    for i, (name, v, k) in enumerate(zip(names, values, counts)):
        ytop = c.y0 + i * (bar_height + 4) + 2
        short = name if len(name) <= 28 else name[:27] + "\u2026"
        c.add(f'<text x="{c.x0 - 6}" y="{ytop + bar_height * 0.72:.1f}" font-size="11" fill="{INK}" '
              f'text-anchor="end">{escape(short)}<title>{escape(name)}</title></text>')  # fmt: skip
        if v is None or not math.isfinite(v):
            continue
        xa, xb = sorted((c.x(0), c.x(min(max(v, lo), hi))))
        col = COLOUR_BAD if v < 0 else colour
        c.add(f'<rect x="{xa:.1f}" y="{ytop}" width="{max(0.5, xb - xa):.1f}" height="{bar_height}" rx="2" '
              f'fill="{col}"><title>{escape(name)}: {v:.4f} over {int(k)} {unit}{"s" if k != 1 else ""}</title></rect>')  # fmt: skip
        label = f"{v:.3f} (n={int(k)})"
        after = max(xb, c.x(0)) + 4
        if after + 5.6 * len(label) > width - 2:  # no room after the bar: write inside its end
            c.add(f'<text x="{xb - 4:.1f}" y="{ytop + bar_height * 0.72:.1f}" font-size="10.5" fill="#ffffff" '
                  f'text-anchor="end">{label}</text>')  # fmt: skip
        else:
            c.add(f'<text x="{after:.1f}" y="{ytop + bar_height * 0.72:.1f}" font-size="10.5" '
                  f'fill="{AXIS}">{label}</text>')  # fmt: skip
    if n == 0:
        c.empty("no categories")
    return c.svg()


def scatter_svg(x: Sequence[float], y: Sequence[float], *, title: str, xlabel: str, ylabel: str,
                names: Sequence[str] | None = None, width: int = 392, height: int = 280,
                x_max: float | None = None, x_percent: bool = False, y_lo: float = 0.0, y_hi: float = 1.0,
                colour: str = COLOUR_A) -> str:  # fmt: skip
    """Points ``(x, y)``; ``names`` become hover titles. ``x_percent`` labels x as percent."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    c = _Canvas(width, height, title)
    top = x_max if x_max is not None else (float(xs.max()) if xs.size else 1.0)
    xt = nice_ticks(0.0, top if top > 0 else 1.0, 5)
    if xt[-1] < top:
        xt.append(xt[-1] + (xt[1] - xt[0] if len(xt) > 1 else top))
    c.set_x(0.0, xt[-1])
    c.set_y(y_lo, y_hi)
    step = (xt[1] - xt[0]) if len(xt) > 1 else 1.0
    c.x_axis(xt, xlabel, fmt=_percent(step) if x_percent else None)
    c.y_axis(nice_ticks(y_lo, y_hi, 5), ylabel)
    r = 3.2 if xs.size <= 300 else (2.2 if xs.size <= 2000 else 1.5)
    for i, (a, b) in enumerate(zip(xs.tolist(), ys.tolist())):
        if not (math.isfinite(a) and math.isfinite(b)):
            continue
        tip = f"{names[i]}: " if names is not None else ""
        size = f"{a * 100:.1f}%" if x_percent else f"{a:.3g}"
        c.add(f'<circle cx="{c.x(a):.1f}" cy="{c.y(b):.1f}" r="{r}" fill="{colour}" fill-opacity="0.65" '
              f'stroke="#ffffff" stroke-width="0.6"><title>{escape(tip)}{size}, {b:.3f}</title></circle>')  # fmt: skip
    if xs.size == 0:
        c.empty("no values")
    return c.svg()
