"""A large tracking store for the leaderboard benchmark, generated quickly.

Logging 10,000 runs one by one through `MlflowClient` costs ~30-200 ms a run on SQLite
(minutes to tens of minutes), so the runs are bulk-inserted with MLflow's own table
definitions (`mlflow.store.tracking.dbmodels.models`), shaped exactly like the runs
`condensebench.tracking` writes: the same tags, params, final metrics (`latest_metrics`
too), per-epoch curves (`metrics` history) and a `curves.json` artifact per parent. One
entry is logged through the real API (`Tracker.log_evaluation`) as a control, and the
builder reads the whole store back through the public client only. If MLflow changes its
schema, the inserts fail loudly here rather than producing a wrong store.
"""
from __future__ import annotations

import json
import random
import time
import uuid
from pathlib import Path

from condensebench.protocol import load_protocol, protocol_hash
from condensebench.result import mean_std
from condensebench.tracking import EntryContext, Tracker
from condensebench.tracking import store as cbstore
from condensebench.tracking.evaluation import environment_tags

IPCS = (1, 5, 10, 20, 50)
PROTOCOLS = ("digits-hard", "digits-kd")
KINDS = ("distilled", "coreset", "baseline")
ENV = {"condensebench": "0.1.0", "git_commit": "0" * 40, "python": "3.11.2", "torch": "2.14.1",
       "torchvision": "0.29.1", "device": "cpu", "device_name": "Bench CPU", "platform": "Linux", "backend": "local"}


