"""`dm`: distribution matching (Zhao & Bilen, WACV 2023), a cheap but real distilled set.

Synthetic images start as random real images of their class (seeded) and are
optimised in normalised pixel space with SGD. Every iteration draws a fresh,
randomly initialised ConvNet (never trained; its weights come from the seed),
and the loss is the sum over classes of the squared distance between the mean
embedding (the ConvNet's feature extractor, flattened) of a batch of real
images of the class and the mean embedding of the synthetic images of the
class: an MMD with a linear kernel in a random feature space. With DSA, one
augmentation draw is applied to the real and the synthetic batch alike. The
result is saved as float32 pixels in [0, 1].
"""
from __future__ import annotations

import numpy as np
import torch

from ..runner.augment import dsa
from ..submission.schema import Paper
from .base import METHODS, MethodConfig, SelectionMethod, SelectionResult, TrainSet, check_budget, per_class_indices, seed_from
from .features import build_random_convnet
from .recipes import DMRecipe, check_recipe_for, default_recipe, load_recipe


class DMConfig(MethodConfig):
    recipe: str | None = None  # distribution_matching recipe name or YAML path; None: the one listing the dataset
    iterations: int | None = None  # overrides the recipe's (recorded in the submission)


def class_mean_discrepancy(real_feats: list[torch.Tensor], syn_feats: list[torch.Tensor]) -> torch.Tensor:
    """DM's loss: sum over classes of || mean(real) - mean(synthetic) ||^2."""
    return sum(((r.mean(0) - s.mean(0)) ** 2).sum() for r, s in zip(real_feats, syn_feats))


def resolve_dm_recipe(ref: str | None, dataset: str) -> DMRecipe:
    recipe = default_recipe("distribution_matching", dataset) if ref is None else load_recipe(ref)
    check_recipe_for(recipe, "distribution_matching", dataset)
    return recipe  # type: ignore[return-value]


def distribution_matching(recipe: DMRecipe, dataset: TrainSet, budget: int, *, iterations: int,
                          generator: torch.Generator, device: str = "cpu", log=None) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """(images float32 [0,1] (C*budget, ...), labels, loss per iteration)."""
    classes = per_class_indices(dataset.labels, dataset.num_classes)
    init = np.concatenate([idx[torch.randperm(len(idx), generator=generator)[:budget].numpy()] for idx in classes])
    labels = dataset.labels[torch.from_numpy(init)]
    syn = dataset.normalized(init).to(device).requires_grad_(True)
    opt = torch.optim.SGD([syn], lr=recipe.lr_images, momentum=recipe.momentum)
    k = dataset.num_classes
    losses: list[float] = []
    for it in range(iterations):
        net = build_random_convnet(recipe.model, dataset, seed_from(generator)).to(device)
        net.train()
        for p in net.parameters():
            p.requires_grad_(False)
        take = [idx[torch.randperm(len(idx), generator=generator)[: recipe.real_batch_per_class].numpy()] for idx in classes]
        real = dataset.normalized(np.concatenate(take)).to(device)
        fake = syn
        if recipe.augmentation is not None:
            state = generator.get_state()
            real = dsa(real, recipe.augmentation, generator)
            twin = torch.Generator().manual_seed(0)
            twin.set_state(state)
            fake = dsa(syn, recipe.augmentation, twin)
        with torch.no_grad():
            fr = net.features(real).flatten(1)
        fs = net.features(fake).flatten(1)
        sizes_r = [len(t) for t in take]
        loss = class_mean_discrepancy(list(fr.split(sizes_r)), list(fs.split([budget] * k)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if log and (it + 1) % max(1, iterations // 20) == 0:
            log(f"dm iteration {it + 1}/{iterations}: loss {np.mean(losses[-max(1, iterations // 20):]):.4f}")
    mean = torch.tensor(dataset.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(dataset.std, device=device).view(1, -1, 1, 1)
    images = (syn.detach() * std + mean).clamp_(0.0, 1.0).float().cpu().contiguous()
    return images, labels, losses


@METHODS.register("dm")
class DistributionMatching(SelectionMethod):
    Config = DMConfig
    produces = "images"
    summary = "distribution matching with random ConvNets, images initialised from real ones (distilled)"
    paper = Paper(title="Dataset Condensation with Distribution Matching", venue="WACV", year=2023,
                  url="https://arxiv.org/abs/2110.04181")

    def select(self, dataset: TrainSet, budget: int, *, generator: torch.Generator) -> SelectionResult:
        check_budget(dataset, budget)
        from .recipes import recipe_hash

        recipe = resolve_dm_recipe(self.config.recipe, dataset.name)
        iterations = self.config.iterations or recipe.iterations
        images, labels, losses = distribution_matching(recipe, dataset, budget, iterations=iterations,
                                                       generator=generator, device=self.device, log=self.log)
        tail = max(1, len(losses) // 20)
        details = {"recipe": recipe.ref, "recipe_sha256": recipe_hash(recipe), "iterations": iterations,
                   "loss_first": round(float(np.mean(losses[:tail])), 4), "loss_last": round(float(np.mean(losses[-tail:])), 4),
                   "init": "random real images of each class (seeded)"}
        return SelectionResult(labels=labels, images=images, details=details)
