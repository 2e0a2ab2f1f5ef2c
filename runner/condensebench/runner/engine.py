"""Training one fresh student on a condensed set under a protocol, for one seed.

The condensed set lives on the training device as one tensor; augmentation and
mixing run there, batched. Nothing in here looks at the test split until the
last epoch is done: the reported accuracy is the final one.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from ..protocol.schema import Protocol
from ..submission.loader import CondensedSet
from .augment import apply_mix, build_train_transform
from .losses import compute_loss
from .models import build_model
from .schedules import build_optimizer, lr_at, reset_epochs, set_lr
from .testset import PreparedTest, input_stats, score


@dataclass
class SeedResult:
    seed: int
    top1: float
    top5: float | None
    train_seconds: float
    eval_seconds: float
    images_per_second: float
    peak_memory_mb: float
    curves: dict[str, list[float]] = field(default_factory=dict)


def topk_for(num_classes: int) -> list[int]:
    return [1, 5] if num_classes >= 100 else [1]


class _EMA:
    """Exponential moving average of the parameters (EDC: buffers are not averaged)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = [p.detach().clone() for p in model.parameters()]

    @torch.no_grad()
    def update(self, model):
        for s, p in zip(self.shadow, model.parameters()):
            s.mul_(self.decay).add_(p.detach(), alpha=1 - self.decay)

    @torch.no_grad()
    def copy_to(self, model):
        for s, p in zip(self.shadow, model.parameters()):
            p.copy_(s)


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)  # model initialisation uses the global generator
    return torch.Generator().manual_seed(seed)  # every training draw uses this one


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def train_student(
    protocol: Protocol,
    cset: CondensedSet,
    *,
    seed: int,
    device: str,
    teacher: torch.nn.Module | None = None,
    progress: bool = False,
) -> torch.nn.Module:
    card = cset.card
    generator = seed_everything(seed)
    model = build_model(protocol.model, num_classes=card.num_classes, channels=card.channels, image_size=card.image_size)
    model = model.to(device)
    mean, std = input_stats(protocol, card)
    transform = build_train_transform(protocol.augmentations, mean, std, normalize=cset.space == "unit")
    images = cset.images.to(device)
    labels = cset.labels.to(device)
    soft = cset.soft_labels.to(device) if (protocol.label_regime == "soft") else None
    if protocol.label_regime == "soft" and soft is None:
        raise ValueError("the soft regime needs soft labels")

    n = len(labels)
    batch = protocol.batch_size_for(cset.submission.ipc, card.num_classes, n)
    iters = math.ceil(n / batch)
    base_lr = protocol.optimizer.lr
    optimizer = build_optimizer(protocol.optimizer, model)
    resets = reset_epochs(protocol.schedule)
    ema = _EMA(model, protocol.ema.decay) if protocol.ema else None
    curves: dict[str, list[float]] = {"loss": [], "train_acc": [], "lr": []}

    passes = protocol.total_passes()
    bar = tqdm(range(passes), desc=f"seed {seed}", unit="ep", disable=not progress, leave=False)
    for epoch in bar:
        if epoch in resets:
            optimizer = build_optimizer(protocol.optimizer, model)  # DC: momentum reset too
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        loss_sum, correct = 0.0, 0
        for it in range(iters):
            lr = lr_at(protocol.schedule, protocol.warmup, base_lr, epoch, it, iters, protocol.epochs)
            set_lr(optimizer, lr)
            idx = order[it * batch : (it + 1) * batch]
            x = transform(images[idx], generator)
            y = labels[idx]
            x, perm, lam = apply_mix(protocol.mix, x, generator)
            out = model(x)
            if teacher is not None:
                with torch.no_grad():
                    targets = teacher(x)
                loss = compute_loss(protocol.loss, out, y, targets=targets, perm=perm, lam=lam, targets_are_mixed=True)
            else:
                targets = soft[idx] if soft is not None else None
                loss = compute_loss(protocol.loss, out, y, targets=targets, perm=perm, lam=lam, targets_are_mixed=False)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if ema is not None:
                ema.update(model)
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((out.detach().argmax(1) == y).sum())
        curves["loss"].append(loss_sum / n)
        curves["train_acc"].append(100.0 * correct / n)
        curves["lr"].append(lr)
        if progress:
            bar.set_postfix(loss=f"{loss_sum / n:.3f}")
    if ema is not None and protocol.ema.evaluate_with_ema:
        ema.copy_to(model)
    model.curves = curves  # type: ignore[attr-defined]
    return model


def run_seed(
    protocol: Protocol,
    cset: CondensedSet,
    test: PreparedTest,
    *,
    seed: int,
    device: str,
    teacher: torch.nn.Module | None = None,
    progress: bool = False,
) -> SeedResult:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    start = time.perf_counter()
    model = train_student(protocol, cset, seed=seed, device=device, teacher=teacher, progress=progress)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    acc = score(model, test, topk_for(cset.card.num_classes))
    eval_seconds = time.perf_counter() - start
    seen = len(cset.labels) * protocol.total_passes()
    return SeedResult(
        seed=seed,
        top1=acc[1],
        top5=acc.get(5),
        train_seconds=train_seconds,
        eval_seconds=eval_seconds,
        images_per_second=seen / max(train_seconds, 1e-9),
        peak_memory_mb=peak_memory_mb(device),
        curves=model.curves,  # type: ignore[attr-defined]
    )
