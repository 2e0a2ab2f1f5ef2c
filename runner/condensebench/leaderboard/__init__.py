"""The static leaderboard site: MLflow -> records (`collect`) -> pages (`render_site`).

    from condensebench.leaderboard import build
    build("site", uri=None)     # $MLFLOW_TRACKING_URI, else ./mlflow.db
"""
from __future__ import annotations

import time
from pathlib import Path

from .collect import collect
from .model import Board, Entry, Group, SeedRun
from .render import render_site


def build(out: str | Path, *, uri: str | None = None, protocols: list[str] | None = None,
          allow_incomplete: bool = False, include_variants: bool = False, mlflow_ui: str | None = None,
          curves: bool = True) -> dict:
    """Read the tracking store and write the site to `out`; returns counts and timings."""
    from ..tracking import store

    uri = store.tracking_uri(uri)
    t0 = time.perf_counter()
    client = store.open_client(uri, must_exist=True)
    board = collect(client, uri=uri, protocols=protocols, allow_incomplete=allow_incomplete,
                    include_variants=include_variants, mlflow_ui=mlflow_ui, curves=curves)
    t1 = time.perf_counter()
    stats = render_site(board, out)
    t2 = time.perf_counter()
    return {**stats, "collect_seconds": t1 - t0, "render_seconds": t2 - t1, "board": board}


__all__ = ["Board", "Entry", "Group", "SeedRun", "build", "collect", "render_site"]
