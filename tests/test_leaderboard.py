"""The leaderboard site built from MLflow: tables, statistics, escaping, the missing random
baseline, dedup, failing loudly, and a build from a real `mlflow server`."""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from mlflow import MlflowClient

from condensebench import tracking
from condensebench.cli import main
from condensebench.errors import CondenseBenchError
from condensebench.leaderboard import build
from condensebench.leaderboard.model import Entry
from condensebench.leaderboard.render import make_environment, safe_url, site_sources
from condensebench.leaderboard.stats import pareto_front, welch_p
from tests.tracking_fixtures import (  # noqa: F401
    copy_store, demo_results, fake_result, mlflow_server, store_uri, template_db,
)


@pytest.fixture(scope="module")
def demo_db(template_db, tmp_path_factory) -> Path:
    """The demo board logged once per module (logging is the slow part)."""
    root = tmp_path_factory.mktemp("demo-store")
    uri = copy_store(template_db, root)
    tracker = tracking.Tracker(uri)
    for result in demo_results():
        tracker.log_evaluation(result)
    return root / "mlflow.db"


@pytest.fixture
def demo_store(demo_db, tmp_path, monkeypatch) -> str:
    """A private copy of the demo store (its artifacts stay where they were logged)."""
    uri = copy_store(demo_db, tmp_path / "store")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture(scope="module")
