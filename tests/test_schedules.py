"""lr schedules (closed forms vs torch's own schedulers) and optimizer building."""
from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

from condensebench.errors import CondenseBenchError
from condensebench.protocol.schema import (
    AdamWSpec,
    ConstantSchedule,
    CosineAnnealingSchedule,
    CosineSchedule,
    SGDSpec,
    StepSchedule,
    WarmupSpec,
)
from condensebench.runner.schedules import build_optimizer, lr_at, reset_epochs, set_lr

BASE = 0.1


def _opt(lr: float = BASE) -> torch.optim.Optimizer:
    return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)


def _torch_lrs_per_epoch(make_sched, epochs: int) -> list[float]:
    """lr in effect during each epoch when a torch scheduler is stepped once per epoch."""
    opt = _opt()
    sched = make_sched(opt)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()"
        for _ in range(epochs):
            lrs.append(opt.param_groups[0]["lr"])
            sched.step()
    return lrs


def _ours_per_epoch(schedule, epochs: int, warmup=None, ipe: int = 3) -> list[float]:
    return [lr_at(schedule, warmup, BASE, e, 0, ipe, epochs) for e in range(epochs)]


# ----------------------------------------------------------- formulas


def test_constant():
    s = ConstantSchedule(kind="constant")
    assert all(lr_at(s, None, BASE, e, i, 4, 10) == BASE for e in range(10) for i in range(4))


def test_cosine_formula_points():
    s = CosineSchedule(kind="cosine")
    assert lr_at(s, None, BASE, 0, 0, 5, 10) == pytest.approx(BASE)
    assert lr_at(s, None, BASE, 5, 0, 5, 10) == pytest.approx(BASE / 2)
    assert lr_at(s, None, BASE, 9, 4, 5, 10) == pytest.approx(BASE * 0.5 * (1 + math.cos(math.pi * 0.9)))
    half = CosineSchedule(kind="cosine", span=2.0)  # RDED / EDC: ends at half the lr
    assert lr_at(half, None, BASE, 5, 0, 5, 10) == pytest.approx(BASE * 0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_at(half, None, BASE, 10, 0, 5, 10) == pytest.approx(BASE / 2)


def test_cosine_iteration_stepped_formula():
    s = CosineSchedule(kind="cosine", step="iteration")
    ipe, epochs = 4, 5
    for e in range(epochs):
        for i in range(ipe):
            t = e * ipe + i
            want = BASE * 0.5 * (1 + math.cos(math.pi * t / (ipe * epochs)))
            assert lr_at(s, None, BASE, e, i, ipe, epochs) == pytest.approx(want)
    # an 'epoch'-stepped schedule ignores the iteration
    se = CosineSchedule(kind="cosine")
    assert lr_at(se, None, BASE, 2, 3, ipe, epochs) == lr_at(se, None, BASE, 2, 0, ipe, epochs)


def test_cosine_annealing_formula_points():
    s = CosineAnnealingSchedule(kind="cosine_annealing", eta_min=0.001)
    assert lr_at(s, None, BASE, 0, 0, 2, 8) == pytest.approx(BASE)
    assert lr_at(s, None, BASE, 4, 0, 2, 8) == pytest.approx(0.001 + (BASE - 0.001) / 2)
    assert lr_at(s, None, BASE, 6, 1, 2, 8) == pytest.approx(0.001 + (BASE - 0.001) * (1 + math.cos(math.pi * 6 / 8)) / 2)


def test_multistep_formula_points():
    s = StepSchedule(kind="multistep", milestones=[3, 6], gamma=0.1)
    got = _ours_per_epoch(s, 8)
    want = [BASE] * 3 + [BASE * 0.1] * 3 + [BASE * 0.01] * 2
    assert got == pytest.approx(want)


# ------------------------------------------------- vs torch schedulers


@pytest.mark.parametrize("span", [1.0, 2.0])
def test_cosine_matches_lambdalr(span):
    epochs = 12
    # SRe2L train_KD (span 1) / RDED (span 2) lambda, stepped per epoch
    lam = lambda step: 0.5 * (1.0 + math.cos(math.pi * step / (span * epochs))) if step <= span * epochs else 0
    ref = _torch_lrs_per_epoch(lambda o: torch.optim.lr_scheduler.LambdaLR(o, lam), epochs)
    assert _ours_per_epoch(CosineSchedule(kind="cosine", span=span), epochs) == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_cosine_iteration_matches_lambdalr_per_iteration():
    epochs, ipe = 4, 5
    total = epochs * ipe
    lam = lambda step: 0.5 * (1.0 + math.cos(math.pi * step / total))
    ref = _torch_lrs_per_epoch(lambda o: torch.optim.lr_scheduler.LambdaLR(o, lam), total)
    s = CosineSchedule(kind="cosine", step="iteration")
    ours = [lr_at(s, None, BASE, e, i, ipe, epochs) for e in range(epochs) for i in range(ipe)]
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("eta_min", [0.0, 0.002])
def test_cosine_annealing_matches_torch_epoch(eta_min):
    epochs = 10
    ref = _torch_lrs_per_epoch(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=epochs, eta_min=eta_min), epochs
    )
    s = CosineAnnealingSchedule(kind="cosine_annealing", eta_min=eta_min)
    assert _ours_per_epoch(s, epochs) == pytest.approx(ref, rel=1e-7, abs=1e-10)


