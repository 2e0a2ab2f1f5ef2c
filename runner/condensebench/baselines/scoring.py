"""Training-dynamics scores shared by el2n, forgetting, aum and ccs.

One scoring run trains one model per recipe seed on the full train split and
records, for every training example:

- EL2N (Paul et al., 2021): || softmax(f(x)) - onehot(y) ||_2, read after
  `el2n_epoch` epochs on the un-augmented image (eval mode);
- forgetting events (Toneva et al., 2019): the number of times an example
  classified correctly at one presentation is misclassified at its next one
  (predictions taken on the training batch before the update); examples never
  classified correctly get `epochs` events, more than any learned one can have;
- the margin (Pleiss et al., 2020): the assigned-class logit minus the largest
  other logit, at every presentation; AUM is its mean over the epochs.

Scores are averaged over the models and cached under
``cache_dir()/baseline-scores/`` by (train-split fingerprint, recipe hash), so
that every IPC, seed and score-based method reuses one run. The run's training
time is stored with the scores and reported as the scoring cost of every set
built from them.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..paths import cache_dir
from ..runner.augment import build_train_transform
from ..runner.models import build_model
from ..runner.schedules import build_optimizer, lr_at, reset_epochs, set_lr
from .base import TrainSet
from .recipes import ScoringRecipe, recipe_hash

__all__ = ["Scores", "aum_from_margins", "el2n_scores", "forgetting_events", "margins", "get_scores", "run_scoring"]


# ------------------------------------------------------ score definitions


def el2n_scores(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """|| softmax(logits) - onehot(labels) ||_2 per row."""
    p = torch.softmax(logits.float(), dim=1)
    onehot = F.one_hot(labels, num_classes=logits.shape[1]).float()
    return (p - onehot).norm(dim=1)


def margins(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Assigned-class logit minus the largest other logit, per row."""
    logits = logits.float()
    assigned = logits.gather(1, labels.view(-1, 1)).squeeze(1)
    others = logits.scatter(1, labels.view(-1, 1), float("-inf"))
    return assigned - others.max(dim=1).values


def forgetting_events(correct: torch.Tensor) -> torch.Tensor:
    """Correct -> incorrect transitions per example in a (presentations, N) bool history."""
    c = correct.bool()
    return (c[:-1] & ~c[1:]).sum(0) if len(c) > 1 else torch.zeros(c.shape[1], dtype=torch.long)


def aum_from_margins(margin_history: torch.Tensor) -> torch.Tensor:
    """Area under the margin: the mean margin over the (epochs, N) history."""
    return margin_history.float().mean(0)


# ----------------------------------------------------------- the run


@dataclass(frozen=True)
class Scores:
    el2n: np.ndarray  # (N,) mean over models; higher = harder
    forgetting: np.ndarray  # (N,) mean over models; never-learned examples count `epochs`
    aum: np.ndarray  # (N,) mean over models; lower = harder
    seconds: float  # wall-clock of the scoring run that produced them
    reused: bool  # read from the cache
    recipe_ref: str
    recipe_sha256: str
    models: int

    def difficulty(self, score: str) -> np.ndarray:
        """Higher = harder, for every score."""
        if score == "el2n":
            return self.el2n
        if score == "forgetting":
            return self.forgetting
        if score == "aum":
            return -self.aum
        raise ValueError(f"unknown score {score!r}; known: el2n, forgetting, aum")


