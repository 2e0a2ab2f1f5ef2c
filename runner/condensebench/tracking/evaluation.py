"""Evaluations in MLflow: one parent run per (submission content hash, protocol hash), one
nested child run per seed.

    experiment  condensebench/<protocol>@v<N>           (one per protocol version)
      parent    <submission id> @ <protocol>@v<N>       tags cb.role=parent, cb.submission_hash, cb.protocol_hash, ...
                                                        metrics top1_mean, top1_std, n_seeds, costs
                                                        params protocol.* (resolved protocol, flattened)
        child   <submission id> seed <s>                tags cb.role=seed, cb.seed, mlflow.parentRunId
                                                        metrics top1, top5, timings + loss/train_acc/lr curves by epoch

A (submission hash, protocol hash, seed) that is already tracked is reused, never logged
twice, unless the caller forces a re-run; the replaced child is then soft-deleted
(`mlflow runs restore` brings it back).
"""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CondenseBenchError
from ..result import EvaluationResult, SeedRecord, mean_std
from . import store
from .store import (
    PARENT, PROTOCOL, PROTOCOL_HASH, PROTOCOL_RELEASED, PROTOCOL_VERSION, ROLE, RUN_NAME, SEED, SEED_RUNS,
    SEEDS_REQUIRED, SUBMISSION, SUBMISSION_HASH,
)

CURVES = ("loss", "train_acc", "lr")


@dataclass
class EntryContext:
    """What identifies and describes one (submission, protocol) evaluation before it runs."""

    submission_id: str
    kind: str
    method: str
    dataset: str
    ipc: int
    content_hash: str
    label_regime: str
    protocol: str
    protocol_version: int
    protocol_hash: str
    protocol_resolved: dict
    seeds_required: int
    construction_cost: dict = field(default_factory=dict)
    paper: dict | None = None
    submission_path: str | None = None

    @classmethod
    def from_submission(cls, submission, directory, protocol) -> "EntryContext":
        """From a parsed `submission.yaml` and a `Protocol`, without loading any data."""
        from ..protocol import protocol_hash
        from ..submission.loader import content_hash

        return cls(
            submission_id=submission.id, kind=submission.kind, method=submission.method, dataset=submission.dataset,
            ipc=submission.ipc, content_hash=content_hash(submission), label_regime=protocol.label_regime,
            protocol=protocol.name, protocol_version=protocol.version, protocol_hash=protocol_hash(protocol),
            protocol_resolved=protocol.model_dump(mode="json"), seeds_required=protocol.seeds,
            construction_cost=submission.construction_cost.model_dump(mode="json"),
            paper=submission.paper.model_dump(mode="json") if submission.paper else None,
            submission_path=str(directory),
        )

    @classmethod
    def from_result(cls, result: EvaluationResult) -> "EntryContext":
        sub, proto = result.submission, result.protocol
        return cls(
            submission_id=sub.id, kind=sub.kind, method=sub.method, dataset=sub.dataset, ipc=sub.ipc,
            content_hash=sub.content_hash, label_regime=proto.label_regime, protocol=proto.name,
            protocol_version=proto.version, protocol_hash=proto.hash, protocol_resolved=proto.resolved,
            seeds_required=int(proto.resolved.get("seeds", len(result.per_seed)) or len(result.per_seed)),
            construction_cost=dict(sub.construction_cost), paper=sub.paper, submission_path=sub.path,
        )

    @property
    def label(self) -> str:
        return f"{self.submission_id} @ {self.protocol}@v{self.protocol_version}"

    def identity_tags(self, released: bool) -> dict[str, str]:
        return {
            SUBMISSION: self.submission_id, SUBMISSION_HASH: self.content_hash,
            PROTOCOL: self.protocol, PROTOCOL_VERSION: str(self.protocol_version), PROTOCOL_HASH: self.protocol_hash,
            PROTOCOL_RELEASED: "true" if released else "false",
            "cb.dataset": self.dataset, "cb.ipc": str(self.ipc), "cb.label_regime": self.label_regime,
            SEEDS_REQUIRED: str(self.seeds_required),
        }

    def metadata_tags(self) -> dict[str, str]:
        """Descriptive fields that are not part of the content hash and may be corrected later."""
        cost = self.construction_cost or {}
        paper = self.paper or {}
        tags = {
            "cb.kind": self.kind, "cb.method": self.method,
            "cb.paper_title": paper.get("title") or "", "cb.paper_url": paper.get("url") or "",
            "cb.paper_venue": paper.get("venue") or "", "cb.paper_year": str(paper.get("year") or ""),
            "cb.construction_reported_by": cost.get("reported_by") or "",
            "cb.construction_gpu_model": cost.get("gpu_model") or "",
            "cb.construction_device": cost.get("device") or "",
            "cb.submission_path": self.submission_path or "",
        }
        return {k: store.tag_value(v) for k, v in tags.items()}

    def construction_metrics(self) -> dict[str, float]:
        cost = self.construction_cost or {}
        keys = ("gpu_hours", "wall_clock_hours", "peak_memory_gb", "scoring_model_hours")
        return {f"construction_{k}": float(cost[k]) for k in keys if cost.get(k) is not None}


