"""The leaderboard's plots, built on svg.chart."""
from __future__ import annotations

import math

from markupsafe import Markup

from .model import Entry, Group
from .stats import RANDOM_METHOD, pareto_front
from .svg import BASELINE_COLOR, KIND_COLORS, KIND_MARKERS, PALETTE, Point, Series, chart

IPC_PLOT_METHODS = 8  # lines on an accuracy-vs-IPC plot, besides the random baseline


def _pm(e: Entry) -> str:
    return f"{e.mean:.2f} ± {e.std:.2f} % (n={e.n})"


def method_colors(groups: list[Group]) -> dict[str, str]:
    """A stable colour per method across every plot of the site."""
    methods = sorted({e.method for g in groups for e in g.entries if not _is_random(e)}, key=str.lower)
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(methods)}


def _is_random(e: Entry) -> bool:
    return e.kind == "baseline" and e.method.strip().lower() == RANDOM_METHOD


def ipc_methods(groups: list[Group], limit: int = IPC_PLOT_METHODS) -> tuple[list[str], int]:
    """The methods an accuracy-vs-IPC plot draws: at most `limit`, those furthest above the
    random baseline (else the table median) on average over the IPCs they have. Returns the
    chosen methods and how many there are in all."""
    gaps: dict[str, list[float]] = {}
    for g in groups:
        complete = sorted(e.mean for e in g.entries if e.complete)
        if not complete:
            continue
        ref = g.baseline.mean if g.baseline is not None else complete[len(complete) // 2]
        best: dict[str, float] = {}
        for e in g.entries:
            if e.complete and not _is_random(e):
                best[e.method] = max(best.get(e.method, -math.inf), e.mean)
        for method, mean in best.items():
            gaps.setdefault(method, []).append(mean - ref)
    ranked = sorted(gaps, key=lambda m: (-sum(gaps[m]) / len(gaps[m]), m.lower()))
    return ranked[:limit], len(ranked)


def ipc_plot(groups: list[Group], colors: dict[str, str], *, entry_href, current_ipc: int | None = None) -> Markup:
    """Mean top-1 (± std) against IPC, one line per method (its best complete entry at each
    IPC; at most IPC_PLOT_METHODS methods), the random baseline dashed. `groups`: the tables
    of one dataset/regime/protocol."""
    first = groups[0]
    by_method: dict[str, dict[int, Entry]] = {}
    kinds: dict[str, str] = {}
    baseline: dict[int, Entry] = {}
    for g in groups:
        if g.baseline is not None:
            baseline[g.ipc] = g.baseline
        for e in g.entries:
            if not e.complete or e is g.baseline or _is_random(e):
                continue
            best = by_method.setdefault(e.method, {})
            if e.ipc not in best or e.mean > best[e.ipc].mean:
                best[e.ipc] = e
            kinds[e.method] = e.kind
    chosen, total = ipc_methods(groups)
    series = []
    for method in sorted(chosen, key=str.lower):
        pts = [Point(ipc, e.mean, e.std, f"{method} ({e.kind}), IPC {ipc}: {_pm(e)}", entry_href(e))
               for ipc, e in sorted(by_method[method].items())]
        series.append(Series(method, pts, colors.get(method, PALETTE[0]), marker=KIND_MARKERS.get(kinds[method], "circle")))
    if baseline:
        pts = [Point(ipc, e.mean, e.std, f"random baseline, IPC {ipc}: {_pm(e)}", entry_href(e))
               for ipc, e in sorted(baseline.items())]
        series.append(Series("random baseline", pts, BASELINE_COLOR, dashed=True, marker="diamond"))
    ipcs = sorted({g.ipc for g in groups})
    title = f"Top-1 vs IPC: {first.dataset}, {first.label_regime} labels, {first.protocol_label}"
    if total > len(chosen):
        title += f" · top {len(chosen)} of {total} methods"
    return chart(series, title=title, xlabel="images per class (log scale)", ylabel="top-1 accuracy (%)",
                 xlog=True, xticks=[(i, str(i)) for i in ipcs], xlim=(min(ipcs) / 1.5, max(ipcs) * 1.5),
                 highlight_x=current_ipc, css_class="chart chart-ipc")


def cost_plot(group: Group, *, entry_href) -> Markup:
    """Mean top-1 against construction cost (log scale; zero cost drawn at the left edge),
    one colour per kind, the Pareto front dashed and its entries ringed and named."""
    entries = [e for e in group.entries if e.cost_hours is not None and e.complete]
    if not entries:
        return Markup('<p class="empty-plot">No complete entry reports a construction cost: nothing to plot.</p>')
    positive = [e.cost_hours for e in entries if e.cost_hours > 0]
    lo = min(positive) if positive else 1.0
    hi = max(positive) if positive else 1.0
    zero_at = lo / 10.0

    def x_of(e: Entry) -> float:
        return e.cost_hours if e.cost_hours > 0 else zero_at

    front = pareto_front(group.entries)
    on_front = {id(e) for e in front}
    series: list[Series] = []
    by_kind: dict[str, list[Entry]] = {}
    for e in entries:
        by_kind.setdefault("random baseline" if _is_random(e) else e.kind, []).append(e)
    order = ["distilled", "coreset", "baseline", "random baseline"]
    for kind in sorted(by_kind, key=lambda k: (order.index(k) if k in order else 9, k)):
        es = by_kind[kind]
        pts = [Point(x_of(e), e.mean, e.std, f"{e.method} ({e.kind}): {_pm(e)}, cost {e.cost_hours:g} {e.cost_unit}"
                     + (" — on the Pareto front" if id(e) in on_front else ""), entry_href(e),
                     emphasis=id(e) in on_front, label=e.method if id(e) in on_front else "")
               for e in es]
        color = BASELINE_COLOR if kind == "random baseline" else KIND_COLORS.get(kind, PALETTE[0])
        series.append(Series(kind, pts, color, line=False, marker=KIND_MARKERS.get(es[0].kind, "circle"),
                             opacity=0.85 if len(entries) > 30 else 1.0))
    if len(front) >= 1:
        stairs: list[Point] = []
        for i, e in enumerate(front):
            if i:
                stairs.append(Point(x_of(e), front[i - 1].mean))
            stairs.append(Point(x_of(e), e.mean))
        series.append(Series("Pareto front", stairs, "#24292f", dashed=True, marker=None, width=1.5))
    x0, x1 = zero_at / 1.8, hi * 1.8
    ticks = []
    if any(e.cost_hours == 0 for e in entries):
        ticks.append((zero_at, "0"))
    for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        v = 10.0 ** k
        if zero_at * 1.5 < v <= x1:
            ticks.append((v, f"{v:g}"))
    title = f"Top-1 vs construction cost: {group.dataset}, IPC {group.ipc}, {group.label_regime}, {group.protocol_label}"
    return chart(series, title=title, xlabel="construction cost, hours (GPU-hours where reported; log scale)",
                 ylabel="top-1 accuracy (%)", xlog=True, xticks=ticks, xlim=(x0, x1), css_class="chart chart-cost")


CURVE_LABELS = {"loss": ("training loss", "loss"), "train_acc": ("training accuracy", "accuracy on the condensed set (%)"),
                "lr": ("learning rate", "learning rate")}


def curve_plots(entry: Entry, keys=("loss", "train_acc")) -> list[Markup]:
    """One chart per curve, a line per seed."""
    if not entry.curves:
        return []
    out = []
    for key in keys:
        series = []
        for i, (seed, curves) in enumerate(sorted(entry.curves.items(), key=lambda kv: int(kv[0]))):
            values = curves.get(key) or []
            finite = [(step, v) for step, v in enumerate(values) if v is not None and math.isfinite(v)]
            if not finite:
                continue
            stride = max(1, len(finite) // 300)  # at most ~300 vertices per line
            pts = [Point(step, v) for step, v in finite[::stride]]
            if finite[-1][0] != pts[-1].x:
                pts.append(Point(*finite[-1]))
            series.append(Series(f"seed {seed}", pts, PALETTE[i % len(PALETTE)], marker=None, width=1.6, opacity=0.9))
        if series:
            title, ylabel = CURVE_LABELS.get(key, (key, key))
            out.append(chart(series, title=f"{title} per epoch, {entry.submission_id}", xlabel="epoch", ylabel=ylabel,
                             css_class=f"chart chart-curve chart-{key}", width=520, height=280))
    return out