def _train_one(recipe: ScoringRecipe, dataset: TrainSet, seed: int, device: str, log) -> dict[str, torch.Tensor]:
    n = len(dataset)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(recipe.model, num_classes=dataset.num_classes, channels=dataset.channels,
                            image_size=dataset.image_size)
    model = model.to(device)
    g = torch.Generator().manual_seed(seed)
    transform = build_train_transform(recipe.augmentations, dataset.mean, dataset.std)
    plain = build_train_transform([], dataset.mean, dataset.std)
    optimizer = build_optimizer(recipe.optimizer, model)
    resets = reset_epochs(recipe.schedule)
    iters = (n + recipe.batch_size - 1) // recipe.batch_size
    prev_correct = torch.zeros(n, dtype=torch.bool)
    ever_correct = torch.zeros(n, dtype=torch.bool)
    forgets = torch.zeros(n, dtype=torch.long)
    margin_sum = torch.zeros(n, dtype=torch.float64)
    el2n = None
    images, labels = dataset.images, dataset.labels
    for epoch in range(recipe.epochs):
        if epoch in resets:
            optimizer = build_optimizer(recipe.optimizer, model)
        model.train()
        order = torch.randperm(n, generator=g)
        for it in range(iters):
            set_lr(optimizer, lr_at(recipe.schedule, None, recipe.optimizer.lr, epoch, it, iters, recipe.epochs))
            idx = order[it * recipe.batch_size : (it + 1) * recipe.batch_size]
            x = transform(images[idx].to(device).float() / 255.0, g)
            y = labels[idx].to(device)
            out = model(x)
            loss = F.cross_entropy(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                o = out.detach().cpu()
                yc = y.cpu()
                correct = o.argmax(1) == yc
                forgets[idx] += (prev_correct[idx] & ~correct).long()
                prev_correct[idx] = correct
                ever_correct[idx] |= correct
                margin_sum[idx] += margins(o, yc).double()
        if epoch + 1 == recipe.el2n_epoch:
            el2n = _eval_el2n(model, plain, dataset, device)
        log(f"scoring model seed {seed}: epoch {epoch + 1}/{recipe.epochs} done")
    forgetting = torch.where(ever_correct, forgets, torch.full_like(forgets, recipe.epochs))
    return {"el2n": el2n, "forgetting": forgetting.float(), "aum": (margin_sum / recipe.epochs).float()}


@torch.inference_mode()
def _eval_el2n(model, plain, dataset: TrainSet, device: str, batch: int = 1000) -> torch.Tensor:
    model.eval()
    out = []
    for start in range(0, len(dataset), batch):
        x = plain(dataset.images[start : start + batch].to(device).float() / 255.0, torch.Generator())
        out.append(el2n_scores(model(x).cpu(), dataset.labels[start : start + batch]))
    model.train()
    return torch.cat(out)


def run_scoring(recipe: ScoringRecipe, dataset: TrainSet, *, device: str = "cpu", log=None) -> tuple[dict[str, torch.Tensor], float]:
    """Per-model scores stacked (models, N), and the wall-clock seconds."""
    log = log or (lambda msg: None)
    start = time.perf_counter()
    per_model = [_train_one(recipe, dataset, seed, device, log) for seed in recipe.seeds]
    stacked = {k: torch.stack([m[k] for m in per_model]) for k in per_model[0]}
    return stacked, time.perf_counter() - start


def cache_path(dataset: TrainSet, recipe: ScoringRecipe) -> Path:
    folder = cache_dir() / "baseline-scores"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{dataset.name}-{dataset.fingerprint[:16]}-{recipe.name}-{recipe_hash(recipe)[:16]}.safetensors"


def get_scores(recipe: ScoringRecipe, dataset: TrainSet, *, device: str = "cpu", use_cache: bool = True, log=None) -> Scores:
    """Scores for (dataset, recipe): from the cache, or from a new scoring run (then cached)."""
    from safetensors.torch import load_file, safe_open, save_file

    digest = recipe_hash(recipe)
    path = cache_path(dataset, recipe)
    reused = False
    if use_cache and path.is_file():
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        if meta.get("recipe_sha256") == digest and meta.get("fingerprint") == dataset.fingerprint:
            stacked = load_file(str(path))
            seconds = float(meta["seconds"])
            reused = True
    if not reused:
        stacked, seconds = run_scoring(recipe, dataset, device=device, log=log)
        meta = {"recipe_sha256": digest, "recipe": recipe.ref, "fingerprint": dataset.fingerprint,
                "seconds": repr(seconds), "device": device, "torch": torch.__version__,
                "shape": json.dumps(list(stacked["el2n"].shape))}
        tmp = path.with_suffix(".tmp")
        save_file({k: v.contiguous() for k, v in stacked.items()}, str(tmp), metadata=meta)
        tmp.replace(path)
    return Scores(
        el2n=stacked["el2n"].mean(0).numpy().astype(np.float64),
        forgetting=stacked["forgetting"].mean(0).numpy().astype(np.float64),
        aum=stacked["aum"].mean(0).numpy().astype(np.float64),
        seconds=seconds,
        reused=reused,
        recipe_ref=recipe.ref,
        recipe_sha256=digest,
        models=int(stacked["el2n"].shape[0]),
    )
