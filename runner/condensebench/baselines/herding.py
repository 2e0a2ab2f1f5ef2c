"""`herding`: greedy mean matching per class (Welling 2009; as used by iCaRL and DC).

Within each class, with mu the class mean in the declared feature space, the
k-th pick is the not-yet-chosen example x that brings the running mean of the
picks closest to mu: argmin_x || mu - (sum of the k-1 picks + f(x)) / k ||.
Deterministic given the features (ties: lowest index); the generator is unused.
"""
from __future__ import annotations

import numpy as np
import torch
from pydantic import field_validator

from ..submission.schema import Paper
from .base import METHODS, MethodConfig, SelectionMethod, SelectionResult, TrainSet, check_budget, per_class_indices
from .features import FeatureSpace, PixelFeatures, compute_features, describe, feature_space_from


class HerdingConfig(MethodConfig):
    features: FeatureSpace = PixelFeatures()
    _features = field_validator("features", mode="before")(feature_space_from)


def herding_order(features: torch.Tensor, budget: int) -> list[int]:
    """Row indices of `features` (n, d) in herding order, `budget` of them."""
    feats = features.double()
    mu = feats.mean(0)
    running = torch.zeros_like(mu)
    available = torch.ones(len(feats), dtype=torch.bool)
    picks: list[int] = []
    for k in range(1, budget + 1):
        cand = (running.unsqueeze(0) + feats) / k
        dist = ((cand - mu) ** 2).sum(1)
        dist[~available] = float("inf")
        i = int(torch.argmin(dist))
        picks.append(i)
        available[i] = False
        running += feats[i]
    return picks


@METHODS.register("herding")
class Herding(SelectionMethod):
    Config = HerdingConfig
    summary = "greedy class-mean matching per class in a declared feature space"
    paper = Paper(title="Herding Dynamical Weights to Learn", venue="ICML", year=2009,
                  url="https://doi.org/10.1145/1553374.1553517")

    def select(self, dataset: TrainSet, budget: int, *, generator: torch.Generator) -> SelectionResult:
        check_budget(dataset, budget)
        cache: dict = {}
        chosen = []
        for idx in per_class_indices(dataset.labels, dataset.num_classes):
            feats = compute_features(self.config.features, dataset, idx, device=self.device, _model_cache=cache)
            chosen.append(idx[herding_order(feats, budget)])
        indices = np.sort(np.concatenate(chosen))
        return SelectionResult(labels=dataset.labels[torch.from_numpy(indices)], indices=indices,
                               details={"features": describe(self.config.features, dataset.image_size)})