def site(demo_db, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    build(out, uri=f"sqlite:///{demo_db}")
    return out


def page(site: Path, rel: str) -> str:
    return (site / rel).read_text()


def group_page(site: Path, ipc: int) -> str:
    return page(site, f"tables/digits-ipc{ipc}-hard-digits-hard-v1.html")


def all_html(site: Path) -> list[tuple[Path, str]]:
    return [(p, p.read_text()) for p in site.rglob("*.html")]


# ------------------------------------------------------------------ statistics


def test_welch_p_matches_scipy():
    from scipy.stats import ttest_ind

    rng = random.Random(1)
    for _ in range(100):
        a = [rng.gauss(80, rng.uniform(0.1, 3)) for _ in range(rng.randint(2, 6))]
        b = [rng.gauss(81, rng.uniform(0.1, 3)) for _ in range(rng.randint(2, 6))]
        assert welch_p(a, b) == pytest.approx(ttest_ind(a, b, equal_var=False).pvalue, rel=1e-9, abs=1e-12)
    assert welch_p([1.0], [1.0, 2.0]) is None  # one seed: undefined
    assert welch_p([1.0, 1.0], [2.0, 2.0]) is None  # no spread anywhere: undefined


def _entry(name, mean, cost, n=3):
    e = Entry(slug=name, parent_run_id=name, experiment_id="1", experiment_name="x", submission_id=name,
              submission_hash="0" * 64, method=name, kind="distilled", dataset="digits", ipc=10, label_regime="hard",
              protocol="p", protocol_version=1, protocol_hash="0" * 64, protocol_released=True, seeds=[],
              seeds_required=3, mean=mean, std=0.0, n=n)
    e.construction = {"gpu_hours": cost}
    return e


def test_pareto_front():
    a, b, c, d = _entry("a", 80, 0.0), _entry("b", 85, 1.0), _entry("c", 83, 2.0), _entry("d", 90, 10.0)
    incomplete = _entry("e", 99, 0.5, n=1)
    assert [e.slug for e in pareto_front([a, b, c, d, incomplete])] == ["a", "b", "d"]


def test_safe_url_links_only_http():
    assert safe_url("https://arxiv.org/abs/1") == "https://arxiv.org/abs/1"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//evil.example", "", None, "ftp://x"):
        assert safe_url(bad) is None


def test_one_jinja_environment_with_autoescape():
    env = make_environment(site_sources()[0])
    assert env.autoescape is True
    html = env.from_string("{{ x }}").render(x="<script>alert(1)</script>")
    assert html == "&lt;script&gt;alert(1)&lt;/script&gt;"


# ------------------------------------------------------------------ the site


def test_site_pages_and_numbers(site):
    names = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert {"index.html", "static/style.css", "static/site.js", "data/leaderboard.json"} <= names
    assert len([n for n in names if n.startswith("tables/")]) == 4
    assert len([n for n in names if n.startswith("entries/")]) == 14
    index = page(site, "index.html")
    assert "14</span> entries" in index and "4</span> tables" in index
    for facet in ("digits <b>14</b>", "digits-hard@v1 <b>14</b>", "hard <b>14</b>", "1 <b>4</b>", "5 <b>1</b>"):
        assert facet in index, facet
    g10 = group_page(site, 10)
    # mean +- std (n) and the difference to random with its Welch p-value
    assert re.search(r'85\.90</span> <span class="pm">± 0\.75</span> <span class="n"[^>]*>\(n=3\)', g10)
    dm = [r for r in demo_results() if r.submission.id == "dm-ipc10"][0]
    rnd = [r for r in demo_results() if r.submission.id == "random-ipc10"][0]
    p = welch_p(dm.accuracies, rnd.accuracies)
    assert "▲ +5.77" in g10 and f"p = {p:.3f}" in g10
    assert "▼ -2.00" in g10  # k-center is below random
    assert "random baseline</span>" in g10 and "DISTILLED" not in g10  # text, uppercase only via CSS
    for kind in ("distilled", "coreset", "baseline"):
        assert f'class="kind kind-{kind}"' in g10
    assert "best" not in g10.lower().split("<h2>plots</h2>")[0]  # never a best-of-seeds column
    assert g10.count("<svg") == 2 and "Pareto front" in g10
    # links are relative (file:// and any static host) and resolve
    for path, html in all_html(site):
        for href in re.findall(r'href="([^"]+)"', html):
            if href.startswith(("http://", "https://", "#")):
                continue
            assert not href.startswith("/"), (path, href)
            assert (path.parent / href).resolve().exists(), (path, href)
        assert "cdn" not in html.lower() and "<script src=\"http" not in html


def test_entry_page_provenance(site):
    path = next((site / "entries").glob("digits-dm-ipc10-*.html"))
    html = path.read_text()
    dm = [r for r in demo_results() if r.submission.id == "dm-ipc10"][0]
    assert dm.protocol.hash in html and dm.submission.content_hash in html
    assert "0123456789abcdef0123456789abcdef01234567" in html  # git commit
    assert "86.00, 85.10, 86.60" in html  # per-seed accuracies
    assert "condensebench evaluate submissions/digits/dm-ipc10 -p digits-hard@1 --seeds 3 --device cpu" in html
    assert html.count("<svg") == 2 and "training loss per epoch" in html
    assert "mlflow ui --backend-store-uri" in html  # no UI URL for a SQLite store: ids + how to open them
    assert 'href="https://arxiv.org/abs/2110.04181"' in html


def test_names_are_escaped_everywhere(site):
    raw = "<script>alert(1)</script>"
    found = False
    for path, html in all_html(site):
        assert raw not in html, path
        assert "<b>bold</b>" not in html, path
        assert "javascript:" not in html, path
        found |= "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert found
    data = json.loads(page(site, "data/leaderboard.json"))
    methods = {e["method"] for g in data["groups"] for e in g["entries"]}
    assert raw in methods  # the data keeps the name as it is; only HTML escapes it


def test_missing_random_baseline_is_stated(site):
    g5 = group_page(site, 5)
    assert "No random baseline at digits, IPC 5" in g5 and 'class="note warning"' in g5
    assert "no random baseline" in g5  # in the Δ column too
    assert "missing" in page(site, "index.html")
    entry = next((site / "entries").glob("digits-mtt-ipc5-*.html")).read_text()
    assert "No random baseline" in entry


def test_json_export(site):
    data = json.loads(page(site, "data/leaderboard.json"))
    assert data["schema_version"] == 1 and len(data["groups"]) == 4
    g10 = [g for g in data["groups"] if g["ipc"] == 10][0]
    assert g10["random_baseline"] and g10["random_baseline"].startswith("digits-random-ipc10")
    dm = [e for e in g10["entries"] if e["submission_id"] == "dm-ipc10"][0]
    assert dm["rank"] == 1 and dm["n"] == 3 and dm["mean"] == pytest.approx(85.9)
    assert dm["delta"] == pytest.approx(85.9 - 80.1333333, abs=1e-6) and 0 < dm["p_value"] < 0.05
    assert dm["accuracies"] == [86.0, 85.1, 86.6] and "curves" not in dm
    assert [e["rank"] for e in g10["entries"]] == [1, 2, 3, 4, 5]
    g5 = [g for g in data["groups"] if g["ipc"] == 5][0]
    assert g5["random_baseline"] is None and "No random baseline" in g5["random_baseline_note"]


def test_reevaluating_without_force_adds_no_entry(demo_store, tmp_path):
    tracking.log_evaluation(fake_result("dm-ipc10", [1.0, 2.0, 3.0], method="DM", ipc=10))  # same content
    info = build(tmp_path / "site", uri=demo_store)
    assert info["entries"] == 14
    g10 = [g for g in info["board"].groups if g.ipc == 10][0]
    dm = [e for e in g10.entries if e.submission_id == "dm-ipc10"]
    assert len(dm) == 1 and dm[0].mean == pytest.approx(85.9)


def test_cli_build_and_rebuild(demo_store, tmp_path, capsys):
    out = tmp_path / "site"
    assert main(["leaderboard", "build", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "14 entries in 4 tables" in text and "1 table(s) without a random baseline" in text
    (out / "entries" / "stale.html").write_text("old")
    assert main(["leaderboard", "build", "--out", str(out), "--mlflow-url", "http://mlflow.example:5000/"]) == 0
    assert not (out / "entries" / "stale.html").exists()  # the folder is rebuilt
    html = next((out / "entries").glob("digits-dm-ipc10-*.html")).read_text()
    assert re.search(r'href="http://mlflow\.example:5000/#/experiments/\d+/runs/[0-9a-f]{32}"', html)


def test_refuses_to_overwrite_a_foreign_folder(demo_store, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(CondenseBenchError, match="not a condensebench site"):
        build(out, uri=demo_store)
    assert (out / "thesis.tex").read_text() == "precious"


# ------------------------------------------------------------------ failing loudly


def test_fails_without_a_store(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CondenseBenchError, match="no tracking store"):
        build(tmp_path / "site")
    assert not (tmp_path / "mlflow.db").exists()  # not created as a side effect
    assert main(["leaderboard", "build", "--out", str(tmp_path / "site")]) == 2


def test_fails_on_an_empty_store(store_uri, tmp_path):
    with pytest.raises(CondenseBenchError, match="no condensebench evaluations"):
        build(tmp_path / "site", uri=store_uri)


def test_fails_on_an_unknown_protocol(demo_store, tmp_path):
    with pytest.raises(CondenseBenchError, match="no MLflow experiment for protocol 'digits-kd'"):
        build(tmp_path / "site", uri=demo_store, protocols=["digits-kd"])
    assert build(tmp_path / "site", uri=demo_store, protocols=["digits-hard@1"])["entries"] == 14


def test_fails_on_too_few_seeds_unless_allowed(store_uri, tmp_path):
    tracking.log_evaluation(fake_result("random-ipc10", [80.0, 81.0, 79.0], method="random", kind="baseline"))
    tracking.log_evaluation(fake_result("short-ipc10", [85.0]))  # digits-hard asks for 3 seeds
    with pytest.raises(CondenseBenchError, match="short-ipc10 under digits-hard@v1: 1 of 3 seeds"):
        build(tmp_path / "site", uri=store_uri)
    info = build(tmp_path / "site", uri=store_uri, allow_incomplete=True)
    html = (tmp_path / "site" / "tables" / "digits-ipc10-hard-digits-hard-v1.html").read_text()
    assert "incomplete" in html
    short = [e for e in info["board"].entries if e.submission_id == "short-ipc10"][0]
    assert short.rank is None and short.p_value is None  # one seed: no rank, no test


def test_fails_on_a_protocol_without_finished_evaluations(store_uri, tmp_path):
    tracking.log_evaluation(fake_result("ok-ipc10", [80.0, 81.0, 79.0]))
    client = MlflowClient(store_uri)
    broken = fake_result("kd-ipc10", [80.0, 81.0, 79.0], protocol="digits-kd")
    run_id = tracking.log_evaluation(broken)
    client.set_terminated(run_id, "FAILED")
    with pytest.raises(CondenseBenchError, match="no finished evaluations in condensebench/digits-kd@v1"):
        build(tmp_path / "site", uri=store_uri)
    info = build(tmp_path / "site", uri=store_uri, protocols=["digits-hard"])
    assert info["entries"] == 1


def test_unfinished_evaluations_are_listed_not_shown(store_uri, tmp_path, capsys):
    tracking.log_evaluation(fake_result("ok-ipc10", [80.0, 81.0, 79.0]))
    client = MlflowClient(store_uri)
    run_id = tracking.log_evaluation(fake_result("crashed-ipc10", [80.0, 81.0, 79.0]))
    client.set_terminated(run_id, "FAILED")
    info = build(tmp_path / "site", uri=store_uri)
    assert info["entries"] == 1 and "crashed-ipc10" in capsys.readouterr().err
    assert "crashed-ipc10" in (tmp_path / "site" / "index.html").read_text()


def test_fails_when_the_parent_disagrees_with_its_seed_runs(store_uri, tmp_path):
    run_id = tracking.log_evaluation(fake_result("odd-ipc10", [80.0, 81.0, 79.0]))
    client = MlflowClient(store_uri)
    client.set_tag(run_id, "cb.seed_runs", "")  # force the reader to the child runs
    client.delete_run(client.search_runs([client.get_run(run_id).info.experiment_id],
                                         "tags.`cb.role` = 'seed'")[0].info.run_id)
    with pytest.raises(CondenseBenchError, match="the parent records 3.0 seeds but 2 finished seed runs exist"):
        build(tmp_path / "site", uri=store_uri)


# ------------------------------------------------------------------ a real server


@pytest.mark.slow
def test_build_from_a_real_mlflow_server(mlflow_server, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    for result in demo_results()[:4]:  # IPC 1: random, herding, DM, k-center
        tracking.log_evaluation(result)
    tracking.log_evaluation(demo_results()[0])  # again: reused, no duplicate
    out = tmp_path / "site"
    assert main(["leaderboard", "build", "--out", str(out)]) == 0
    data = json.loads((out / "data" / "leaderboard.json").read_text())
    assert data["source"] == mlflow_server
    [group] = [g for g in data["groups"] if g["ipc"] == 1]
    assert len(group["entries"]) == 4 and group["random_baseline"]
    html = next((out / "entries").glob("digits-dm-ipc1-*.html")).read_text()
    assert f'href="{mlflow_server}/#/experiments/' in html  # links into the server's UI
    assert "training loss per epoch" in html  # curves downloaded through the artifact proxy


def test_local_protocol_variants_are_left_out_unless_asked_for(demo_store, tmp_path):
    from condensebench.result import EvaluationResult

    data = fake_result("variant-ipc10", [80.0, 81.0, 82.0]).model_dump(mode="json")
    data["protocol"]["hash"] = "cd" * 32  # a local file reusing digits-hard@v1's name and version
    tracking.log_evaluation(EvaluationResult.model_validate(data))
    assert build(tmp_path / "a", uri=demo_store)["entries"] == 14
    info = build(tmp_path / "b", uri=demo_store, include_variants=True)
    assert info["entries"] == 15
    page_ = (tmp_path / "b" / "tables" / f"digits-ipc10-hard-digits-hard-v1-{'cd' * 6}.html").read_text()
    assert "not a released protocol" in page_ and "No random baseline" in page_


def test_construction_cost_basis():
    gpu = _entry("g", 80, 2.0)
    assert gpu.cost_basis == "gpu" and gpu.cost_hours == 2.0 and gpu.cost_unit == "GPU-hours"
    cpu = _entry("c", 80, 0.0)
    cpu.construction.update(wall_clock_hours=0.01, device="cpu")  # a CPU-built set reporting 0 GPU-hours
    assert cpu.cost_basis == "wall" and cpu.cost_hours == 0.01 and cpu.cost_unit == "wall-clock hours (cpu)"
    none = _entry("n", 80, None)
    assert none.cost_basis is None and none.cost_hours is None
