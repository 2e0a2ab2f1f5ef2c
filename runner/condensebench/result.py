"""The typed record an evaluation writes (result.json) and that tracking reads."""
from __future__ import annotations

import statistics
from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmissionInfo(_Model):
    id: str
    kind: str
    method: str
    dataset: str
    ipc: int
    content_hash: str
    path: str
    storage_bytes: int
    label_regimes: list[str]
    construction_cost: dict
    paper: dict | None = None


class ProtocolInfo(_Model):
    name: str
    version: int
    hash: str
    label_regime: str
    epochs: int
    resolved: dict


class SeedRecord(_Model):
    seed: int
    top1: float
    top5: float | None = None
    train_seconds: float
    eval_seconds: float
    images_per_second: float
    peak_memory_mb: float
    curves: dict[str, list[float]] = {}


class Environment(_Model):
    condensebench: str
    git_commit: str | None = None
    python: str
    torch: str
    torchvision: str
    cuda: str | None = None
    device: str
    device_name: str
    platform: str
    backend: Literal["local", "docker"] = "local"
    image_id: str | None = None
    image_digest: str | None = None
    docker_engine: str | None = None
    gpu_driver: str | None = None


class EvaluationResult(_Model):
    schema_version: Literal[1] = 1
    created: str
    submission: SubmissionInfo
    protocol: ProtocolInfo
    dataset: dict
    seeds: list[int]
    per_seed: list[SeedRecord]
    top1_mean: float
    top1_std: float
    top5_mean: float | None = None
    top5_std: float | None = None
    wall_clock_seconds: float
    environment: Environment
    status: Literal["ok", "timed_out", "failed"] = "ok"

    @property
    def accuracies(self) -> list[float]:
        return [s.top1 for s in self.per_seed]


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n-1); 0 for a single seed."""
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)
