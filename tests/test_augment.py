"""Batched on-device augmentation: parameter distributions, exact maths, determinism."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TVF

from condensebench.errors import CondenseBenchError
from condensebench.protocol.schema import (
    CutMixSpec,
    DSAAug,
    DSAParams,
    HorizontalFlipAug,
    MixUpSpec,
    NoMix,
    NormalizeStep,
    PatchShuffleAug,
    RandAugmentAug,
    RandomCropAug,
    RandomResizedCropAug,
)
from condensebench.runner import augment as A
from condensebench.runner.augment import apply_mix, build_train_transform

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
P = DSAParams()


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def clone(g: torch.Generator) -> torch.Generator:
    c = torch.Generator()
    c.set_state(g.get_state())
    return c


def coded(b: int, c: int, h: int, w: int) -> torch.Tensor:
    """Every pixel of every sample distinct and non-zero."""
    return (torch.arange(b * c * h * w, dtype=torch.float32).view(b, c, h, w) + 1) / (b * c * h * w)




# ------------------------------------------------- random resized crop


def test_rrc_box_distribution_matches_torchvision():
    H = W = 224
    n = 3000
    scale, ratio = (0.08, 1.0), (3 / 4, 4 / 3)
    top, left, h, w = A.sample_resized_crop_boxes(n, H, W, scale, ratio, gen(1))
    frac = (h * w).double() / (H * W)
    ar = w.double() / h.double()
    # rounding w and h to integers moves the area and ratio a little past the bounds
    assert frac.min() >= scale[0] * 0.97 and frac.max() <= 1.0
    assert ar.min() >= ratio[0] * 0.97 and ar.max() <= ratio[1] * 1.03
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= H).all() and (left + w <= W).all()

    img = torch.empty(3, H, W)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        ref = torch.tensor([T.RandomResizedCrop.get_params(img, list(scale), list(ratio)) for _ in range(n)])
    ref_frac = (ref[:, 2] * ref[:, 3]).double() / (H * W)
    ref_logar = torch.log(ref[:, 3].double() / ref[:, 2].double())
    assert abs(frac.mean() - ref_frac.mean()) < 0.02  # each mean has s.e. ~0.005
    assert abs(frac.std() - ref_frac.std()) < 0.02
    assert abs(torch.log(ar).mean() - ref_logar.mean()) < 0.02
    # offsets cover the whole allowed range
    assert (top == 0).any() and (top == H - h).any()


def test_rrc_fallback_matches_torchvision():
    # no try can fit a >= 90% area box of ratio <= 4/3 in a 10 x 40 image
    H, W = 10, 40
    top, left, h, w = A.sample_resized_crop_boxes(5, H, W, (0.9, 1.0), (3 / 4, 4 / 3), gen())
    ref = T.RandomResizedCrop.get_params(torch.empty(1, H, W), [0.9, 1.0], [3 / 4, 4 / 3])
    assert ref == (0, 13, 10, 13)
    for k in range(5):
        assert (int(top[k]), int(left[k]), int(h[k]), int(w[k])) == ref


@pytest.mark.parametrize(
    "mode,tv", [("bilinear", InterpolationMode.BILINEAR), ("nearest", InterpolationMode.NEAREST)]
)
@pytest.mark.parametrize("shape", [(3, 16, 16), (3, 12, 20)])
def test_resized_crop_matches_torchvision(mode, tv, shape):
    C, H, W = shape
    x = torch.rand(24, C, H, W, generator=gen(3))
    top, left, h, w = A.sample_resized_crop_boxes(24, H, W, (0.08, 1.0), (3 / 4, 4 / 3), gen(4))
    ours = A.resized_crop(x, top, left, h, w, interpolation=mode)
    ref = torch.stack(
        [
            TVF.resized_crop(x[k], int(top[k]), int(left[k]), int(h[k]), int(w[k]), [H, W], interpolation=tv, antialias=True)
            for k in range(24)
        ]
    )
    assert ours.shape == x.shape
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def test_resized_crop_full_box_is_identity():
    x = torch.rand(4, 3, 9, 13, generator=gen())
    full = (torch.zeros(4, dtype=torch.long), torch.zeros(4, dtype=torch.long), torch.full((4,), 9), torch.full((4,), 13))
    for mode in ("bilinear", "nearest"):
        torch.testing.assert_close(A.resized_crop(x, *full, interpolation=mode), x, atol=1e-6, rtol=0)
    # and through the pipeline: scale (1, 1), ratio (1, 1) on a square image is the full box
    t = build_train_transform([RandomResizedCropAug(kind="random_resized_crop", scale=(1, 1), ratio=(1, 1))], MEAN, STD, normalize=False)
    y = torch.rand(4, 3, 8, 8, generator=gen())
    torch.testing.assert_close(t(y, gen()), y, atol=1e-6, rtol=0)


def test_rrc_step_uses_sampled_boxes():
    spec = RandomResizedCropAug(kind="random_resized_crop", scale=(0.2, 0.6))
    t = build_train_transform([spec], MEAN, STD, normalize=False)
    x = torch.rand(16, 3, 12, 12, generator=gen())
    g = gen(7)
    g2 = clone(g)
    boxes = A.sample_resized_crop_boxes(16, 12, 12, (0.2, 0.6), (3 / 4, 4 / 3), g2)
    torch.testing.assert_close(t(x, g), A.resized_crop(x, *boxes), atol=0, rtol=0)


# ------------------------------------------------------- random crop


@pytest.mark.parametrize("padding_mode", ["constant", "reflect"])
def test_random_crop_is_a_window_of_the_padded_image(padding_mode):
    pad = 2
    x = coded(48, 2, 6, 6)
    y = build_train_transform([RandomCropAug(kind="random_crop", padding=pad, padding_mode=padding_mode)], MEAN[:2], STD[:2], normalize=False)(x, gen())
    xp = F.pad(x, [pad] * 4, mode=padding_mode)
    seen = set()
    for b in range(48):
        hits = [
            (i, j)
            for i in range(2 * pad + 1)
            for j in range(2 * pad + 1)
            if torch.equal(y[b], xp[b, :, i : i + 6, j : j + 6])
        ]
        assert len(hits) == 1, b
        seen.add(hits[0])
    assert len(seen) > 10  # per-sample offsets, many distinct
    assert (0, 0) in seen or (2 * pad, 2 * pad) in seen


def test_random_crop_zero_padding_is_identity():
    x = coded(3, 1, 4, 4)
    assert torch.equal(A.random_crop(x, 0, "constant", gen()), x)


# ----------------------------------------------------------------- flip


def test_horizontal_flip_per_sample():
    x = coded(4000, 1, 1, 3)
    y = A.horizontal_flip(x, 0.5, gen())
    flipped = (y == x.flip(3)).all(dim=(1, 2, 3))
    kept = (y == x).all(dim=(1, 2, 3))
    assert bool((flipped ^ kept).all())
    assert abs(flipped.float().mean().item() - 0.5) < 0.03
    assert torch.equal(A.horizontal_flip(x, 0.0, gen()), x)
    assert torch.equal(A.horizontal_flip(x, 1.0, gen()), x.flip(3))
    y = A.horizontal_flip(x, 0.2, gen(1))
    assert abs((y == x.flip(3)).all(dim=(1, 2, 3)).float().mean().item() - 0.2) < 0.03


# -------------------------------------------------------- patch shuffle


def _strip_perm_candidates(size: int, factor: int):
    s = size // factor
    for perm in itertools.permutations(range(factor)):
        idx = [perm[k] * s + o for k in range(factor) for o in range(s)] + list(range(factor * s, size))
        yield perm, torch.tensor(idx)


@pytest.mark.parametrize("factor,H,W", [(2, 6, 8), (3, 9, 6), (3, 7, 8)])
def test_patch_shuffle_permutes_strips(factor, H, W):
    x = coded(40, 2, H, W)
    y = A.patch_shuffle(x, factor, gen())
    assert y.shape == x.shape
    assert torch.equal(y.flatten(1).sort(dim=1).values, x.flatten(1).sort(dim=1).values)
    used = set()
    for b in range(40):
        hits = [
            (pr, pc)
            for pr, ri in _strip_perm_candidates(H, factor)
            for pc, ci in _strip_perm_candidates(W, factor)
            if torch.equal(y[b], x[b][:, ri][:, :, ci])
        ]
        assert len(hits) == 1
        used.add(hits[0])
    assert len(used) > 3  # fresh permutations per sample


def test_patch_shuffle_factor_one_is_identity():
    x = coded(5, 3, 8, 8)
    t = build_train_transform([PatchShuffleAug(kind="patch_shuffle", factor=1)], MEAN, STD, normalize=False)
    assert torch.equal(t(x, gen()), x)


# ------------------------------------------------------------------ DSA


def test_dsa_brightness():
    x = torch.full((4000, 3, 2, 2), 0.3)
    y = A.dsa_brightness(x, DSAParams(brightness=0.8), gen())
    d = y - x
    per = d[:, 0, 0, 0]
    assert torch.allclose(d, per.view(-1, 1, 1, 1).expand_as(d))  # one shift per sample
    assert per.min() >= -0.4 and per.max() <= 0.4
    assert per.min() < -0.38 and per.max() > 0.38
    assert abs(per.mean().item()) < 0.015


def _fit_factor(dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Per-sample least-squares f with dy = f * dx."""
    return (dx * dy).flatten(1).sum(1) / (dx * dx).flatten(1).sum(1)