def generate(uri: str, *, runs: int = 10_000, seeds: int = 3, epochs: int = 30, rng_seed: int = 0) -> dict:
    """Fill the (empty, migrated) SQLite store at `uri` with about `runs` runs: entries of one
    parent plus `seeds` children, spread over protocols x IPCs, each table with a random
    baseline. Returns counts."""
    import sqlalchemy as sa
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam, SqlRun, SqlTag

    rng = random.Random(rng_seed)
    tracker = Tracker(uri)
    entries_total = runs // (seeds + 1)
    protos = [load_protocol(p) for p in PROTOCOLS]
    groups = [(p, ipc) for p in protos for ipc in IPCS]
    rows = {"runs": [], "tags": [], "params": [], "metrics": [], "latest": []}
    now = int(time.time() * 1000)
    artifact_files: list[tuple[Path, dict]] = []
    experiments = {}
    n_entries = 0
    for p in protos:
        ctx = _ctx("probe", "random", "baseline", 1, p)
        experiments[p.name] = tracker.protocol_experiment(ctx, released=True)[0]
    # artifact URIs follow MLflow's layout: <experiment artifact location>/<run id>/artifacts
    locations = {eid: tracker.client.get_experiment(eid).artifact_location for eid in experiments.values()}
    exp_dirs = {name: _local_dir(locations[eid]) for name, eid in experiments.items()}

    def add_run(eid: str, name: str, tags: dict, params: dict, metrics: dict, curves: dict | None, t0: int,
                rid: str | None = None) -> str:
        rid = rid or uuid.UUID(int=rng.getrandbits(128)).hex
        rows["runs"].append({"run_uuid": rid, "name": name, "source_type": "LOCAL", "source_name": "", "entry_point_name": "",
                             "user_id": "bench", "status": "FINISHED", "start_time": t0, "end_time": t0 + 1000,
                             "deleted_time": None, "source_version": "", "lifecycle_stage": "active",
                             "artifact_uri": f"{locations[eid]}/{rid}/artifacts", "experiment_id": int(eid)})
        rows["tags"].extend({"key": k, "value": v, "run_uuid": rid} for k, v in {**tags, cbstore.RUN_NAME: name}.items())
        rows["params"].extend({"key": k, "value": v, "run_uuid": rid} for k, v in params.items())
        for k, v in metrics.items():
            m = {"key": k, "value": float(v), "timestamp": t0, "step": 0, "is_nan": False, "run_uuid": rid}
            rows["metrics"].append(m)
            rows["latest"].append(dict(m))
        for k, values in (curves or {}).items():
            for step, v in enumerate(values):
                rows["metrics"].append({"key": k, "value": float(v), "timestamp": t0, "step": step, "is_nan": False,
                                        "run_uuid": rid})
            rows["latest"].append({"key": k, "value": float(values[-1]), "timestamp": t0, "step": len(values) - 1,
                                   "is_nan": False, "run_uuid": rid})
        return rid

    for gi, (proto, ipc) in enumerate(groups):
        per_group = entries_total // len(groups) + (1 if gi < entries_total % len(groups) else 0)
        eid = experiments[proto.name]
        base_acc = 30 + 60 * (1 - 1 / (1 + ipc / 5))
        for i in range(per_group):
            if i == 0:
                method, kind, sub_id = "random", "baseline", f"random-ipc{ipc}"
            else:
                kind = KINDS[i % 2]
                method = f"method-{i % 60:02d}"
                sub_id = f"{method}-ipc{ipc}-v{i}"
            ctx = _ctx(sub_id, method, kind, ipc, proto)
            shift = 0.0 if i == 0 else rng.gauss(3, 4)
            accs = [min(99.9, base_acc + shift + rng.gauss(0, 1)) for _ in range(seeds)]
            t0 = now - rng.randint(0, 90) * 86_400_000
            ptags = {cbstore.ROLE: "parent", **ctx.identity_tags(True), **ctx.metadata_tags(), **environment_tags(ENV),
                     "cb.created": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t0 / 1000)),
                     "cb.has_result": "true", "cb.seeds": ",".join(map(str, range(seeds)))}
            params = {"submission_id": sub_id, "submission_content_hash": ctx.content_hash,
                      "protocol_hash": ctx.protocol_hash, "ipc": str(ipc), **cbstore.flatten(ctx.protocol_resolved, "protocol")}
            m, sd = mean_std(accs)
            pmetrics = {"top1_mean": m, "top1_std": sd, "n_seeds": seeds, "evaluation_seconds": 30.0 * seeds,
                        "wall_clock_seconds": 31.0 * seeds, "images_per_second": 5000.0, "peak_memory_mb": 300.0,
                        "storage_bytes": 400.0 * ipc, **ctx.construction_metrics()}
            pid = uuid.UUID(int=rng.getrandbits(128)).hex
            all_curves, seed_rows = {}, []
            for s, acc in enumerate(accs):
                curves = {"loss": [2.3 / (1 + e) + 0.01 * s for e in range(epochs)],
                          "train_acc": [min(100.0, acc * (e + 1) / epochs + 5) for e in range(epochs)],
                          "lr": [0.01] * epochs}
                all_curves[str(s)] = curves
                ctags = {cbstore.ROLE: "seed", cbstore.SEED: str(s), cbstore.PARENT: pid, **ctx.identity_tags(True),
                         "cb.kind": kind, "cb.method": method, **environment_tags(ENV)}
                cparams = {"seed": str(s), "backend": "local", "submission_id": sub_id,
                           "submission_content_hash": ctx.content_hash, "protocol_hash": ctx.protocol_hash, "device": "cpu"}
                cmetrics = {"top1": acc, "train_seconds": 29.0, "eval_seconds": 1.0, "wall_clock_seconds": 30.0,
                            "images_per_second": 5000.0, "peak_memory_mb": 300.0}
                cid = add_run(eid, f"{sub_id} seed {s}", ctags, cparams, cmetrics, curves, t0 + 10 + s)
                seed_rows.append({"seed": s, "run": cid, "top1": acc, "top5": None, "train_s": 29.0, "eval_s": 1.0,
                                  "ips": 5000.0, "mem_mb": 300.0, "hw": ENV["device_name"], "dev": "cpu"})
            ptags[cbstore.SEED_RUNS] = json.dumps(seed_rows, separators=(",", ":"))
            add_run(eid, ctx.label, ptags, params, pmetrics, None, t0, rid=pid)
            artifact_files.append((exp_dirs[proto.name] / pid / "artifacts" / "curves.json", all_curves))
            n_entries += 1
    engine = sa.create_engine(uri)
    with engine.begin() as conn:
        conn.execute(sa.insert(SqlRun.__table__), rows["runs"])
        conn.execute(sa.insert(SqlTag.__table__), rows["tags"])
        conn.execute(sa.insert(SqlParam.__table__), rows["params"])
        conn.execute(sa.insert(SqlMetric.__table__), rows["metrics"])
        conn.execute(sa.insert(SqlLatestMetric.__table__), rows["latest"])
    engine.dispose()
    for path, data in artifact_files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, separators=(",", ":")))
    return {"runs": len(rows["runs"]), "entries": n_entries, "groups": len(groups),
            "metric_rows": len(rows["metrics"]), "tag_rows": len(rows["tags"]), "param_rows": len(rows["params"])}


def _local_dir(location: str) -> Path:
    from urllib.parse import unquote, urlsplit

    return Path(unquote(urlsplit(location).path)) if location.startswith("file:") else Path(location)


def _ctx(sub_id: str, method: str, kind: str, ipc: int, proto) -> EntryContext:
    import hashlib

    h = hashlib.sha256(sub_id.encode()).hexdigest()
    if kind == "baseline":
        cost = {"reported_by": "measured", "wall_clock_hours": 0.0, "device": "cpu"}
    else:
        cost = {"reported_by": "self", "gpu_hours": round(0.1 * ipc * (1 + int(h[:4], 16) % 7), 3), "gpu_model": "A100"}
    return EntryContext(
        submission_id=sub_id, kind=kind, method=method, dataset="digits", ipc=ipc,
        content_hash=h, label_regime=proto.label_regime,
        protocol=proto.name, protocol_version=proto.version, protocol_hash=protocol_hash(proto),
        protocol_resolved=proto.model_dump(mode="json"), seeds_required=proto.seeds, construction_cost=cost,
        paper={"title": f"Paper for {method}", "url": "https://example.org/paper", "venue": "Bench", "year": 2025},
        submission_path=f"submissions/digits/{sub_id}",
    )
