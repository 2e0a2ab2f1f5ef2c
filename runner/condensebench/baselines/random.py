"""`random`: a class-balanced uniform random subset, seeded."""
from __future__ import annotations

import numpy as np
import torch

from ..submission.schema import Paper
from .base import METHODS, MethodConfig, SelectionMethod, SelectionResult, TrainSet, check_budget, per_class_indices


class RandomConfig(MethodConfig):
    """No options: `budget` images drawn uniformly without replacement from each class."""


@METHODS.register("random")
class RandomSelection(SelectionMethod):
    Config = RandomConfig
    summary = "class-balanced uniform random subset (seeded)"
    paper = None

    def select(self, dataset: TrainSet, budget: int, *, generator: torch.Generator) -> SelectionResult:
        check_budget(dataset, budget)
        chosen = []
        for idx in per_class_indices(dataset.labels, dataset.num_classes):
            perm = torch.randperm(len(idx), generator=generator).numpy()
            chosen.append(idx[perm[:budget]])
        indices = np.sort(np.concatenate(chosen))
        return SelectionResult(labels=dataset.labels[torch.from_numpy(indices)], indices=indices,
                               details={"rule": "uniform without replacement within each class"})


_ = Paper  # no paper: the reference every condensed set must beat