def environment_tags(env: dict) -> dict[str, str]:
    keys = {
        "cb.git_commit": "git_commit", "cb.image_digest": "image_digest", "cb.image_id": "image_id",
        "cb.backend": "backend", "cb.device": "device", "cb.hardware": "device_name", "cb.torch": "torch",
        "cb.torchvision": "torchvision", "cb.cuda": "cuda", "cb.python": "python", "cb.platform": "platform",
        "cb.gpu_driver": "gpu_driver", "cb.version": "condensebench",
    }
    return {tag: store.tag_value(env.get(k)) for tag, k in keys.items() if env.get(k) not in (None, "")}


def seed_metrics(rec: SeedRecord) -> dict[str, float]:
    out = {
        "top1": rec.top1, "top5": rec.top5, "train_seconds": rec.train_seconds, "eval_seconds": rec.eval_seconds,
        "wall_clock_seconds": rec.train_seconds + rec.eval_seconds, "images_per_second": rec.images_per_second,
        "peak_memory_mb": rec.peak_memory_mb,
    }
    return {k: v for k, v in out.items() if v is not None}


def aggregate_metrics(result: EvaluationResult) -> dict[str, float]:
    recs = result.per_seed
    top1 = mean_std([r.top1 for r in recs])
    out = {
        "top1_mean": top1[0], "top1_std": top1[1], "n_seeds": float(len(recs)),
        "evaluation_seconds": sum(r.train_seconds + r.eval_seconds for r in recs),
        "wall_clock_seconds": result.wall_clock_seconds,
        "images_per_second": mean_std([r.images_per_second for r in recs])[0],
        "peak_memory_mb": max(r.peak_memory_mb for r in recs),
        "storage_bytes": float(result.submission.storage_bytes),
    }
    if all(r.top5 is not None for r in recs):
        top5 = mean_std([r.top5 for r in recs])
        out.update(top5_mean=top5[0], top5_std=top5[1])
    return out


def combine(template: EvaluationResult, records: list[SeedRecord]) -> EvaluationResult:
    """`template` (a fresh evaluation, or one rebuilt from MLflow) with its per-seed records
    replaced by `records`: seeds sorted, mean and std recomputed. The wall-clock of reused seeds
    (their train + eval time) is added to the template's."""
    by_seed = {r.seed: r for r in records}
    recs = [by_seed[s] for s in sorted(by_seed)]
    if not recs:
        raise CondenseBenchError("an evaluation needs at least one seed")
    fresh = {r.seed for r in template.per_seed}
    extra = sum(r.train_seconds + r.eval_seconds for r in recs if r.seed not in fresh)
    top1 = mean_std([r.top1 for r in recs])
    top5 = mean_std([r.top5 for r in recs]) if all(r.top5 is not None for r in recs) else (None, None)
    data = template.model_dump(mode="json")
    data.update(
        seeds=[r.seed for r in recs], per_seed=[r.model_dump(mode="json") for r in recs],
        top1_mean=top1[0], top1_std=top1[1], top5_mean=top5[0], top5_std=top5[1],
        wall_clock_seconds=template.wall_clock_seconds + extra,
    )
    return EvaluationResult.model_validate(data)


def _protocol_released(ctx: EntryContext) -> bool:
    """Whether the protocol is the released `protocols/<name>/v<N>.yaml` (not a local variant)."""
    from ..protocol import load_protocol, protocol_hash

    try:
        return protocol_hash(load_protocol(f"{ctx.protocol}@{ctx.protocol_version}")) == ctx.protocol_hash
    except CondenseBenchError:
        return False