def test_dsa_saturation():
    x = torch.rand(3000, 3, 2, 2, generator=gen(1))
    y = A.dsa_saturation(x, P, gen())
    m = x.mean(dim=1, keepdim=True)
    factor = _fit_factor(x - m, y - m)
    torch.testing.assert_close(y, (x - m) * factor.view(-1, 1, 1, 1) + m, atol=1e-5, rtol=0)
    torch.testing.assert_close(y.mean(dim=1), x.mean(dim=1))
    assert factor.min() >= 0 and factor.max() <= P.saturation
    assert abs(factor.mean().item() - P.saturation / 2) < 0.05


def test_dsa_contrast():
    x = torch.rand(3000, 3, 2, 2, generator=gen(1))
    y = A.dsa_contrast(x, P, gen())
    m = x.mean(dim=[1, 2, 3], keepdim=True)
    f = _fit_factor(x - m, y - m)
    torch.testing.assert_close(y, (x - m) * f.view(-1, 1, 1, 1) + m, atol=1e-5, rtol=0)
    assert f.min() >= P.contrast - 1e-5 and f.max() <= P.contrast + 1 + 1e-5
    assert abs(f.mean().item() - (P.contrast + 0.5)) < 0.03


def test_dsa_flip_fraction():
    x = coded(4000, 1, 1, 2)
    y = A.dsa_flip(x, P, gen())
    flipped = (y == x.flip(3)).all(dim=(1, 2, 3))
    assert bool(((y == x).all(dim=(1, 2, 3)) ^ flipped).all())
    assert abs(flipped.float().mean().item() - 0.5) < 0.03


