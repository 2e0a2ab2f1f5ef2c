"""Learning-rate schedules and optimizers, as closed-form functions of the step.

The training loop asks :func:`lr_at` for the lr of every step and writes it with
:func:`set_lr`; no torch scheduler object carries state, so resuming, re-creating
the optimizer (DC's milestone reset, :func:`reset_epochs`) and the extra final
pass all see the same numbers. Tests check each formula against torch's own
schedulers.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..protocol.schema import (
    AdamWSpec,
    ConstantSchedule,
    CosineAnnealingSchedule,
    CosineSchedule,
    OptimizerSpec,
    ScheduleSpec,
    SGDSpec,
    StepSchedule,
    WarmupSpec,
)
from ..registry import Registry

__all__ = ["lr_at", "build_optimizer", "reset_epochs", "set_lr", "parameter_groups"]


# ------------------------------------------------------------- schedules


def _progress(step: str, epoch: int, iteration: int, iters_per_epoch: int, epochs: int) -> tuple[int, int]:
    """(t, T) for an 'epoch'- or 'iteration'-stepped schedule."""
    if step == "epoch":
        return epoch, epochs
    return epoch * iters_per_epoch + iteration, epochs * iters_per_epoch


def _constant(s: ConstantSchedule, base: float, epoch: int, it: int, ipe: int, epochs: int) -> float:
    return base


def _cosine(s: CosineSchedule, base: float, epoch: int, it: int, ipe: int, epochs: int) -> float:
    t, T = _progress(s.step, epoch, it, ipe, epochs)
    return base * 0.5 * (1.0 + math.cos(math.pi * t / (s.span * T)))


def _cosine_annealing(s: CosineAnnealingSchedule, base: float, epoch: int, it: int, ipe: int, epochs: int) -> float:
    t, T = _progress(s.step, epoch, it, ipe, epochs)
    return s.eta_min + (base - s.eta_min) * (1.0 + math.cos(math.pi * t / T)) / 2.0


def _multistep(s: StepSchedule, base: float, epoch: int, it: int, ipe: int, epochs: int) -> float:
    return base * s.gamma ** sum(1 for m in s.milestones if m <= epoch)


_SCHEDULES: Registry[Callable[..., float]] = Registry("schedule kind")
_SCHEDULES.register("constant")(_constant)
_SCHEDULES.register("cosine")(_cosine)
_SCHEDULES.register("cosine_annealing")(_cosine_annealing)
_SCHEDULES.register("multistep")(_multistep)


def lr_at(
    schedule: ScheduleSpec,
    warmup: WarmupSpec | None,
    base_lr: float,
    epoch: int,
    iteration: int,
    iters_per_epoch: int,
    epochs: int,
) -> float:
    """The lr for the step at (epoch, iteration within the epoch), both 0-based.

    'epoch'-stepped schedules use t = epoch over T = epochs; 'iteration'-stepped
    ones t = epoch * iters_per_epoch + iteration over T = epochs * iters_per_epoch.

    Warm-up (SRe2L Tiny: LinearLR(start_factor, total_iters=w), then the main
    schedule, stepped per epoch): for epoch < w the lr is
    base * (start_factor + (1 - start_factor) * epoch / w); afterwards the main
    schedule runs as if training started at epoch w and lasted epochs - w
    (torch's SequentialLR). Multistep milestones are the exception: they are
    absolute epoch numbers (as the protocol schema validates them, and as
    :func:`reset_epochs` reports them), warm-up or not.
    """
    if iters_per_epoch < 1 or epochs < 1:
        raise ValueError(f"iters_per_epoch ({iters_per_epoch}) and epochs ({epochs}) must be >= 1")
    if epoch < 0 or not 0 <= iteration < iters_per_epoch:
        raise ValueError(f"epoch {epoch} / iteration {iteration} out of range (iters_per_epoch {iters_per_epoch})")
    fn = _SCHEDULES.get(schedule.kind)
    if warmup is None:
        return fn(schedule, base_lr, epoch, iteration, iters_per_epoch, epochs)
    w = warmup.epochs
    if w >= epochs:
        raise ValueError(f"warm-up epochs ({w}) must be fewer than epochs ({epochs})")
    factor = _warmup_factor(warmup, epoch) if epoch < w else 1.0
    if isinstance(schedule, StepSchedule):  # absolute milestones: warm-up scales, no shift
        return factor * fn(schedule, base_lr, epoch, iteration, iters_per_epoch, epochs)
    if epoch < w:
        return base_lr * factor
    return fn(schedule, base_lr, epoch - w, iteration, iters_per_epoch, epochs - w)


def _warmup_factor(warmup: WarmupSpec, epoch: int) -> float:
    return warmup.start_factor + (1.0 - warmup.start_factor) * epoch / warmup.epochs


def reset_epochs(schedule: ScheduleSpec) -> set[int]:
    """Epochs at whose START a fresh optimizer is created (DC re-creates SGD at each
    lr drop, which also clears momentum); empty unless multistep with reset_optimizer."""
    if isinstance(schedule, StepSchedule) and schedule.reset_optimizer:
        return set(schedule.milestones)
    return set()


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


# ------------------------------------------------------------ optimizers


def parameter_groups(model: torch.nn.Module, weight_decay: float, scope: str) -> list[dict]:
    """'all': one group, every parameter decayed. 'weights_ndim_gt1': SRe2L's
    get_parameters: decay parameters whose name contains 'weight' and that have
    more than one dimension; the rest (biases, norm affines) go to a second group
    with weight_decay 0."""
    if scope == "all":
        return [{"params": list(model.parameters()), "weight_decay": weight_decay}]
    if scope == "weights_ndim_gt1":
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            (decay if "weight" in name and p.ndim > 1 else no_decay).append(p)
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return [g for g in groups if g["params"]]
    raise ValueError(f"unknown weight_decay_scope {scope!r}; known: all, weights_ndim_gt1")


def _sgd(spec: SGDSpec, groups: list[dict], lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=lr, momentum=spec.momentum, nesterov=spec.nesterov)


def _adamw(spec: AdamWSpec, groups: list[dict], lr: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(spec.betas))


def _adam(spec: AdamWSpec, groups: list[dict], lr: float) -> torch.optim.Optimizer:
    # torch's Adam adds weight decay to the gradient (L2), unlike AdamW.
    return torch.optim.Adam(groups, lr=lr, betas=tuple(spec.betas))


_OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer kind")
_OPTIMIZERS.register("sgd")(_sgd)
_OPTIMIZERS.register("adamw")(_adamw)
_OPTIMIZERS.register("adam")(_adam)


def build_optimizer(spec: OptimizerSpec, model: torch.nn.Module, lr: float | None = None) -> torch.optim.Optimizer:
    """The optimizer `spec` names over `model`'s parameters, at `lr` (default spec.lr)."""
    build = _OPTIMIZERS.get(spec.kind)
    if isinstance(spec, SGDSpec) and spec.nesterov and spec.momentum <= 0:
        raise ValueError("SGD with nesterov needs momentum > 0")
    groups = parameter_groups(model, spec.weight_decay, spec.weight_decay_scope)
    return build(spec, groups, spec.lr if lr is None else lr)
