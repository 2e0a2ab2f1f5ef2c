"""`evaluate`: N fresh students on a condensed set, scored on the real test split."""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Callable

import torch
from tqdm import tqdm

from ..datasets import load_test_split
from ..environment import describe
from ..errors import CondenseBenchError
from ..protocol import Protocol, protocol_hash
from ..result import EvaluationResult, mean_std
from ..submission import CondensedSet, load_submission
from .engine import SeedResult, run_seed
from .teacher import load_teacher
from .testset import prepare_test


def check_compatible(protocol: Protocol, cset: CondensedSet) -> None:
    sub = cset.submission
    if sub.dataset not in protocol.datasets:
        raise CondenseBenchError(
            f"protocol {protocol.name} applies to {', '.join(protocol.datasets)}, not to dataset {sub.dataset}"
        )
    if protocol.label_regime not in sub.label_regimes:
        raise CondenseBenchError(
            f"submission {sub.id} declares label regimes {sub.label_regimes}; protocol {protocol.name} "
            f"evaluates in the {protocol.label_regime!r} regime"
        )


def resolve_device(device: str) -> str:
    if device == "cuda" and not torch.cuda.is_available():
        raise CondenseBenchError("--device cuda was asked for, but no CUDA GPU is available here")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise CondenseBenchError(f"unknown device {device!r}: use cpu or cuda")
    return device


def evaluate(
    submission_dir: str | Path,
    protocol: Protocol,
    *,
    seeds: list[int],
    device: str = "cpu",
    data_root: str | Path | None = None,
    quiet: bool = False,
    on_seed: Callable[[SeedResult], None] | None = None,
) -> EvaluationResult:
    device = resolve_device(device)
    started = time.perf_counter()
    cset = load_submission(submission_dir, data_root, quiet=quiet)
    check_compatible(protocol, cset)
    split = load_test_split(cset.card, data_root, quiet=quiet)
    test = prepare_test(split, protocol, cset, device)
    teacher = load_teacher(protocol, cset.card, device, data_root)
    results = []
    for seed in tqdm(seeds, desc=f"{cset.submission.id} / {protocol.name}", unit="seed", disable=quiet):
        res = run_seed(protocol, cset, test, seed=seed, device=device, teacher=teacher, progress=not quiet)
        results.append(res)
        if on_seed:
            on_seed(res)
    top1 = mean_std([r.top1 for r in results])
    top5 = mean_std([r.top5 for r in results]) if results[0].top5 is not None else (None, None)
    sub = cset.submission
    return EvaluationResult(
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        submission={
            "id": sub.id,
            "kind": sub.kind,
            "method": sub.method,
            "dataset": sub.dataset,
            "ipc": sub.ipc,
            "content_hash": cset.content_hash,
            "path": str(Path(submission_dir)),
            "storage_bytes": cset.storage_bytes,
            "label_regimes": list(sub.label_regimes),
            "construction_cost": sub.construction_cost.model_dump(mode="json"),
            "paper": sub.paper.model_dump(mode="json") if sub.paper else None,
        },
        protocol={
            "name": protocol.name,
            "version": protocol.version,
            "hash": protocol_hash(protocol),
            "label_regime": protocol.label_regime,
            "epochs": protocol.epochs,
            "resolved": protocol.model_dump(mode="json"),
        },
        dataset={"name": cset.card.name, "test_fingerprint": split.fingerprint, "test_size": len(split.labels)},
        seeds=list(seeds),
        per_seed=[r.__dict__ for r in results],
        top1_mean=top1[0],
        top1_std=top1[1],
        top5_mean=top5[0],
        top5_std=top5[1],
        wall_clock_seconds=time.perf_counter() - started,
        environment=describe(device),
    )
