"""MLflow -> `Board`. Reads runs through `MlflowClient.search_runs` with explicit experiment
ids (Run objects, never DataFrames) and fails loudly instead of rendering an empty or
partial leaderboard:

* no `condensebench/...` experiment in the store, or a protocol asked for that has none;
* a protocol experiment without a single finished evaluation;
* an evaluation with fewer finished seeds than its protocol requires (unless allowed);
* a parent run whose `n_seeds` disagrees with its finished seed runs, or that lacks a tag.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import CondenseBenchError
from ..result import mean_std
from ..tracking import store
from ..tracking.store import (
    CONSTRUCTION_EXPERIMENT, EXPERIMENT_PREFIX, PARENT, PROTOCOL, PROTOCOL_HASH, PROTOCOL_RELEASED, PROTOCOL_VERSION,
    ROLE, SEED, SEED_RUNS, SEEDS_REQUIRED, SUBMISSION, SUBMISSION_HASH,
)
from .model import Board, Entry, Group, SeedRun, slugify
from .stats import analyse

ENV_TAGS = {"git_commit": "cb.git_commit", "image_digest": "cb.image_digest", "image_id": "cb.image_id",
            "backend": "cb.backend", "hardware": "cb.hardware", "device": "cb.device", "torch": "cb.torch",
            "torchvision": "cb.torchvision", "cuda": "cb.cuda", "python": "cb.python", "platform": "cb.platform",
            "gpu_driver": "cb.gpu_driver", "condensebench": "cb.version"}
REQUIRED_TAGS = (SUBMISSION, SUBMISSION_HASH, PROTOCOL, PROTOCOL_VERSION, PROTOCOL_HASH, SEEDS_REQUIRED,
                 "cb.kind", "cb.method", "cb.dataset", "cb.ipc", "cb.label_regime")


def _parse_protocol_ref(ref: str) -> tuple[str, int | None]:
    name, _, version = ref.partition("@")
    version = version.lstrip("v")
    if version and not version.isdigit():
        raise CondenseBenchError(f"--protocol {ref!r}: expected NAME or NAME@VERSION (e.g. digits-hard@1)")
    return name, int(version) if version else None


def protocol_experiments(client, protocols: list[str] | None = None, *, include_variants: bool = False) -> list:
    """The active `condensebench/<protocol>@v<N>` experiments (construction excluded). Local
    protocol variants (`...~<hash>`, not a released protocol file) only when asked for."""
    from mlflow.entities import ViewType

    found, token = [], None
    while True:
        page = client.search_experiments(view_type=ViewType.ACTIVE_ONLY, max_results=1000,
                                         filter_string=f"name LIKE '{EXPERIMENT_PREFIX}%'", page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            break
    exps = [e for e in found if e.name != CONSTRUCTION_EXPERIMENT and e.tags.get(ROLE) == "protocol"
            and (include_variants or e.tags.get(PROTOCOL_RELEASED) == "true")]
    if not protocols:
        return sorted(exps, key=lambda e: e.name)
    chosen = []
    for ref in protocols:
        name, version = _parse_protocol_ref(ref)
        match = [e for e in exps if e.tags.get(PROTOCOL) == name
                 and (version is None or e.tags.get(PROTOCOL_VERSION) == str(version))]
        if not match:
            have = ", ".join(e.name for e in exps) or "none"
            raise CondenseBenchError(f"no MLflow experiment for protocol {ref!r} (experiments: {have})")
        chosen.extend(m for m in match if m not in chosen)
    return sorted(chosen, key=lambda e: e.name)


def _f(metrics: dict, key: str) -> float | None:
    v = metrics.get(key)
    return None if v is None else float(v)


def _date(run) -> str:
    created = run.data.tags.get("cb.created", "")
    if created:
        return created[:10]
    ts = run.info.end_time or run.info.start_time
    return dt.datetime.fromtimestamp(ts / 1000, dt.timezone.utc).strftime("%Y-%m-%d") if ts else ""


def _seeds_from_tag(parent) -> list[SeedRun] | None:
    """The per-seed numbers the parent carries (`cb.seed_runs`), None when it has none."""
    text = parent.data.tags.get(SEED_RUNS)
    if not text:
        return None
    try:
        rows = json.loads(text)
        return [SeedRun(seed=int(r["seed"]), top1=float(r["top1"]), run_id=str(r["run"]), top5=r.get("top5"),
                        train_seconds=r.get("train_s"), eval_seconds=r.get("eval_s"), images_per_second=r.get("ips"),
                        peak_memory_mb=r.get("mem_mb"), hardware=r.get("hw") or "", device=r.get("dev") or "")
                for r in rows]
    except (ValueError, KeyError, TypeError) as exc:
        raise CondenseBenchError(f"run {parent.info.run_id}: unreadable tag {SEED_RUNS}: {exc}") from exc


def _seeds_from_children(client, parent) -> list[SeedRun]:
    """The per-seed numbers from the finished child runs (parents without `cb.seed_runs`)."""
    filt = store.tag_filter(**{ROLE: "seed", PARENT: parent.info.run_id})
    seeds = []
    for c in store.search_all(client, [parent.info.experiment_id], filt):
        if c.info.status != "FINISHED":
            continue
        cm, ct = c.data.metrics, c.data.tags
        if "top1" not in cm or SEED not in ct:
            raise CondenseBenchError(f"seed run {c.info.run_id} of {parent.info.run_id} has no top1 metric or seed tag")
        seeds.append(SeedRun(seed=int(ct[SEED]), top1=float(cm["top1"]), run_id=c.info.run_id, top5=_f(cm, "top5"),
                             train_seconds=_f(cm, "train_seconds"), eval_seconds=_f(cm, "eval_seconds"),
                             images_per_second=_f(cm, "images_per_second"), peak_memory_mb=_f(cm, "peak_memory_mb"),
                             hardware=ct.get("cb.hardware", ""), device=ct.get("cb.device", "")))
    return seeds


def _entry(client, parent, experiment) -> Entry:
    t, m, rid = parent.data.tags, parent.data.metrics, parent.info.run_id
    missing = [k for k in REQUIRED_TAGS if not t.get(k)]
    if missing:
        raise CondenseBenchError(
            f"MLflow run {rid} in {experiment.name} lacks tags {missing}: it was not logged by condensebench "
            "(delete it or move it out of the experiment)")
    seeds = _seeds_from_tag(parent)
    if seeds is None:
        seeds = _seeds_from_children(client, parent)
    seeds.sort(key=lambda s: s.seed)
    if len({s.seed for s in seeds}) != len(seeds):
        raise CondenseBenchError(f"run {rid} ({experiment.name}) has two finished runs for one seed")
    declared = m.get("n_seeds")
    if declared is None or int(declared) != len(seeds):
        raise CondenseBenchError(
            f"{t[SUBMISSION]} under {experiment.name} (run {rid}): the parent records {declared} seeds but "
            f"{len(seeds)} finished seed runs exist; re-run `condensebench evaluate` for it")
    mean, std = mean_std([s.top1 for s in seeds])
    top5 = [s.top5 for s in seeds]
    t5 = mean_std(top5) if top5 and all(v is not None for v in top5) else (None, None)
    construction = {k: _f(m, f"construction_{k}") for k in ("gpu_hours", "wall_clock_hours", "peak_memory_gb",
                                                               "scoring_model_hours")}
    construction.update(reported_by=t.get("cb.construction_reported_by", ""), gpu_model=t.get("cb.construction_gpu_model", ""),
                        device=t.get("cb.construction_device", ""))
    version = int(t[PROTOCOL_VERSION])
    return Entry(
        slug=slugify(f"{t['cb.dataset']}-{t[SUBMISSION]}-{t[PROTOCOL]}-v{version}-{rid[:8]}"),
        parent_run_id=rid, experiment_id=experiment.experiment_id, experiment_name=experiment.name,
        submission_id=t[SUBMISSION], submission_hash=t[SUBMISSION_HASH], method=t["cb.method"], kind=t["cb.kind"],
        dataset=t["cb.dataset"], ipc=int(t["cb.ipc"]), label_regime=t["cb.label_regime"], protocol=t[PROTOCOL],
        protocol_version=version, protocol_hash=t[PROTOCOL_HASH],
        protocol_released=t.get(PROTOCOL_RELEASED, "false") == "true", seeds=seeds,
        seeds_required=int(t[SEEDS_REQUIRED]), mean=mean, std=std, n=len(seeds), top5_mean=t5[0], top5_std=t5[1],
        construction=construction, storage_bytes=_f(m, "storage_bytes"), evaluation_seconds=_f(m, "evaluation_seconds"),
        paper_title=t.get("cb.paper_title", ""), paper_url=t.get("cb.paper_url", ""),
        paper_venue=t.get("cb.paper_venue", ""), paper_year=t.get("cb.paper_year", ""), date=_date(parent),
        submission_path=t.get("cb.submission_path", ""),
        environment={k: t[v] for k, v in ENV_TAGS.items() if t.get(v)}, artifact_uri=parent.info.artifact_uri or "",
    )


def collect(client, *, uri: str, protocols: list[str] | None = None, allow_incomplete: bool = False,
            include_variants: bool = False, mlflow_ui: str | None = None, curves: bool = True, workers: int = 8,
            warn=None) -> Board:
    """Read every finished evaluation of the chosen protocols into a ranked `Board`."""
    warn = warn or (lambda msg: print(f"condensebench: warning: {msg}", file=sys.stderr))
    exps = protocol_experiments(client, protocols, include_variants=include_variants)
    if not exps:
        raise CondenseBenchError(
            f"no condensebench evaluations under a released protocol in the tracking store {store.display_uri(uri)}: "
            "run `condensebench evaluate` (or `make evaluate`) first, set MLFLOW_TRACKING_URI to the store that has "
            "them, or pass --include-variants for local protocol files")
    by_id = {e.experiment_id: e for e in exps}
    ids = list(by_id)
    # Parents only: each carries its seeds' numbers and run ids (cb.seed_runs), so one run
    # is read per entry; children are searched only for parents without that tag.
    parents = list(store.search_all(client, ids, store.tag_filter(**{ROLE: "parent"})))

    board = Board(groups=[], source=store.display_uri(uri),
                  generated=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                  mlflow_ui=(mlflow_ui or store.ui_base(uri) or None))
    finished_per_exp = {eid: 0 for eid in ids}
    chosen: dict[tuple, object] = {}
    for run in sorted(parents, key=lambda r: (r.info.start_time or 0, r.info.run_id)):
        t = run.data.tags
        if run.info.status != "FINISHED":
            board.unfinished.append({"run_id": run.info.run_id, "experiment": by_id[run.info.experiment_id].name,
                                     "submission": t.get(SUBMISSION, "?"), "status": run.info.status})
            continue
        finished_per_exp[run.info.experiment_id] += 1
        key = (t.get(SUBMISSION_HASH), t.get(PROTOCOL_HASH))
        if key in chosen:  # concurrent first evaluations: the tracker uses the oldest parent too
            board.warnings.append(f"duplicate evaluation run {run.info.run_id} of {t.get(SUBMISSION)} ignored "
                                  f"(kept {chosen[key].info.run_id})")
            continue
        chosen[key] = run
    empty = [by_id[eid].name for eid, n in finished_per_exp.items() if n == 0]
    if empty:
        raise CondenseBenchError(
            f"no finished evaluations in {', '.join(empty)}: finish them (condensebench evaluate), delete the "
            "experiment, or build from the other protocols with --protocol")
    entries = [_entry(client, run, by_id[run.info.experiment_id]) for run in chosen.values()]
    incomplete = [e for e in entries if not e.complete]
    if incomplete and not allow_incomplete:
        lines = "; ".join(f"{e.submission_id} under {e.protocol}@v{e.protocol_version}: {e.n} of {e.seeds_required} seeds"
                          for e in incomplete[:10])
        more = f" (and {len(incomplete) - 10} more)" if len(incomplete) > 10 else ""
        raise CondenseBenchError(
            f"{len(incomplete)} evaluation(s) have fewer seeds than their protocol requires: {lines}{more}. "
            "Run the missing seeds (condensebench evaluate ... --seeds N), or pass --allow-incomplete to show "
            "them unranked and marked")
    for u in board.unfinished:
        warn(f"evaluation of {u['submission']} in {u['experiment']} is {u['status']} (run {u['run_id']}): not shown")
    for w in board.warnings:
        warn(w)
    _link_constructions(client, entries)
    groups: dict[tuple, Group] = {}
    for e in entries:
        g = groups.get(e.group_key)
        if g is None:
            g = groups[e.group_key] = Group(e.dataset, e.ipc, e.label_regime, e.protocol, e.protocol_version,
                                            e.protocol_hash, e.protocol_released)
        g.entries.append(e)
    board.groups = [analyse(g) for g in sorted(groups.values(), key=lambda g: (
        g.dataset, g.label_regime, g.protocol, g.protocol_version, g.protocol_hash, g.ipc))]
    if curves:
        load_curves(client, entries, workers=workers)
    return board


def _link_constructions(client, entries: list[Entry]) -> None:
    exp = client.get_experiment_by_name(CONSTRUCTION_EXPERIMENT)
    if exp is None or exp.lifecycle_stage != "active":
        return  # optional: only the project's own baselines have construction runs
    runs = store.search_all(client, [exp.experiment_id], store.tag_filter(**{ROLE: "construction"}))
    by_hash = {r.data.tags.get(SUBMISSION_HASH): r.info.run_id for r in runs if r.info.status == "FINISHED"}
    for e in entries:
        e.construction_run_id = by_hash.get(e.submission_hash)


def _local_artifact_dir(artifact_uri: str) -> Path | None:
    if artifact_uri.startswith("file://"):
        return Path(unquote(urlsplit(artifact_uri).path))
    if "://" not in artifact_uri and ":" not in artifact_uri.split("/", 1)[0]:
        return Path(artifact_uri)
    return None


def load_curves(client, entries: list[Entry], *, workers: int = 8) -> None:
    """Each entry's `curves.json` artifact (all seeds), read in place from a local artifact
    root, else downloaded (in parallel). An entry without one shows no curves."""
    import tempfile

    def fetch(e: Entry):
        local = _local_artifact_dir(e.artifact_uri)
        try:
            if local is not None:
                path = local / "curves.json"
                return json.loads(path.read_text()) if path.is_file() else None
            with tempfile.TemporaryDirectory(prefix="cb-curves-") as tmp:
                return json.loads(Path(client.download_artifacts(e.parent_run_id, "curves.json", tmp)).read_text())
        except Exception:  # noqa: BLE001 - a missing artifact only hides the plot
            return None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for e, curves in zip(entries, pool.map(fetch, entries)):
            e.curves = curves
