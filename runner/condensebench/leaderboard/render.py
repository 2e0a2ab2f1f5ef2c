"""`Board` -> a static site: one Jinja2 environment (autoescape on, undefined names are
errors), templates in the top-level `leaderboard/templates/`, assets in
`leaderboard/static/`. Every link is relative, so the site works from file:// and from
any static host, offline.

    OUT/index.html                 datasets, IPCs, regimes, protocols, entry counts, IPC plots
    OUT/tables/<group>.html        one ranked table per (dataset, IPC, label regime, protocol)
    OUT/entries/<entry>.html       provenance, per-seed accuracies, curves, MLflow links
    OUT/data/leaderboard.json      the same data for others
    OUT/static/                    CSS and the sorting/filtering script
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..errors import CondenseBenchError
from ..paths import project_root
from .model import Board, Entry, Group
from .plots import cost_plot, curve_plots, ipc_plot, method_colors

MARKER = ".condensebench-site"


def site_sources() -> tuple[Path, Path]:
    root = project_root() / "leaderboard"
    templates, static = root / "templates", root / "static"
    if not (templates / "base.html.j2").is_file() or not static.is_dir():
        raise CondenseBenchError(f"leaderboard templates not found under {root} (set CONDENSEBENCH_HOME to the checkout)")
    return templates, static


# ------------------------------------------------------------------ formatting


def fmt_num(v, digits: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def fmt_delta(v) -> str:
    return "–" if v is None else f"{v:+.2f}"


def fmt_p(p) -> str:
    if p is None:
        return "n/a"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}"


def fmt_bytes(n) -> str:
    if n is None:
        return "–"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def fmt_seconds(s) -> str:
    if s is None:
        return "–"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


def fmt_hours(h) -> str:
    if h is None:
        return "–"
    if h == 0:
        return "0"
    if h < 1 / 60:
        return f"{h * 3600:.1f} s"
    if h < 1:
        return f"{h * 60:.1f} min"
    return f"{h:.3g} h"


def fmt_cost(e) -> tuple[str, str]:
    """(amount, what) for an entry's construction cost: ("5 GPU-h", "A100") or ("36 s", "cpu")."""
    c, h = e.construction, e.cost_hours
    if h is None:
        return "", ""
    if e.cost_basis == "gpu":
        amount = f"{h:.3g} GPU-h" if h >= 0.01 else f"{h * 3600:.0f} GPU-s"
        return amount, c.get("gpu_model") or ""
    amount = "0" if h == 0 else fmt_seconds(h * 3600)
    return amount, c.get("device") or ""


