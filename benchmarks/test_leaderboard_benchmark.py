"""Building the leaderboard from 10,000 MLflow runs (2,500 evaluations x (1 parent + 3 seeds))
stays fast. Measured in its two parts, as the builder is written: MLflow -> records
(`collect`: search_runs through the public client, plus the curves artifacts) and records
-> pages (`render_site`: Jinja2 + SVG, 2,500 entry pages and 10 tables of 250 rows).

    make benchmark PYTEST_ARGS="-k leaderboard"      # or: pytest benchmarks -m slow -k leaderboard
    CB_BENCH_RUNS=2000 ...                           # a smaller store

How the 10,000 runs are made (bulk-inserted with MLflow's own tables) is explained in
benchmarks/lb_store.py; the store is generated once per session and is not timed.
"""
from __future__ import annotations

import os
import time

import pytest

from benchmarks.lb_store import generate
from condensebench import tracking
from condensebench.leaderboard.collect import collect, load_curves
from condensebench.leaderboard.render import render_site
from condensebench.tracking import store
from tests.tracking_fixtures import copy_store, fake_result, template_db  # noqa: F401

pytestmark = pytest.mark.slow

RUNS = int(os.environ.get("CB_BENCH_RUNS", "10000"))
# Generous ceilings (seconds, on a shared 2-core machine): they catch an order-of-magnitude
# regression, not noise. The measured figures are printed and stored in extra_info.
LIMIT_COLLECT, LIMIT_RENDER = 120.0, 120.0


@pytest.fixture(scope="module")
def big_store(template_db, tmp_path_factory):
    root = tmp_path_factory.mktemp("lb-bench")
    uri = copy_store(template_db, root)
    control = tracking.Tracker(uri).log_evaluation(fake_result("control-ipc10", [80.0, 81.0, 82.0]))
    t0 = time.perf_counter()
    counts = generate(uri, runs=RUNS - 4)
    counts["generate_seconds"] = time.perf_counter() - t0
    print(f"\ngenerated {counts}")
    return uri, root, counts, control


def _client(uri):
    client = store.open_client(uri, must_exist=True)
    client.search_experiments()  # connect and check the schema outside the timing
    return client


def _timed(benchmark, fn):
    """One round (each takes seconds): (result, wall seconds, CPU seconds of this process)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = benchmark.pedantic(fn, rounds=1, iterations=1, warmup_rounds=0)
    return result, time.perf_counter() - wall0, time.process_time() - cpu0


def test_collect_10k_runs(benchmark, big_store):
    uri, _, counts, control = big_store
    client = _client(uri)
    board, wall, cpu = _timed(benchmark, lambda: collect(client, uri=uri, curves=False))
    assert len(board.entries) == counts["entries"] + 1
    assert any(e.parent_run_id == control for e in board.entries)  # the run logged through the real API
    assert all(g.baseline is not None for g in board.groups)
    benchmark.extra_info.update(runs=counts["runs"] + 4, entries=len(board.entries), cpu_seconds=round(cpu, 2))
    print(f"\ncollect: {len(board.entries)} entries from {counts['runs'] + 4} runs, wall {wall:.1f}s, cpu {cpu:.1f}s")
    assert cpu < LIMIT_COLLECT


def test_curves_10k_runs(benchmark, big_store):
    uri, _, _, _ = big_store
    client = _client(uri)
    board = collect(client, uri=uri, curves=False)
    _, wall, cpu = _timed(benchmark, lambda: load_curves(client, board.entries))
    assert all(e.curves for e in board.entries)
    benchmark.extra_info.update(entries=len(board.entries), cpu_seconds=round(cpu, 2))
    print(f"\ncurves: {len(board.entries)} curves.json artifacts, wall {wall:.1f}s, cpu {cpu:.1f}s")


def test_render_10k_runs(benchmark, big_store, tmp_path):
    uri, _, _, _ = big_store
    client = _client(uri)
    board = collect(client, uri=uri, curves=True)
    info, wall, cpu = _timed(benchmark, lambda: render_site(board, tmp_path / "site"))
    assert info["entries"] == len(board.entries)
    assert len(list((tmp_path / "site" / "entries").iterdir())) == len(board.entries)
    benchmark.extra_info.update(pages=len(board.entries) + len(board.groups) + 1, cpu_seconds=round(cpu, 2))
    print(f"\nrender: {info}, wall {wall:.1f}s, cpu {cpu:.1f}s")
    assert cpu < LIMIT_RENDER


def test_full_build_10k_runs(big_store, tmp_path):
    """The whole `condensebench leaderboard build`, timed once end to end (client start included)."""
    from condensebench.leaderboard import build

    uri, _, counts, _ = big_store
    t0, c0 = time.perf_counter(), time.process_time()
    info = build(tmp_path / "site", uri=uri)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"\nfull build from {counts['runs'] + 4} runs: wall {wall:.1f}s, cpu {cpu:.1f}s "
          f"(read {info['collect_seconds']:.1f}s, render {info['render_seconds']:.1f}s)")
    assert info["entries"] == counts["entries"] + 1
    assert cpu < LIMIT_COLLECT + LIMIT_RENDER
