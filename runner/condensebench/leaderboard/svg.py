"""Hand-written SVG charts (no plotting library, no JavaScript): accuracy against IPC,
accuracy against construction cost with the Pareto front, training curves.

Every piece of text goes through `markupsafe.escape`; the functions return `Markup`
that the (autoescaping) templates insert as is.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

from markupsafe import Markup, escape

PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C564B", "#332288",
           "#117733", "#882255", "#44AA99", "#999933"]
BASELINE_COLOR = "#57606a"
KIND_MARKERS = {"distilled": "circle", "coreset": "square", "baseline": "diamond"}
KIND_COLORS = {"distilled": "#0b5cad", "coreset": "#1a7f37", "baseline": "#8c959f"}


@dataclass
class Point:
    x: float
    y: float
    err: float | None = None
    tip: str = ""
    href: str | None = None
    emphasis: bool = False
    label: str = ""          # drawn next to the marker (a few points only)


@dataclass
class Series:
    name: str
    points: list[Point]
    color: str
    dashed: bool = False
    line: bool = True
    marker: str | None = "circle"
    width: float = 2.0
    opacity: float = 1.0


@dataclass
class Frame:
    """Pixel geometry and the data -> pixel mapping of one chart."""

    width: int
    height: int
    x0: float
    x1: float
    y0: float
    y1: float
    xlog: bool = False
    left: int = 58
    right: int = 16
    top: int = 34
    bottom: int = 46
    legend: list = field(default_factory=list)

    def px(self, x: float) -> float:
        lo, hi, v = (math.log10(self.x0), math.log10(self.x1), math.log10(x)) if self.xlog else (self.x0, self.x1, x)
        span = (hi - lo) or 1.0
        return self.left + (v - lo) / span * (self.width - self.left - self.right)

    def py(self, y: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return self.height - self.bottom - (y - self.y0) / span * (self.height - self.top - self.bottom)


def _a(**attrs) -> str:
    """SVG attributes, escaped; underscores become dashes (stroke_width -> stroke-width)."""
    return " ".join(f'{k.rstrip("_").replace("_", "-")}="{html.escape(str(v), quote=True)}"'
                    for k, v in attrs.items() if v is not None)


def _num(v: float) -> str:
    return f"{v:.1f}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    ticks, v = [], start
    while v <= hi + 1e-9 * step:
        ticks.append(round(v, 10))
        v += step
    return ticks


def fmt_tick(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 100 or float(v).is_integer():
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:g}"
    return f"{v:.3g}"


def _marker(shape: str | None, x: float, y: float, color: str, size: float = 4.5, hollow: bool = False) -> str:
    fill = "#fff" if hollow else color
    if shape is None:
        return ""
    if shape == "square":
        return f'<rect {_a(x=_num(x - size), y=_num(y - size), width=_num(2 * size), height=_num(2 * size), fill=fill, stroke=color, stroke_width="1.5")}/>'
    if shape == "diamond":
        d = f"M{_num(x)},{_num(y - size - 1)} L{_num(x + size + 1)},{_num(y)} L{_num(x)},{_num(y + size + 1)} L{_num(x - size - 1)},{_num(y)} Z"
        return f'<path {_a(d=d, fill=fill, stroke=color, stroke_width="1.5")}/>'
    return f'<circle {_a(cx=_num(x), cy=_num(y), r=_num(size), fill=fill, stroke=color, stroke_width="1.5")}/>'


def chart(series: list[Series], *, title: str, xlabel: str, ylabel: str, xlog: bool = False,
          xticks: list[tuple[float, str]] | None = None, ylim: tuple[float, float] | None = None,
          xlim: tuple[float, float] | None = None, highlight_x: float | None = None, css_class: str = "chart",
          width: int = 640, height: int = 340, legend: bool = True) -> Markup:
    """A line/scatter chart with optional error bars, log x axis, legend and links on points."""
    pts = [p for s in series for p in s.points]
    if not pts:
        return Markup(f'<p class="empty-plot">{escape(title)}: nothing to plot.</p>')
    xs = [p.x for p in pts]
    lows = [p.y - (p.err or 0) for p in pts]
    highs = [p.y + (p.err or 0) for p in pts]
    if xlim is None:
        x0, x1 = min(xs), max(xs)
        if xlog:
            x0, x1 = x0 / 1.6, x1 * 1.6
        else:
            pad = (x1 - x0) * 0.04 or 1.0
            x0, x1 = x0 - pad, x1 + pad
    else:
        x0, x1 = xlim
    if ylim is None:
        lo, hi = min(lows), max(highs)
        pad = (hi - lo) * 0.08 or max(abs(hi) * 0.05, 1.0)
        ylim = (lo - pad, hi + pad)
    y0, y1 = ylim
    yt = nice_ticks(y0, y1, 5)
    y0, y1 = min(y0, yt[0]), max(y1, yt[-1])
    n_legend = len(series) if legend else 0
    legend_rows = math.ceil(n_legend / 3) if n_legend else 0
    f = Frame(width, height + 18 * legend_rows, x0, x1, y0, y1, xlog=xlog, bottom=46 + 18 * legend_rows)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" {_a(viewBox=f"0 0 {f.width} {f.height}", class_=css_class, role="img")} aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>",
           f'<text {_a(x=str(f.left), y="20", class_="chart-title")}>{escape(title)}</text>']
    plot_bottom = f.height - f.bottom
    # grid and axes
    for t in yt:
        y = f.py(t)
        out.append(f'<line {_a(x1=str(f.left), x2=str(f.width - f.right), y1=_num(y), y2=_num(y), class_="grid")}/>')
        out.append(f'<text {_a(x=str(f.left - 6), y=_num(y + 4), class_="tick", text_anchor="end")}>{escape(fmt_tick(t))}</text>')
    if xticks is None:
        if xlog:
            lo, hi = math.floor(math.log10(x0)), math.ceil(math.log10(x1))
            xticks = [(10.0 ** k, fmt_tick(10.0 ** k)) for k in range(lo, hi + 1) if x0 <= 10.0 ** k <= x1]
        else:
            xticks = [(t, fmt_tick(t)) for t in nice_ticks(x0, x1, 6) if x0 <= t <= x1]
    if highlight_x is not None and x0 <= highlight_x <= x1:
        hx = f.px(highlight_x)
        out.append(f'<rect {_a(x=_num(hx - 14), y=str(f.top), width="28", height=_num(plot_bottom - f.top), class_="highlight")}/>')
    for value, label in xticks:
        x = f.px(value)
        out.append(f'<line {_a(x1=_num(x), x2=_num(x), y1=str(f.top), y2=_num(plot_bottom), class_="grid grid-x")}/>')
        out.append(f'<text {_a(x=_num(x), y=_num(plot_bottom + 16), class_="tick", text_anchor="middle")}>{escape(label)}</text>')
    out.append(f'<line {_a(x1=str(f.left), x2=str(f.width - f.right), y1=_num(plot_bottom), y2=_num(plot_bottom), class_="axis")}/>')
    out.append(f'<line {_a(x1=str(f.left), x2=str(f.left), y1=str(f.top), y2=_num(plot_bottom), class_="axis")}/>')
    out.append(f'<text {_a(x=_num((f.left + f.width - f.right) / 2), y=_num(plot_bottom + 34), class_="axis-label", text_anchor="middle")}>{escape(xlabel)}</text>')
    out.append(f'<text {_a(x="14", y=_num((f.top + plot_bottom) / 2), class_="axis-label", text_anchor="middle", transform=f"rotate(-90 14 {_num((f.top + plot_bottom) / 2)})")}>{escape(ylabel)}</text>')
    # series
    for s in series:
        g = [f'<g {_a(class_="series", data_series=s.name, opacity=str(s.opacity) if s.opacity != 1 else None)}>']
        ordered = sorted(s.points, key=lambda p: p.x)
        if s.line and len(ordered) > 1:
            d = " ".join(("M" if i == 0 else "L") + f"{_num(f.px(p.x))},{_num(f.py(p.y))}" for i, p in enumerate(ordered))
            g.append(f'<path {_a(d=d, fill="none", stroke=s.color, stroke_width=str(s.width), stroke_dasharray="6 4" if s.dashed else None, stroke_linejoin="round")}/>')
        for p in ordered:
            x, y = f.px(p.x), f.py(p.y)
            if p.err:
                g.append(f'<line {_a(x1=_num(x), x2=_num(x), y1=_num(f.py(p.y - p.err)), y2=_num(f.py(p.y + p.err)), stroke=s.color, stroke_width="1.5")}/>')
            mark = _marker(s.marker, x, y, s.color, 5.5 if p.emphasis else 4.5, hollow=s.dashed)
            if p.emphasis:
                mark += f'<circle {_a(cx=_num(x), cy=_num(y), r="9", fill="none", stroke=s.color, stroke_width="1.5", class_="ring")}/>'
            if p.label:
                text = p.label if len(p.label) <= 24 else p.label[:23] + "…"
                mark += f'<text {_a(x=_num(x + 11), y=_num(y - 8), class_="point-label")}>{escape(text)}</text>'
            tip = f"<title>{escape(p.tip)}</title>" if p.tip else ""
            if mark and p.href:
                g.append(f'<a {_a(href=p.href)}>{mark}{tip}</a>')
            elif mark:
                g.append(f"<g>{mark}{tip}</g>")
        g.append("</g>")
        out.extend(g)
    # legend
    if legend:
        for i, s in enumerate(series):
            col, row = i % 3, i // 3
            lx = f.left + col * ((f.width - f.left - f.right) / 3)
            ly = f.height - 12 - 18 * (legend_rows - 1 - row)
            out.append(f'<line {_a(x1=_num(lx), x2=_num(lx + 22), y1=_num(ly - 4), y2=_num(ly - 4), stroke=s.color, stroke_width="2", stroke_dasharray="6 4" if s.dashed else None)}/>')
            out.append(_marker(s.marker, lx + 11, ly - 4, s.color, 3.5, hollow=s.dashed))
            name = s.name if len(s.name) <= 30 else s.name[:29] + "…"
            out.append(f'<text {_a(x=_num(lx + 28), y=_num(ly), class_="legend")}>{escape(name)}</text>')
    out.append("</svg>")
    return Markup("\n".join(out))
