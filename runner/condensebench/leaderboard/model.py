"""The leaderboard's records: what the builder reads from MLflow and what the pages show.

MLflow -> `Board` (collect.py) -> statistics (stats.py) -> pages (render.py). A `Board`
is plain data and round-trips through `site/data/leaderboard.json`.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

KINDS = ("distilled", "coreset", "baseline")


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", str(text).lower()).strip("-.")
    return slug or "x"


@dataclass
class SeedRun:
    seed: int
    top1: float
    run_id: str
    top5: float | None = None
    train_seconds: float | None = None
    eval_seconds: float | None = None
    images_per_second: float | None = None
    peak_memory_mb: float | None = None
    hardware: str = ""
    device: str = ""


@dataclass
class Entry:
    """One submission evaluated under one protocol (an MLflow parent run with its seeds)."""

    slug: str
    parent_run_id: str
    experiment_id: str
    experiment_name: str
    submission_id: str
    submission_hash: str
    method: str
    kind: str
    dataset: str
    ipc: int
    label_regime: str
    protocol: str
    protocol_version: int
    protocol_hash: str
    protocol_released: bool
    seeds: list[SeedRun]
    seeds_required: int
    mean: float
    std: float
    n: int
    top5_mean: float | None = None
    top5_std: float | None = None
    construction: dict = field(default_factory=dict)   # gpu_hours, wall_clock_hours, peak_memory_gb, reported_by, ...
    storage_bytes: float | None = None
    evaluation_seconds: float | None = None
    paper_title: str = ""
    paper_url: str = ""
    paper_venue: str = ""
    paper_year: str = ""
    date: str = ""
    submission_path: str = ""
    environment: dict = field(default_factory=dict)  # git_commit, image_digest, backend, hardware, device, torch, cuda, ...
    construction_run_id: str | None = None
    artifact_uri: str = ""              # where the parent's artifacts are (not exported)
    # filled in by stats.analyse
    rank: int | None = None
    delta: float | None = None          # mean - random baseline mean, percentage points
    p_value: float | None = None        # Welch's t-test against the random baseline's seeds
    is_reference: bool = False          # this entry is the group's random baseline
    pareto: bool = False
    curves: dict | None = None          # {"0": {"loss": [...], "train_acc": [...]}, ...} (pages only, not exported)

    @property
    def complete(self) -> bool:
        return self.n >= self.seeds_required

    @property
    def accuracies(self) -> list[float]:
        return [s.top1 for s in self.seeds]

    @property
    def cost_basis(self) -> str | None:
        """"gpu" (GPU-hours) when reported and non-zero, else "wall" (wall-clock hours on the
        stated device, e.g. a CPU-built coreset that reports 0 GPU-hours), else None."""
        c = self.construction
        gpu, wall = c.get("gpu_hours"), c.get("wall_clock_hours")
        if gpu is not None and (gpu > 0 or wall is None):
            return "gpu"
        return "wall" if wall is not None else None

    @property
    def cost_hours(self) -> float | None:
        basis = self.cost_basis
        return None if basis is None else float(self.construction["gpu_hours" if basis == "gpu" else "wall_clock_hours"])

    @property
    def cost_unit(self) -> str:
        """What `cost_hours` counts: GPU-hours (with the GPU model) or wall-clock hours on a device."""
        c, basis = self.construction, self.cost_basis
        if basis == "gpu":
            return "GPU-hours" + (f" ({c['gpu_model']})" if c.get("gpu_model") else "")
        if basis == "wall":
            return "wall-clock hours" + (f" ({c['device']})" if c.get("device") else "")
        return ""

    @property
    def paper_label(self) -> str:
        """Short text for the table: venue and year, else the title."""
        short = " ".join(x for x in (self.paper_venue, self.paper_year) if x)
        return short or self.paper_title

    @property
    def group_key(self) -> tuple:
        return (self.dataset, self.ipc, self.label_regime, self.protocol, self.protocol_version, self.protocol_hash)

    def to_json(self) -> dict:
        skip = ("curves", "artifact_uri", "seeds")
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip}
        data["construction"] = dict(self.construction)
        data["environment"] = dict(self.environment)
        data["seeds"] = [dataclasses.asdict(s) for s in self.seeds]
        data.update(complete=self.complete, cost_hours=self.cost_hours, cost_unit=self.cost_unit,
                    accuracies=self.accuracies)
        return data


@dataclass
class Group:
    """One table: entries at the same dataset, IPC, label regime and protocol (hash)."""

    dataset: str
    ipc: int
    label_regime: str
    protocol: str
    protocol_version: int
    protocol_hash: str
    protocol_released: bool
    entries: list[Entry] = field(default_factory=list)
    baseline: Entry | None = None
    baseline_note: str = ""

    @property
    def protocol_label(self) -> str:
        label = f"{self.protocol}@v{self.protocol_version}"
        return label if self.protocol_released else f"{label} (variant {self.protocol_hash[:12]})"

    @property
    def slug(self) -> str:
        base = f"{self.dataset}-ipc{self.ipc}-{self.label_regime}-{self.protocol}-v{self.protocol_version}"
        return slugify(base if self.protocol_released else f"{base}-{self.protocol_hash[:12]}")

    @property
    def series_key(self) -> tuple:
        """The plot across IPCs that this table belongs to."""
        return (self.dataset, self.label_regime, self.protocol, self.protocol_version, self.protocol_hash)

    def to_json(self) -> dict:
        return {
            "slug": self.slug, "dataset": self.dataset, "ipc": self.ipc, "label_regime": self.label_regime,
            "protocol": self.protocol, "protocol_version": self.protocol_version,
            "protocol_hash": self.protocol_hash, "protocol_released": self.protocol_released,
            "random_baseline": self.baseline.slug if self.baseline else None, "random_baseline_note": self.baseline_note,
            "entries": [e.to_json() for e in self.entries],
        }


@dataclass
class Board:
    groups: list[Group]
    source: str                      # the tracking URI, password removed
    generated: str                   # ISO timestamp
    mlflow_ui: str | None = None     # base URL for links to runs
    unfinished: list[dict] = field(default_factory=list)   # parents not FINISHED, listed not shown
    warnings: list[str] = field(default_factory=list)

    @property
    def entries(self) -> list[Entry]:
        return [e for g in self.groups for e in g.entries]

    def to_json(self) -> dict:
        return {
            "schema_version": 1, "generated": self.generated, "source": self.source, "mlflow_ui": self.mlflow_ui,
            "notes": {
                "accuracy": "top-1 % on the real test split after the last epoch; mean +- sample std (n-1) over seeds",
                "delta": "mean minus the random baseline's mean (same dataset, IPC, label regime, protocol), points",
                "p_value": "Welch's t-test (unequal variances) on per-seed accuracies against the random baseline",
            },
            "unfinished": self.unfinished, "warnings": self.warnings,
            "groups": [g.to_json() for g in self.groups],
        }