class Tracker:
    """A connection to the tracking store (`MLFLOW_TRACKING_URI`, else ./mlflow.db)."""

    def __init__(self, uri: str | None = None):
        self.uri = store.tracking_uri(uri)
        self.client = store.open_client(self.uri)
        self._experiments: dict[tuple, tuple[str, str]] = {}

    def __repr__(self) -> str:
        return f"Tracker({store.display_uri(self.uri)!r})"

    # -------------------------------------------------------------- experiments

    def protocol_experiment(self, ctx: EntryContext, released: bool, *, create: bool = True) -> tuple[str | None, str]:
        """(experiment id, name) for the protocol version. A local variant that shares a
        released protocol's name and version, or a protocol whose file changed, gets its
        own experiment `condensebench/<name>@v<N>~<hash12>` so that hashes never mix.
        With `create=False` a missing experiment gives (None, name) and nothing is written."""
        key = (ctx.protocol, ctx.protocol_version, ctx.protocol_hash)
        if key in self._experiments:
            return self._experiments[key]
        base = f"{store.EXPERIMENT_PREFIX}{ctx.protocol}@v{ctx.protocol_version}"
        name = base
        if not released:
            name = f"{base}~{ctx.protocol_hash[:12]}"
        else:
            exp = self.client.get_experiment_by_name(base)
            if exp is not None and exp.tags.get(PROTOCOL_HASH) not in (None, ctx.protocol_hash):
                name = f"{base}~{ctx.protocol_hash[:12]}"
        if not create:
            exp = self.client.get_experiment_by_name(name)
            if exp is None:
                return None, name
            if exp.lifecycle_stage != "active":
                store.get_or_create_experiment(self.client, self.uri, name, {})  # raises with the fix
            self._experiments[key] = (exp.experiment_id, name)
            return exp.experiment_id, name
        tags = {
            ROLE: "protocol", PROTOCOL: ctx.protocol, PROTOCOL_VERSION: str(ctx.protocol_version),
            PROTOCOL_HASH: ctx.protocol_hash, PROTOCOL_RELEASED: "true" if released else "false",
            "mlflow.note.content": f"condensebench evaluations under protocol {ctx.protocol}@v{ctx.protocol_version} "
                                   f"(sha256 {ctx.protocol_hash}); one parent run per submission, one child per seed.",
        }
        eid = store.get_or_create_experiment(self.client, self.uri, name, tags)
        self._experiments[key] = (eid, name)
        return eid, name

    # -------------------------------------------------------------- evaluations

    def evaluation(self, ctx: EntryContext, *, force: bool = False) -> "EvaluationSession":
        """The tracked state of one (submission, protocol): its parent run, if any, and the
        seeds it already has. Nothing is written until a seed is logged."""
        return EvaluationSession(self, ctx, force=force)

    def log_evaluation(self, result: EvaluationResult, *, force: bool = False, log_text: str | None = None) -> str:
        """Log a finished `EvaluationResult`: reuses the parent of its (submission hash,
        protocol hash) and every seed already tracked (unless `force`), logs the others.
        Returns the parent run id."""
        session = self.evaluation(EntryContext.from_result(result), force=force)
        new = [r for r in result.per_seed if force or r.seed not in session.tracked]
        if not new and session.has_result:
            session.refresh_metadata()
            return session.parent_id
        for rec in new:
            session.log_seed(rec, result.environment.model_dump(mode="json"))
        session.finish(result, log_text=log_text)
        return session.parent_id