def test_dsa_crop_shifts_within_range_and_zero_fills():
    H = W = 16
    shift = int(H * P.ratio_crop_pad + 0.5)  # 2
    x = coded(200, 2, H, W)
    y = A.dsa_crop(x, P, gen())
    xp = F.pad(x, [shift] * 4)
    seen = set()
    for b in range(200):
        hits = [
            (tx, ty)
            for tx in range(-shift, shift + 1)
            for ty in range(-shift, shift + 1)
            # out[i, j] = x[i + tx, j + ty], zero outside
            if torch.equal(y[b], xp[b, :, shift + tx : shift + tx + H, shift + ty : shift + ty + W])
        ]
        assert len(hits) == 1
        seen.add(hits[0])
    assert {(-shift, -shift), (shift, shift), (0, 0)} <= seen


@pytest.mark.parametrize("H,ratio,size", [(16, 0.5, 8), (14, 0.5, 7)])
def test_dsa_cutout_zeroes_one_square(H, ratio, size):
    x = torch.ones(400, 1, H, H)
    p = DSAParams(ratio_cutout=ratio)
    y = A.dsa_cutout(x, p, gen())
    zero = y[:, 0] == 0
    full = 0
    for b in range(400):
        rows = zero[b].any(dim=1).nonzero().flatten()
        cols = zero[b].any(dim=0).nonzero().flatten()
        # a rectangle: its bounding box is entirely zero, everything else kept
        assert torch.equal(zero[b], zero[b].any(dim=1)[:, None] & zero[b].any(dim=0)[None, :])
        assert (rows.diff() == 1).all() and (cols.diff() == 1).all()
        assert 1 <= len(rows) <= size and 1 <= len(cols) <= size
        # clipped only at the image border
        if len(rows) < size:
            assert rows[0] == 0 or rows[-1] == H - 1
        if len(cols) < size:
            assert cols[0] == 0 or cols[-1] == H - 1
        full += len(rows) == size and len(cols) == size
    assert full > 100


