"""`kcenter`: k-center greedy per class (Sener & Savarese 2018, the core-set approach).

Within each class the first center is drawn at random with the seed; every
next pick is the example farthest (Euclidean, in the declared feature space)
from its nearest already-chosen center.
"""
from __future__ import annotations

import numpy as np
import torch
from pydantic import field_validator

from ..submission.schema import Paper
from .base import METHODS, MethodConfig, SelectionMethod, SelectionResult, TrainSet, check_budget, per_class_indices
from .features import FeatureSpace, PixelFeatures, compute_features, describe, feature_space_from


class KCenterConfig(MethodConfig):
    features: FeatureSpace = PixelFeatures()
    _features = field_validator("features", mode="before")(feature_space_from)


def kcenter_order(features: torch.Tensor, budget: int, first: int) -> list[int]:
    """Row indices of `features` (n, d) picked by k-center greedy, starting at `first`."""
    feats = features.float()
    sq = (feats * feats).sum(1)
    picks = [int(first)]
    mind = torch.full((len(feats),), float("inf"))
    for _ in range(budget - 1):
        c = feats[picks[-1]]
        d = (sq - 2.0 * (feats @ c) + float(c @ c)).clamp_min_(0.0)
        mind = torch.minimum(mind, d)
        mind[picks] = -1.0  # chosen points are never picked again
        picks.append(int(torch.argmax(mind)))
    return picks


@METHODS.register("kcenter")
class KCenter(SelectionMethod):
    Config = KCenterConfig
    summary = "k-center greedy per class (farthest point from the chosen centers)"
    paper = Paper(title="Active Learning for Convolutional Neural Networks: A Core-Set Approach", venue="ICLR",
                  year=2018, url="https://arxiv.org/abs/1708.00489")

    def select(self, dataset: TrainSet, budget: int, *, generator: torch.Generator) -> SelectionResult:
        check_budget(dataset, budget)
        cache: dict = {}
        chosen = []
        for idx in per_class_indices(dataset.labels, dataset.num_classes):
            feats = compute_features(self.config.features, dataset, idx, device=self.device, _model_cache=cache)
            first = int(torch.randint(0, len(idx), (1,), generator=generator))
            chosen.append(idx[kcenter_order(feats, budget, first)])
        indices = np.sort(np.concatenate(chosen))
        return SelectionResult(labels=dataset.labels[torch.from_numpy(indices)], indices=indices,
                               details={"features": describe(self.config.features, dataset.image_size),
                                        "first_center": "random within the class (seeded)"})
