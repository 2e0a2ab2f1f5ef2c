"""`ccs`: coverage-centric coreset selection (Zheng et al., ICLR 2023).

Within each class (strict class balance): drop the hardest `prune_fraction` of
the examples by the score, split the rest into `strata` equal-width score
ranges, then visit the strata from the smallest to the largest, each time
taking min(|stratum|, floor(remaining budget / strata left)) examples from it
uniformly at random (seeded). The kept set covers the whole remaining score
range instead of piling up at one end.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from ..submission.schema import Paper
from .base import METHODS, MethodConfig, SelectionMethod, SelectionResult, TrainSet, check_budget, per_class_indices
from .ranking import resolve_scoring_recipe, scoring_details
from .scoring import get_scores


class CCSConfig(MethodConfig):
    recipe: str | None = None
    score: Literal["aum", "el2n", "forgetting"] = "aum"  # the paper's choice for CIFAR
    prune_fraction: float = Field(default=0.5, ge=0.0, lt=1.0)  # hardest fraction removed first (beta)
    strata: int = Field(default=50, ge=1)  # the paper's k


def ccs_select(difficulty: np.ndarray, budget: int, prune_fraction: float, strata: int,
               generator: torch.Generator) -> np.ndarray:
    """Positions into `difficulty` (one class) chosen by CCS."""
    n = len(difficulty)
    order = np.argsort(difficulty, kind="stable")  # easiest first
    keep = max(budget, int(round(n * (1.0 - prune_fraction))))
    kept = order[:keep]
    s = difficulty[kept]
    lo, hi = float(s.min()), float(s.max())
    if hi > lo:
        bins = np.minimum(((s - lo) / (hi - lo) * strata).astype(np.int64), strata - 1)
    else:
        bins = np.zeros(len(s), dtype=np.int64)
    groups = [kept[bins == b] for b in range(strata)]
    groups = [g for g in groups if len(g)]
    groups.sort(key=len)
    chosen: list[np.ndarray] = []
    remaining = budget
    for i, g in enumerate(groups):
        take = min(len(g), remaining // (len(groups) - i))
        if take:
            perm = torch.randperm(len(g), generator=generator).numpy()
            chosen.append(g[perm[:take]])
            remaining -= take
    out = np.concatenate(chosen) if chosen else np.empty(0, dtype=np.int64)
    if len(out) != budget:  # pragma: no cover - the allocation always spends the budget when keep >= budget
        raise RuntimeError(f"CCS allocated {len(out)} of {budget}")
    return out


@METHODS.register("ccs")
class CCS(SelectionMethod):
    Config = CCSConfig
    summary = "coverage-centric selection: prune the hardest fraction, then stratified sampling over the score"
    paper = Paper(title="Coverage-centric Coreset Selection for High Pruning Rates", venue="ICLR", year=2023,
                  url="https://arxiv.org/abs/2210.15809")

    def select(self, dataset: TrainSet, budget: int, *, generator: torch.Generator) -> SelectionResult:
        check_budget(dataset, budget)
        recipe = resolve_scoring_recipe(self.config.recipe, dataset.name)
        scores = get_scores(recipe, dataset, device=self.device, log=self.log)
        difficulty = scores.difficulty(self.config.score)
        chosen = []
        for idx in per_class_indices(dataset.labels, dataset.num_classes):
            chosen.append(idx[ccs_select(difficulty[idx], budget, self.config.prune_fraction,
                                         self.config.strata, generator)])
        indices = np.sort(np.concatenate(chosen))
        details = {"score": self.config.score, "prune_fraction": self.config.prune_fraction,
                   "strata": self.config.strata, **scoring_details(scores)}
        return SelectionResult(labels=dataset.labels[torch.from_numpy(indices)], indices=indices,
                               scoring_seconds=scores.seconds, scoring_reused=scores.reused, details=details)