@pytest.mark.parametrize("op", [A.dsa_scale, A.dsa_rotate])
def test_dsa_scale_rotate_keep_constant_interior(op):
    x = torch.full((64, 3, 16, 16), 0.7)
    y = op(x, P, gen())
    torch.testing.assert_close(y[:, :, 5:11, 5:11], x[:, :, 5:11, 5:11], atol=1e-5, rtol=0)
    assert (y < 0.69).any()  # some samples reach outside the image (zero padding)


def _dc_theta_scale(g, B, ratio):
    # DC utils.py rand_scale, written as there (per-sample list of 2x3 matrices)
    sx = torch.rand(B, generator=g) * (ratio - 1.0 / ratio) + 1.0 / ratio
    sy = torch.rand(B, generator=g) * (ratio - 1.0 / ratio) + 1.0 / ratio
    return torch.tensor([[[sx[i], 0, 0], [0, sy[i], 0]] for i in range(B)], dtype=torch.float)


def _dc_theta_rotate(g, B, ratio):
    t = (torch.rand(B, generator=g) - 0.5) * 2 * ratio / 180 * float(math.pi)
    return torch.tensor(
        [[[torch.cos(t[i]), torch.sin(-t[i]), 0], [torch.sin(t[i]), torch.cos(t[i]), 0]] for i in range(B)],
        dtype=torch.float,
    )


@pytest.mark.parametrize(
    "op,theta_fn,ratio",
    [(A.dsa_scale, _dc_theta_scale, P.ratio_scale), (A.dsa_rotate, _dc_theta_rotate, P.ratio_rotate)],
)
def test_dsa_affine_matches_dc_reference(op, theta_fn, ratio):
    x = torch.rand(10, 3, 12, 12, generator=gen(1))
    g = gen(5)
    theta = theta_fn(clone(g), 10, ratio)
    ref = F.grid_sample(x, F.affine_grid(theta, x.shape, align_corners=True), align_corners=True)
    torch.testing.assert_close(op(x, P, g), ref, atol=1e-6, rtol=0)
    if op is A.dsa_scale:
        assert theta[:, 0, 0].min() >= 1 / ratio and theta[:, 0, 0].max() <= ratio
    else:
        ang = torch.atan2(theta[:, 1, 0], theta[:, 0, 0]) * 180 / math.pi
        assert ang.abs().max() <= ratio + 1e-4


def _dc_crop(x, g, ratio):
    # DC utils.py rand_crop, with the generator in place of the global RNG
    shift_x, shift_y = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    translation_x = torch.randint(-shift_x, shift_x + 1, size=[x.size(0), 1, 1], generator=g)
    translation_y = torch.randint(-shift_y, shift_y + 1, size=[x.size(0), 1, 1], generator=g)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0)), torch.arange(x.size(2)), torch.arange(x.size(3)), indexing="ij"
    )
    grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
    grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)