def test_cosine_annealing_matches_torch_iteration():
    epochs, ipe = 3, 7
    ref = _torch_lrs_per_epoch(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=epochs * ipe, eta_min=0.001), epochs * ipe
    )
    s = CosineAnnealingSchedule(kind="cosine_annealing", eta_min=0.001, step="iteration")
    ours = [lr_at(s, None, BASE, e, i, ipe, epochs) for e in range(epochs) for i in range(ipe)]
    assert ours == pytest.approx(ref, rel=1e-7, abs=1e-10)


def test_multistep_matches_torch():
    epochs = 20
    ref = _torch_lrs_per_epoch(
        lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[5, 11, 12], gamma=0.3), epochs
    )
    s = StepSchedule(kind="multistep", milestones=[5, 11, 12], gamma=0.3)
    assert _ours_per_epoch(s, epochs) == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("w,start", [(3, 0.01), (1, 0.5), (5, 0.2)])
def test_warmup_matches_sequential_linear_then_cosine(w, start):
    """SRe2L Tiny: LinearLR(start_factor, total_iters=w) then CosineAnnealingLR(T_max=epochs-w)."""
    epochs = 15

    def make(o):
        warm = torch.optim.lr_scheduler.LinearLR(o, start_factor=start, total_iters=w)
        main = torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=epochs - w)
        return torch.optim.lr_scheduler.SequentialLR(o, [warm, main], milestones=[w])

    ref = _torch_lrs_per_epoch(make, epochs)
    warmup = WarmupSpec(epochs=w, start_factor=start)
    ours = _ours_per_epoch(CosineAnnealingSchedule(kind="cosine_annealing"), epochs, warmup)
    assert ours == pytest.approx(ref, rel=1e-6, abs=1e-10)
    # the formula itself
    for e in range(w):
        assert ours[e] == pytest.approx(BASE * (start + (1 - start) * e / w))
    assert ours[w] == pytest.approx(BASE)


def test_warmup_shifts_iteration_stepped_schedule():
    w, epochs, ipe = 2, 6, 5
    warmup = WarmupSpec(epochs=w, start_factor=0.1)
    s = CosineSchedule(kind="cosine", step="iteration")
    # warm-up is per epoch: constant within an epoch
    assert lr_at(s, warmup, BASE, 1, 0, ipe, epochs) == lr_at(s, warmup, BASE, 1, 4, ipe, epochs)
    assert lr_at(s, warmup, BASE, 1, 3, ipe, epochs) == pytest.approx(BASE * (0.1 + 0.9 / 2))
    for e in range(w, epochs):
        for i in range(ipe):
            t, T = (e - w) * ipe + i, (epochs - w) * ipe
            assert lr_at(s, warmup, BASE, e, i, ipe, epochs) == pytest.approx(BASE * 0.5 * (1 + math.cos(math.pi * t / T)))


def test_warmup_with_multistep_keeps_absolute_milestones():
    s = StepSchedule(kind="multistep", milestones=[4], gamma=0.1)
    warmup = WarmupSpec(epochs=2, start_factor=0.5)
    got = _ours_per_epoch(s, 6, warmup)
    assert got == pytest.approx([BASE * 0.5, BASE * 0.75, BASE, BASE, BASE * 0.1, BASE * 0.1])


def test_warmup_constant():
    warmup = WarmupSpec(epochs=4, start_factor=0.25)
    got = _ours_per_epoch(ConstantSchedule(kind="constant"), 6, warmup)
    assert got == pytest.approx([0.025, 0.04375, 0.0625, 0.08125, 0.1, 0.1])