def sort_value(v) -> str:
    """`data-value` for numeric sorting; empty for missing values (sorted last)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return repr(float(v))


def safe_url(url) -> str | None:
    """Only absolute http(s) URLs become links (a `javascript:` paper URL must not)."""
    if not url:
        return None
    text = str(url).strip()
    parts = urlsplit(text)
    return text if parts.scheme in ("http", "https") and parts.netloc else None


def make_environment(templates: Path) -> Environment:
    env = Environment(loader=FileSystemLoader(str(templates)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(num=fmt_num, delta=fmt_delta, pval=fmt_p, bytes=fmt_bytes, seconds=fmt_seconds,
                       hours=fmt_hours, sortval=sort_value, safe_url=safe_url,
                       cost=fmt_cost)
    return env


# ------------------------------------------------------------------ pages


class Site:
    def __init__(self, board: Board, out: Path, *, templates: Path | None = None, static: Path | None = None):
        t, s = site_sources()
        self.board, self.out = board, Path(out)
        self.templates, self.static = templates or t, static or s
        self.env = make_environment(self.templates)
        self.colors = method_colors(board.groups)
        self.series: dict[tuple, list[Group]] = {}
        for g in board.groups:
            self.series.setdefault(g.series_key, []).append(g)
        self.group_of = {e.slug: g for g in board.groups for e in g.entries}

    # links (relative to the page's folder depth)
    @staticmethod
    def entry_href(e: Entry, root: str) -> str:
        return f"{root}entries/{e.slug}.html"

    @staticmethod
    def group_href(g: Group, root: str) -> str:
        return f"{root}tables/{g.slug}.html"

    def run_url(self, experiment_id: str, run_id: str) -> str | None:
        ui = self.board.mlflow_ui
        return f"{ui}/#/experiments/{experiment_id}/runs/{run_id}" if ui else None

    def _write(self, rel: str, template: str, **ctx) -> None:
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        root = "../" * rel.count("/")
        html = self.env.get_template(template).render(
            board=self.board, root=root, entry_href=lambda e: self.entry_href(e, root),
            group_href=lambda g: self.group_href(g, root), run_url=self.run_url, **ctx)
        path.write_text(html, encoding="utf-8")

    def prepare_out(self) -> None:
        out = self.out
        if out.exists():
            if not out.is_dir():
                raise CondenseBenchError(f"--out {out} is a file")
            if any(out.iterdir()) and not (out / MARKER).is_file():
                raise CondenseBenchError(f"--out {out} exists and is not a condensebench site: choose an empty folder")
            shutil.rmtree(out)
        out.mkdir(parents=True)
        (out / MARKER).write_text("built by `condensebench leaderboard build`; the folder is replaced on each build\n")

    def build(self) -> dict:
        self.prepare_out()
        shutil.copytree(self.static, self.out / "static")
        self._write("index.html", "index.html.j2", series=self.series, counts=self.counts(),
                    ipc_plot=lambda groups: ipc_plot(groups, self.colors, entry_href=lambda e: self.entry_href(e, "")))
        root = "../"  # tables/ and entries/ are one level down
        for g in self.board.groups:
            self._write(f"tables/{g.slug}.html", "group.html.j2", group=g,
                        ipc_svg=ipc_plot(self.series[g.series_key], self.colors,
                                         entry_href=lambda e: self.entry_href(e, root), current_ipc=g.ipc),
                        cost_svg=cost_plot(g, entry_href=lambda e: self.entry_href(e, root)),
                        siblings=self.series[g.series_key])
            for e in g.entries:
                self._write(f"entries/{e.slug}.html", "entry.html.j2", entry=e, group=g,
                            curves_svg=curve_plots(e), commands=reproduce_commands(e))
        data = self.out / "data" / "leaderboard.json"
        data.parent.mkdir(parents=True, exist_ok=True)
        data.write_text(json.dumps(self.board.to_json(), indent=1, allow_nan=False) + "\n", encoding="utf-8")
        return {"groups": len(self.board.groups), "entries": len(self.board.entries)}

    def counts(self) -> dict:
        entries = self.board.entries
        by = lambda f: sorted({f(e) for e in entries}, key=str)  # noqa: E731
        return {
            "entries": len(entries), "groups": len(self.board.groups),
            "datasets": [(d, sum(e.dataset == d for e in entries)) for d in by(lambda e: e.dataset)],
            "ipcs": [(i, sum(e.ipc == i for e in entries)) for i in sorted({e.ipc for e in entries})],
            "regimes": [(r, sum(e.label_regime == r for e in entries)) for r in by(lambda e: e.label_regime)],
            "protocols": [(p, sum(f"{e.protocol}@v{e.protocol_version}" == p for e in entries))
                          for p in by(lambda e: f"{e.protocol}@v{e.protocol_version}")],
            "kinds": [(k, sum(e.kind == k for e in entries)) for k in by(lambda e: e.kind)],
        }


def reproduce_commands(e: Entry) -> list[str]:
    """Shell lines that re-create the entry from a checkout (comments say what is needed)."""
    lines = []
    commit = e.environment.get("git_commit")
    lines.append(f"git checkout {commit}" if commit else "# the evaluating checkout recorded no git commit")
    lines.append("make install")
    seeds = [s.seed for s in e.seeds]
    seed_flag = f" --seeds {len(seeds)}" if seeds == list(range(len(seeds))) else ""
    if not seed_flag and seeds:
        lines.append(f"# the tracked seeds are {', '.join(map(str, seeds))} (not 0..n-1)")
    device = e.environment.get("device") or "cpu"
    device = "cuda" if device.startswith("cuda") else device
    proto = f"{e.protocol}@{e.protocol_version}"
    if not e.protocol_released:
        lines.append(f"# protocol {e.protocol}@v{e.protocol_version} here is a local variant, sha256 {e.protocol_hash}: "
                     "pass its YAML file to -p")
        proto = f"{e.protocol}-variant.yaml"
    lines.append(f"condensebench evaluate submissions/{e.dataset}/{e.submission_id} -p {proto}{seed_flag} "
                 f"--device {device}")
    if e.environment.get("image_digest"):
        lines.append(f"# evaluated in the container image {e.environment['image_digest']}")
    return lines


def render_site(board: Board, out: str | Path) -> dict:
    return Site(board, Path(out)).build()
