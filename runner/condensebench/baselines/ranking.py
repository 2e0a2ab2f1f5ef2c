"""Score-ranked coresets: the shared `select` of el2n, forgetting and aum.

Within each class (strict class balance), examples are ranked by difficulty
(higher = harder) from the scoring run; `order: easy` keeps the `budget`
easiest (the rule found best at extreme compression, e.g. IPC <= 50), `order:
hard` the hardest (the classic pruning rule at mild compression). Ties are
broken by a random permutation drawn from the seed.
"""
from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import torch

from .base import MethodConfig, SelectionMethod, SelectionResult, TrainSet, check_budget, per_class_indices, rank_with_ties
from .recipes import ScoringRecipe, check_recipe_for, default_recipe, load_recipe
from .scoring import Scores, get_scores


class ScoreConfig(MethodConfig):
    recipe: str | None = None  # scoring recipe name or YAML path; None: the one listing the dataset
    order: Literal["easy", "hard"] = "easy"


def resolve_scoring_recipe(ref: str | None, dataset: str) -> ScoringRecipe:
    recipe = default_recipe("scoring", dataset) if ref is None else load_recipe(ref)
    check_recipe_for(recipe, "scoring", dataset)
    return recipe  # type: ignore[return-value]


def select_by_difficulty(difficulty: np.ndarray, labels: torch.Tensor, num_classes: int, budget: int,
                         order: str, generator: torch.Generator) -> np.ndarray:
    chosen = []
    for idx in per_class_indices(labels, num_classes):
        d = difficulty[idx] if order == "easy" else -difficulty[idx]
        chosen.append(idx[rank_with_ties(d, generator)[:budget]])
    return np.sort(np.concatenate(chosen))


def scoring_details(scores: Scores) -> dict[str, str | int | float]:
    return {"scoring_recipe": scores.recipe_ref, "scoring_recipe_sha256": scores.recipe_sha256,
            "scoring_models": scores.models, "scoring_seconds": round(scores.seconds, 1),
            "scoring_reused_from_cache": str(scores.reused).lower()}


class ScoreRanking(SelectionMethod):
    """Keeps the easiest (or hardest) `budget` examples of each class by one score."""

    Config = ScoreConfig
    score: ClassVar[Literal["el2n", "forgetting", "aum"]]

    def select(self, dataset: TrainSet, budget: int, *, generator: torch.Generator) -> SelectionResult:
        check_budget(dataset, budget)
        recipe = resolve_scoring_recipe(self.config.recipe, dataset.name)
        scores = get_scores(recipe, dataset, device=self.device, log=self.log)
        indices = select_by_difficulty(scores.difficulty(self.score), dataset.labels, dataset.num_classes,
                                       budget, self.config.order, generator)
        details = {"score": self.score, "order": f"{self.config.order}-first, strict class balance",
                   **scoring_details(scores)}
        return SelectionResult(labels=dataset.labels[torch.from_numpy(indices)], indices=indices,
                               scoring_seconds=scores.seconds, scoring_reused=scores.reused, details=details)