def test_lr_at_rejects_bad_positions():
    s = ConstantSchedule(kind="constant")
    with pytest.raises(ValueError):
        lr_at(s, None, BASE, 0, 3, 3, 10)  # iteration must be < iters_per_epoch
    with pytest.raises(ValueError):
        lr_at(s, None, BASE, -1, 0, 3, 10)
    with pytest.raises(ValueError):
        lr_at(s, WarmupSpec(epochs=10), BASE, 0, 0, 3, 10)


def test_reset_epochs():
    assert reset_epochs(StepSchedule(kind="multistep", milestones=[3, 7], gamma=0.1, reset_optimizer=True)) == {3, 7}
    assert reset_epochs(StepSchedule(kind="multistep", milestones=[3, 7], gamma=0.1)) == set()
    assert reset_epochs(CosineSchedule(kind="cosine")) == set()
    assert reset_epochs(ConstantSchedule(kind="constant")) == set()


# -------------------------------------------------------- optimizers


class _Embed(nn.Module):
    """A 2-D parameter whose name lacks 'weight' (SRe2L's rule does not decay it)."""

    def __init__(self):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.randn(3, 3))

    def forward(self, x):
        return x + self.pos_embed.sum()


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, bias=True), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 2 * 2, 3), _Embed()
    )


def _ids(params) -> set[int]:
    return {id(p) for p in params}


def test_weight_decay_scope_all():
    model = _model()
    opt = build_optimizer(SGDSpec(kind="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4), model)
    assert len(opt.param_groups) == 1
    assert _ids(opt.param_groups[0]["params"]) == _ids(model.parameters())
    assert opt.param_groups[0]["weight_decay"] == 5e-4
    assert opt.param_groups[0]["lr"] == 0.05


def test_weight_decay_scope_weights_ndim_gt1():
    model = _model()
    spec = SGDSpec(kind="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4, weight_decay_scope="weights_ndim_gt1")
    opt = build_optimizer(spec, model)
    decay, no_decay = opt.param_groups
    named = dict(model.named_parameters())
    assert _ids(decay["params"]) == _ids([named["0.weight"], named["3.weight"]])
    assert _ids(no_decay["params"]) == _ids(
        [named["0.bias"], named["1.weight"], named["1.bias"], named["3.bias"], named["4.pos_embed"]]
    )
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0

    # behaviour: with zero gradients only the decayed parameters move
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for n, p in model.named_parameters():
        moved = not torch.equal(p.detach(), before[n])
        assert moved == (n in ("0.weight", "3.weight")), n


def test_sgd_hyperparameters_and_lr_override():
    spec = SGDSpec(kind="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    opt = build_optimizer(spec, _model(), lr=0.005)
    assert isinstance(opt, torch.optim.SGD)
    g = opt.param_groups[0]
    assert (g["lr"], g["momentum"], g["nesterov"], g["weight_decay"]) == (0.005, 0.9, True, 1e-4)
    with pytest.raises(ValueError):
        build_optimizer(SGDSpec(kind="sgd", lr=0.1, nesterov=True), _model())


def test_adamw_and_adam():
    spec = AdamWSpec(kind="adamw", lr=1e-3, betas=(0.8, 0.95), weight_decay=0.01)
    opt = build_optimizer(spec, _model())
    assert type(opt) is torch.optim.AdamW
    assert opt.param_groups[0]["betas"] == (0.8, 0.95)
    assert opt.param_groups[0]["weight_decay"] == 0.01
    opt = build_optimizer(AdamWSpec(kind="adam", lr=1e-3, weight_decay=0.01, weight_decay_scope="weights_ndim_gt1"), _model())
    assert type(opt) is torch.optim.Adam
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)


def test_set_lr_all_groups():
    spec = SGDSpec(kind="sgd", lr=0.05, weight_decay=1e-4, weight_decay_scope="weights_ndim_gt1")
    opt = build_optimizer(spec, _model())
    set_lr(opt, 0.0123)
    assert [g["lr"] for g in opt.param_groups] == [0.0123, 0.0123]


def test_unknown_kinds_raise():
    class Fake:
        kind = "rmsprop"
        weight_decay = 0.0
        weight_decay_scope = "all"
        lr = 0.1

    with pytest.raises(CondenseBenchError):
        build_optimizer(Fake(), _model())

    class FakeSchedule:
        kind = "poly"

    with pytest.raises(CondenseBenchError):
        lr_at(FakeSchedule(), None, BASE, 0, 0, 1, 10)