class EvaluationSession:
    """One (submission hash, protocol hash) in the tracking store."""

    def __init__(self, tracker: Tracker, ctx: EntryContext, *, force: bool):
        store.check_hash(ctx.content_hash, "submission content hash")
        store.check_hash(ctx.protocol_hash, "protocol hash")
        self.tracker, self.client, self.ctx, self.force = tracker, tracker.client, ctx, force
        self.released = _protocol_released(ctx)
        # Looking up writes nothing: the experiment and the parent are created with the first seed.
        self.experiment_id, self.experiment_name = tracker.protocol_experiment(ctx, self.released, create=False)
        self.parent = self._find_parent() if self.experiment_id else None
        self.tracked: dict[int, object] = self._find_children() if self.parent else {}
        self._records: dict[int, SeedRecord] = {}
        self._started = False

    # ------------------------------------------------------------------ lookup

    @property
    def parent_id(self) -> str | None:
        return self.parent.info.run_id if self.parent else None

    def _find_parent(self):
        filt = store.tag_filter(**{ROLE: "parent", SUBMISSION_HASH: self.ctx.content_hash,
                                   PROTOCOL_HASH: self.ctx.protocol_hash})
        runs = list(store.search_all(self.client, [self.experiment_id], filt, order_by=["attributes.start_time ASC"]))
        return runs[0] if runs else None  # two parents only arise from concurrent first runs: the oldest wins

    def _find_children(self) -> dict[int, object]:
        filt = store.tag_filter(**{ROLE: "seed", PARENT: self.parent.info.run_id})
        found: dict[int, object] = {}
        for run in store.search_all(self.client, [self.experiment_id], filt, order_by=["attributes.start_time ASC"]):
            if run.info.status == "FINISHED" and SEED in run.data.tags:
                found[int(run.data.tags[SEED])] = run  # the newest finished run of a seed wins
        return found

    @property
    def has_result(self) -> bool:
        """Whether the parent holds a full result (result.json) to rebuild results from."""
        return bool(self.parent) and self.parent.data.tags.get("cb.has_result") == "true"

    def record(self, seed: int) -> SeedRecord:
        """The per-seed record of a tracked or freshly logged seed."""
        if seed in self._records:
            return self._records[seed]
        run = self.tracked[seed]
        data = self._download_json(run.info.run_id, "seed.json")
        rec = SeedRecord.model_validate(data["record"])
        self._records[seed] = rec
        return rec

    def reconstruct(self, seeds: list[int]) -> EvaluationResult:
        """The result for `seeds`, all tracked, rebuilt from MLflow without training anything."""
        missing = [s for s in seeds if s not in self.tracked]
        if missing or not self.has_result:
            raise CondenseBenchError(f"{self.ctx.label}: seeds {missing} are not tracked; cannot rebuild the result")
        template = EvaluationResult.model_validate(self._download_json(self.parent_id, "result.json"))
        rebuilt = combine(template, [self.record(s) for s in seeds])
        # Nothing ran now: the wall-clock is the reused seeds' own time.
        rebuilt.wall_clock_seconds = sum(r.train_seconds + r.eval_seconds for r in rebuilt.per_seed)
        return rebuilt

    def _download_json(self, run_id: str, path: str) -> dict:
        with tempfile.TemporaryDirectory(prefix="cb-mlflow-") as tmp:
            local = self.client.download_artifacts(run_id, path, tmp)
            return json.loads(Path(local).read_text())

    # ------------------------------------------------------------------ writing

    def start(self) -> str:
        """Create the experiment and parent run if needed and mark the parent RUNNING (called
        by the first `log_seed`); returns its id."""
        ctx = self.ctx
        self._started = True
        if self.experiment_id is None:
            self.experiment_id, self.experiment_name = self.tracker.protocol_experiment(ctx, self.released)
        if self.parent is None:
            tags = {ROLE: "parent", RUN_NAME: ctx.label, **ctx.identity_tags(self.released), **ctx.metadata_tags()}
            run = self.client.create_run(self.experiment_id, run_name=ctx.label, tags=tags)
            params = {
                "submission_id": ctx.submission_id, "submission_content_hash": ctx.content_hash,
                "protocol_hash": ctx.protocol_hash, "ipc": str(ctx.ipc),
                **store.flatten(ctx.protocol_resolved, "protocol"),
            }
            store.log_batch(self.client, run.info.run_id, params=params)
            self.parent = self.client.get_run(run.info.run_id)
        else:
            self.client.update_run(self.parent_id, status="RUNNING")
        return self.parent_id

    def log_seed(self, record: SeedRecord | dict, environment: dict) -> str:
        """One finished seed as a child run; a seed tracked before is replaced only when forced."""
        rec = record if isinstance(record, SeedRecord) else SeedRecord.model_validate(record)
        if rec.seed in self.tracked and not self.force:
            raise CondenseBenchError(f"{self.ctx.label}: seed {rec.seed} is already tracked (use --force to re-run it)")
        if not self._started:
            self.start()
        ctx = self.ctx
        name = f"{ctx.submission_id} seed {rec.seed}"
        tags = {
            ROLE: "seed", SEED: str(rec.seed), PARENT: self.parent_id, RUN_NAME: name,
            **ctx.identity_tags(self.released), "cb.kind": ctx.kind, "cb.method": store.tag_value(ctx.method),
            **environment_tags(environment),
        }
        run = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
        rid = run.info.run_id
        params = {
            "seed": str(rec.seed), "backend": str(environment.get("backend") or "local"),
            "submission_id": ctx.submission_id, "submission_content_hash": ctx.content_hash,
            "protocol_hash": ctx.protocol_hash, "device": str(environment.get("device") or ""),
        }
        curves = {k: v for k, v in rec.curves.items() if k in CURVES and v}
        store.log_batch(self.client, rid, metrics=seed_metrics(rec), curves=curves, params=params)
        self.client.log_dict(rid, {"record": rec.model_dump(mode="json"), "environment": environment,
                                   "parent_run_id": self.parent_id}, "seed.json")
        self.client.set_terminated(rid, "FINISHED")
        old = self.tracked.get(rec.seed)
        if old is not None:
            self.client.delete_run(old.info.run_id)  # soft delete: `mlflow runs restore` undoes it
        self.tracked[rec.seed] = self.client.get_run(rid)
        self._records[rec.seed] = rec
        return rid

    def finish(self, result: EvaluationResult, *, log_text: str | None = None) -> EvaluationResult:
        """Aggregate every tracked seed of the parent (not only this command's) and close it.
        `result` supplies the context; returns the parent's full result."""
        if not self._started:
            self.start()
        full = combine(result, [self.record(s) for s in sorted(self.tracked)])
        pid = self.parent_id
        metrics = {**aggregate_metrics(full), **self.ctx.construction_metrics()}
        tags = {
            **self.ctx.metadata_tags(), **environment_tags(full.environment.model_dump(mode="json")),
            "cb.created": full.created, "cb.has_result": "true",
            "cb.seeds": ",".join(str(s) for s in full.seeds),
        }
        summary = self._seed_summary(full)
        if summary is not None:
            tags[SEED_RUNS] = summary
        store.log_batch(self.client, pid, metrics=metrics, tags=tags)
        self.client.log_dict(pid, full.model_dump(mode="json"), "result.json")
        self.client.log_dict(pid, full.protocol.resolved, "protocol.json")
        self.client.log_dict(pid, {str(r.seed): r.curves for r in full.per_seed}, "curves.json")
        sub_yaml = Path(full.submission.path) / "submission.yaml"
        if sub_yaml.is_file():
            self.client.log_artifact(pid, str(sub_yaml))
        self.client.log_text(pid, log_text or summary_text(full), "evaluation.log")
        self.client.set_terminated(pid, "FINISHED")
        self.parent = self.client.get_run(pid)
        return full

    def _seed_summary(self, full: EvaluationResult) -> str | None:
        """The children's final numbers and run ids as one JSON tag on the parent, so that
        the leaderboard reads one run per entry instead of 1 + seeds. None when it would
        not fit in a tag (hundreds of seeds): readers then search the children."""
        rows = []
        for r in full.per_seed:
            child = self.tracked[r.seed]
            ct = child.data.tags
            rows.append({"seed": r.seed, "run": child.info.run_id, "top1": r.top1, "top5": r.top5,
                         "train_s": r.train_seconds, "eval_s": r.eval_seconds, "ips": r.images_per_second,
                         "mem_mb": r.peak_memory_mb, "hw": ct.get("cb.hardware", ""), "dev": ct.get("cb.device", "")})
        text = json.dumps(rows, separators=(",", ":"))
        return text if len(text) <= 8000 else None

    def fail(self) -> None:
        """The evaluation stopped after logging seeds: those stay tracked, and the parent is
        marked FAILED until a later run completes it. Before the first seed nothing was
        written, and nothing is marked."""
        if self._started and self.parent is not None:
            try:
                self.client.set_terminated(self.parent_id, "FAILED")
            except Exception:  # noqa: BLE001 - the original error matters more
                pass

    def refresh_metadata(self) -> None:
        """Reuse without running: descriptive tags (method, paper, cost) follow submission.yaml."""
        if self.parent is not None:
            store.log_batch(self.client, self.parent_id, tags=self.ctx.metadata_tags())


def summary_text(result: EvaluationResult) -> str:
    sub, proto = result.submission, result.protocol
    lines = [f"{sub.id} ({sub.kind}, {sub.dataset}, IPC {sub.ipc}) under {proto.name}@v{proto.version} [{proto.hash}]"]
    for s in result.per_seed:
        top5 = f"  top-5 {s.top5:6.2f}%" if s.top5 is not None else ""
        lines.append(f"  seed {s.seed}: top-1 {s.top1:6.2f}%{top5}  train {s.train_seconds:7.1f}s  eval {s.eval_seconds:5.1f}s")
    lines.append(f"  mean {result.top1_mean:.2f} +- {result.top1_std:.2f} % over {len(result.per_seed)} seeds")
    lines.append(f"  environment: {json.dumps(result.environment.model_dump(mode='json'), sort_keys=True)}")
    lines.append(f"  logged {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
    return "\n".join(lines) + "\n"