def _dc_cutout(x, g, ratio):
    # DC utils.py rand_cutout, with the generator in place of the global RNG
    cutout_size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    offset_x = torch.randint(0, x.size(2) + (1 - cutout_size[0] % 2), size=[x.size(0), 1, 1], generator=g)
    offset_y = torch.randint(0, x.size(3) + (1 - cutout_size[1] % 2), size=[x.size(0), 1, 1], generator=g)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0)), torch.arange(cutout_size[0]), torch.arange(cutout_size[1]), indexing="ij"
    )
    grid_x = torch.clamp(grid_x + offset_x - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
    grid_y = torch.clamp(grid_y + offset_y - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


@pytest.mark.parametrize("op,ref", [(A.dsa_crop, "crop"), (A.dsa_cutout, "cutout")])
@pytest.mark.parametrize("shape", [(16, 16), (14, 20)])
def test_dsa_crop_cutout_match_dc_reference(op, ref, shape):
    x = coded(32, 3, *shape)
    g = gen(8)
    want = _dc_crop(x, clone(g), P.ratio_crop_pad) if ref == "crop" else _dc_cutout(x, clone(g), P.ratio_cutout)
    assert torch.equal(op(x, P, g), want)


def _record_groups(monkeypatch):
    calls: list[str] = []
    for name in A.DSA_GROUPS:
        def rec(x, p, g, _name=name):
            calls.append(_name)
            return x
        monkeypatch.setitem(A.DSA_GROUPS, name, (rec,))
    return calls


def test_dsa_mode_s_applies_exactly_one_group(monkeypatch):
    calls = _record_groups(monkeypatch)
    spec = DSAAug(kind="dsa", mode="S")
    x = torch.zeros(2, 3, 4, 4)
    g = gen()
    counts = {k: 0 for k in A.DSA_GROUPS}
    for _ in range(600):
        calls.clear()
        A.dsa(x, spec, g)
        assert len(calls) == 1
        counts[calls[0]] += 1
    assert all(60 < c < 140 for c in counts.values()), counts


def test_dsa_mode_m_applies_every_group_in_order(monkeypatch):
    calls = _record_groups(monkeypatch)
    A.dsa(torch.zeros(2, 3, 4, 4), DSAAug(kind="dsa", mode="M", strategy="flip_color_rotate"), gen())
    assert calls == ["flip", "color", "rotate"]


def test_dsa_color_group_order():
    # brightness, then saturation, then contrast, each drawing once per sample
    x = torch.rand(6, 3, 5, 5, generator=gen(2))
    g = gen(9)
    ref = A.dsa_contrast(A.dsa_saturation(A.dsa_brightness(x, P, clone(g)), P, _advance(g, 1)), P, _advance(g, 2))
    spec = DSAAug(kind="dsa", strategy="color", mode="M")
    torch.testing.assert_close(A.dsa(x, spec, gen(9)), ref)


def _advance(g: torch.Generator, k: int) -> torch.Generator:
    c = clone(g)
    for _ in range(k):
        torch.rand(6, 1, 1, 1, generator=c)
    return c


def test_dsa_pipeline_deterministic_and_shape():
    spec = DSAAug(kind="dsa", mode="M")
    t = build_train_transform([spec], MEAN, STD, normalize=False)
    x = torch.rand(8, 3, 16, 16, generator=gen())
    a, b, c = t(x, gen(1)), t(x, gen(1)), t(x, gen(2))
    assert a.shape == x.shape
    assert torch.equal(a, b) and not torch.equal(a, c)


# ----------------------------------------------------------- RandAugment


def test_rand_augment_quantised_deterministic_and_global_rng_untouched():
    x = torch.rand(1, 3, 12, 12, generator=gen()).expand(12, 3, 12, 12).contiguous()
    state = torch.get_rng_state()
    t = build_train_transform([RandAugmentAug(kind="rand_augment")], MEAN, STD, normalize=False)
    a = t(x, gen(3))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, t(x, gen(3)))
    assert not torch.equal(a, t(x, gen(4)))
    assert torch.allclose(a * 255, (a * 255).round(), atol=1e-4)  # uint8 levels
    assert len({tuple(a[k].flatten().tolist()) for k in range(12)}) > 1  # per-sample ops


def test_rand_augment_zero_ops_is_uint8_roundtrip():
    x = torch.rand(3, 3, 6, 6, generator=gen()) * 1.2 - 0.1
    y = A.rand_augment(x, 0, 9, gen())
    torch.testing.assert_close(y, torch.floor(x.clamp(0, 1) * 255.999) / 255)


def test_rand_augment_after_normalize_is_refused():
    with pytest.raises(ValueError):
        build_train_transform([NormalizeStep(kind="normalize"), RandAugmentAug(kind="rand_augment")], MEAN, STD)


# ------------------------------------------------------------ normalise


def _norm(x):
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def test_normalize_appended_at_end_when_absent():
    x = torch.rand(4, 3, 5, 5, generator=gen())
    t = build_train_transform([HorizontalFlipAug(kind="horizontal_flip", p=1.0)], MEAN, STD)
    torch.testing.assert_close(t(x, gen()), _norm(x.flip(3)))
    torch.testing.assert_close(build_train_transform([], MEAN, STD)(x, gen()), _norm(x))


def test_normalize_position_matters():
    x = torch.rand(64, 3, 6, 6, generator=gen()) + 1.0  # never 0 or -mean/std
    crop = RandomCropAug(kind="random_crop", padding=2)
    norm = NormalizeStep(kind="normalize")
    before = build_train_transform([norm, crop], MEAN, STD)(x, gen())  # padding after normalising
    after = build_train_transform([crop, norm], MEAN, STD)(x, gen())  # padding in pixel space
    pad_before = before == 0
    assert pad_before.any()
    fill = _norm(torch.zeros(1, 3, 1, 1)).expand_as(after)
    torch.testing.assert_close(after[pad_before], fill[pad_before])
    # same crops (same generator), so they agree wherever a real pixel landed
    torch.testing.assert_close(after[~pad_before], before[~pad_before])


def test_normalize_false_is_identity():
    x = torch.randn(4, 3, 5, 5, generator=gen())
    assert torch.equal(build_train_transform([], MEAN, STD, normalize=False)(x, gen()), x)
    t = build_train_transform([NormalizeStep(kind="normalize")], MEAN, STD, normalize=False)
    assert torch.equal(t(x, gen()), x)


def test_transform_errors():
    class Fake:
        kind = "solarize"

    with pytest.raises(CondenseBenchError):
        build_train_transform([Fake()], MEAN, STD)
    with pytest.raises(ValueError):
        build_train_transform([NormalizeStep(kind="normalize")] * 2, MEAN, STD)
    with pytest.raises(ValueError):
        build_train_transform([], MEAN, STD)(torch.zeros(4, 1, 5, 5), gen())  # 3 stats, 1 channel
    with pytest.raises(TypeError):
        build_train_transform([], MEAN, STD)(torch.zeros(1, 3, 2, 2), 0)


def test_full_pipeline_determinism():
    specs = [
        RandomResizedCropAug(kind="random_resized_crop"),
        RandomCropAug(kind="random_crop", padding=2, padding_mode="reflect"),
        HorizontalFlipAug(kind="horizontal_flip"),
        PatchShuffleAug(kind="patch_shuffle", factor=2),
        NormalizeStep(kind="normalize"),
        DSAAug(kind="dsa", mode="M"),
    ]
    t = build_train_transform(specs, MEAN, STD)
    x = torch.rand(16, 3, 16, 16, generator=gen())
    a = t(x, gen(11))
    assert a.shape == x.shape
    assert torch.equal(a, t(x, gen(11)))
    assert not torch.equal(a, t(x, gen(12)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    specs = [
        RandomResizedCropAug(kind="random_resized_crop"),
        RandomCropAug(kind="random_crop", padding=2),
        HorizontalFlipAug(kind="horizontal_flip"),
        PatchShuffleAug(kind="patch_shuffle", factor=2),
        NormalizeStep(kind="normalize"),
        DSAAug(kind="dsa", mode="M"),
    ]
    t = build_train_transform(specs, MEAN, STD)
    x = torch.rand(16, 3, 16, 16, generator=gen())
    torch.testing.assert_close(t(x.cuda(), gen(1)).cpu(), t(x, gen(1)), atol=1e-4, rtol=0)
    for spec in (CutMixSpec(kind="cutmix", alpha=1.0), MixUpSpec(kind="mixup", alpha=1.0)):
        a, b = apply_mix(spec, x.cuda(), gen(2)), apply_mix(spec, x, gen(2))
        torch.testing.assert_close(a[0].cpu(), b[0])
        assert torch.equal(a[1].cpu(), b[1]) and a[2] == b[2]


# --------------------------------------------------------------- mixing


def _constant_batch(B: int, H: int = 8, W: int = 8) -> torch.Tensor:
    return torch.arange(B, dtype=torch.float32).view(B, 1, 1, 1).expand(B, 2, H, W).contiguous()


def test_cutmix_box_and_lam():
    B, H, W = 6, 10, 12
    x = _constant_batch(B, H, W)
    g = gen()
    spec = CutMixSpec(kind="cutmix", alpha=1.0)
    checked = 0
    for _ in range(200):
        y, perm, lam = apply_mix(spec, x, g)
        assert perm is not None and sorted(perm.tolist()) == list(range(B))
        for b in range(B):
            if perm[b] == b:
                assert torch.equal(y[b], x[b])
                continue
            inside = y[b, 0] != b
            # pixels in the box come from x[perm]; the rest are x's own
            assert (y[b][:, inside] == perm[b]).all() and (y[b][:, ~inside] == b).all()
            rows, cols = inside.any(1), inside.any(0)
            assert torch.equal(inside, rows[:, None] & cols[None, :])  # one rectangle
            assert inside.double().mean().item() == pytest.approx(1 - lam, abs=1e-12)
            checked += 1
    assert checked > 300
    assert torch.equal(x, _constant_batch(B, H, W))  # input untouched


def test_cutmix_one_box_per_batch():
    x = _constant_batch(8)
    y, perm, lam = apply_mix(CutMixSpec(kind="cutmix", alpha=1.0), x, gen(3))
    boxes = {tuple((y[b, 0] != b).nonzero().flatten().tolist()) for b in range(8) if perm[b] != b}
    assert len(boxes) == 1


def test_cutmix_box_geometry_matches_sre2l():
    # SRe2L rand_bbox: cut = int(side * sqrt(1 - lam)), box = centre +- cut // 2, clipped
    g = gen()
    for lam in (0.0, 0.3, 0.75, 0.99):
        for _ in range(50):
            r1, c1, r2, c2 = A.cutmix_box(10, 16, lam, g)
            cut_h, cut_w = int(10 * math.sqrt(1 - lam)), int(16 * math.sqrt(1 - lam))
            assert 0 <= r1 <= r2 <= 10 and 0 <= c1 <= c2 <= 16
            assert r2 - r1 <= 2 * (cut_h // 2) and c2 - c1 <= 2 * (cut_w // 2)
            if 0 < r1 and r2 < 10:
                assert r2 - r1 == 2 * (cut_h // 2)
            if 0 < c1 and c2 < 16:
                assert c2 - c1 == 2 * (cut_w // 2)


def test_mix_lam_distributions():
    x = torch.rand(4, 1, 8, 8, generator=gen())
    g = gen(1)
    mix_l = torch.tensor([apply_mix(MixUpSpec(kind="mixup", alpha=1.0), x, g)[2] for _ in range(2000)])
    assert abs(mix_l.mean().item() - 0.5) < 0.03
    assert abs(mix_l.var().item() - 1 / 12) < 0.01  # Beta(1, 1) = U(0, 1)
    u = torch.tensor([apply_mix(MixUpSpec(kind="mixup", alpha=0.2), x, g)[2] for _ in range(2000)])
    assert abs(u.mean().item() - 0.5) < 0.03
    assert abs(u.var().item() - 1 / (4 * 1.4)) < 0.02  # Beta(a, a) variance 1 / (4 (2a + 1))
    assert u.min() >= 0 and u.max() <= 1


def _sre2l_lam_mean(alpha: float, H: int, W: int, n: int, seed: int) -> float:
    """SRe2L relabel/utils_fkd.py cutmix + rand_bbox with NumPy, lam re-computed from the box."""
    import numpy as np

    rs = np.random.RandomState(seed)
    lams = []
    for _ in range(n):
        lam = rs.beta(alpha, alpha)
        cut_rat = np.sqrt(1.0 - lam)
        cut_w, cut_h = int(H * cut_rat), int(W * cut_rat)  # SRe2L's W = size[2], H = size[3]
        cx, cy = rs.randint(H), rs.randint(W)
        bbx1, bby1 = np.clip(cx - cut_w // 2, 0, H), np.clip(cy - cut_h // 2, 0, W)
        bbx2, bby2 = np.clip(cx + cut_w // 2, 0, H), np.clip(cy + cut_h // 2, 0, W)
        lams.append(1 - (bbx2 - bbx1) * (bby2 - bby1) / (H * W))
    return float(np.mean(lams))


def test_cutmix_lam_distribution_matches_sre2l():
    x = torch.rand(4, 1, 16, 16, generator=gen())
    g = gen(1)
    cut_l = torch.tensor([apply_mix(CutMixSpec(kind="cutmix", alpha=1.0), x, g)[2] for _ in range(2000)], dtype=torch.float64)
    assert cut_l.min() >= 0 and cut_l.max() <= 1
    # E[lam] = 0.5 before the box is clipped and its side rounded down; after, larger
    ref = _sre2l_lam_mean(1.0, 16, 16, 6000, seed=0)
    assert 0.5 < ref < 0.75
    assert abs(cut_l.mean().item() - ref) < 0.02


def test_mixup_is_convex_combination():
    x = torch.rand(8, 3, 5, 5, generator=gen())
    y, perm, lam = apply_mix(MixUpSpec(kind="mixup", alpha=0.4), x, gen(2))
    assert 0 <= lam <= 1 and sorted(perm.tolist()) == list(range(8))
    torch.testing.assert_close(y, lam * x + (1 - lam) * x[perm])


def test_mix_prob_and_none():
    x = torch.rand(4, 1, 4, 4, generator=gen())
    y, perm, lam = apply_mix(NoMix(kind="none"), x, gen())
    assert y is x and perm is None and lam == 1.0
    y, perm, lam = apply_mix(CutMixSpec(kind="cutmix", alpha=1.0, prob=0.0), x, gen())
    assert torch.equal(y, x) and perm is None and lam == 1.0
    g = gen(4)
    mixed = sum(apply_mix(MixUpSpec(kind="mixup", alpha=1.0, prob=0.3), x, g)[1] is not None for _ in range(2000))
    assert abs(mixed / 2000 - 0.3) < 0.04


def test_mix_determinism():
    x = torch.rand(8, 3, 6, 6, generator=gen())
    for spec in (CutMixSpec(kind="cutmix", alpha=1.0), MixUpSpec(kind="mixup", alpha=1.0)):
        a, b, c = apply_mix(spec, x, gen(5)), apply_mix(spec, x, gen(5)), apply_mix(spec, x, gen(6))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]
        assert not torch.equal(a[0], c[0])
