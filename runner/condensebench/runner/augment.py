"""Batched, on-device training augmentation with per-sample randomness.

The condensed training set is one tensor on the training device, so every step
here transforms a whole batch (B, C, H, W) at once, vectorised: no per-sample
Python or PIL loop (RandAugment is the one exception: torchvision has no batched
form, so it loops over samples on uint8 tensors).

Randomness comes only from an explicit CPU ``torch.Generator``: every random
parameter is drawn on the CPU with it and then moved to ``x.device``, so the same
seed gives the same output on any device, and the global RNGs are never touched.

Public API:

* :func:`build_train_transform` turns a protocol's ``augmentations`` list into one
  callable ``(x, generator) -> x``.
* :func:`apply_mix` applies the protocol's batch mixing (CutMix / MixUp).

The building blocks (box sampling, DSA ops, ...) are module-level functions so
that tests can check their parameter distributions directly.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..protocol.schema import (
    AugmentationSpec,
    CutMixSpec,
    DSAAug,
    DSAParams,
    HorizontalFlipAug,
    MixSpec,
    MixUpSpec,
    NoMix,
    NormalizeStep,
    PatchShuffleAug,
    RandAugmentAug,
    RandomCropAug,
    RandomResizedCropAug,
)
from ..registry import Registry

Tensor = torch.Tensor
Step = Callable[[Tensor, torch.Generator], Tensor]

__all__ = [
    "build_train_transform",
    "apply_mix",
    "sample_resized_crop_boxes",
    "resized_crop",
    "random_crop",
    "horizontal_flip",
    "patch_shuffle",
    "dsa",
    "DSA_GROUPS",
    "rand_augment",
    "cutmix_box",
]


# ---------------------------------------------------------------- helpers


def _check_generator(generator: torch.Generator) -> None:
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"expected a torch.Generator, got {type(generator).__name__}")
    if generator.device.type != "cpu":
        raise ValueError(
            "augmentation randomness is drawn on the CPU; pass a CPU torch.Generator "
            f"(got one on {generator.device})"
        )


def _rand(shape: Sequence[int], generator: torch.Generator, x: Tensor) -> Tensor:
    """U[0,1) drawn on the CPU with `generator`, moved to x's device and dtype."""
    return torch.rand(tuple(shape), generator=generator).to(device=x.device, dtype=x.dtype)


def _randint(low: int, high: int, shape: Sequence[int], generator: torch.Generator, x: Tensor) -> Tensor:
    return torch.randint(low, high, tuple(shape), generator=generator).to(x.device)


def _seed_from(generator: torch.Generator) -> int:
    """A 63-bit seed drawn from the generator (for RNGs that cannot take it directly)."""
    return int(torch.randint(0, 2**63 - 1, (1,), generator=generator).item())


# ---------------------------------------------------- random resized crop


def sample_resized_crop_boxes(
    n: int,
    height: int,
    width: int,
    scale: Sequence[float],
    ratio: Sequence[float],
    generator: torch.Generator,
    attempts: int = 10,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-sample (top, left, h, w) int64 CPU tensors, sampled exactly like
    torchvision's ``RandomResizedCrop.get_params``, vectorised over the batch.

    All `attempts` tries are drawn for every sample at once; each sample takes
    its first accepted try (the distribution is the same as torchvision's loop,
    which stops at the first accepted one). Samples with no accepted try fall
    back to the centre crop with the aspect ratio clamped to `ratio`.
    """
    _check_generator(generator)
    area = float(height * width)
    log_ratio = torch.log(torch.tensor([float(ratio[0]), float(ratio[1])]))
    s = torch.empty(n, attempts).uniform_(float(scale[0]), float(scale[1]), generator=generator)
    lr = torch.empty(n, attempts).uniform_(float(log_ratio[0]), float(log_ratio[1]), generator=generator)
    target_area = area * s.double()
    aspect = torch.exp(lr).double()
    # torch.round and Python's round both round half to even.
    w = torch.round(torch.sqrt(target_area * aspect)).long()
    h = torch.round(torch.sqrt(target_area / aspect)).long()
    ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = ok.to(torch.uint8).argmax(dim=1, keepdim=True)  # index of the first accepted try
    any_ok = ok.any(dim=1)
    h = h.gather(1, first).squeeze(1)
    w = w.gather(1, first).squeeze(1)

    # Fallback: centre crop, aspect ratio clamped to the allowed range.
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        fw, fh = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        fh, fw = height, int(round(height * max(ratio)))
    else:
        fw, fh = width, height
    h = torch.where(any_ok, h, torch.full_like(h, fh))
    w = torch.where(any_ok, w, torch.full_like(w, fw))

    # Uniform integer offsets in [0, H - h] and [0, W - w].
    u = torch.rand(n, 2, dtype=torch.float64, generator=generator)
    top = torch.floor(u[:, 0] * (height - h + 1).double()).long()
    left = torch.floor(u[:, 1] * (width - w + 1).double()).long()
    top = torch.where(any_ok, top, (height - h) // 2)
    left = torch.where(any_ok, left, (width - w) // 2)
    return top, left, h, w


def resized_crop(
    x: Tensor,
    top: Tensor,
    left: Tensor,
    height: Tensor,
    width: Tensor,
    size: tuple[int, int] | None = None,
    interpolation: str = "bilinear",
) -> Tensor:
    """Crop box b of sample b and resize it to `size` (default: x's H, W), in one
    ``grid_sample`` call.

    The sampling grid reproduces ``F.interpolate(crop, size, align_corners=False)``
    (what torchvision's ``resize`` does on tensors): source coordinates are the
    crop's own, clamped to the crop, so no pixel outside the box leaks in at its
    edges. For 'nearest' the coordinate is floor(dst * in / out) as in torch's
    legacy 'nearest' mode, snapped to a pixel centre.
    """
    B, _, H, W = x.shape
    out_h, out_w = size if size is not None else (H, W)
    dev = x.device
    top_f = top.to(dev, torch.float32).view(B, 1)
    left_f = left.to(dev, torch.float32).view(B, 1)
    h_f = height.to(dev, torch.float32).view(B, 1)
    w_f = width.to(dev, torch.float32).view(B, 1)
    oy = torch.arange(out_h, device=dev, dtype=torch.float32).view(1, out_h)
    ox = torch.arange(out_w, device=dev, dtype=torch.float32).view(1, out_w)
    sy_scale = h_f / out_h
    sx_scale = w_f / out_w
    if interpolation == "bilinear":
        sy = torch.minimum((sy_scale * (oy + 0.5) - 0.5).clamp(min=0.0), h_f - 1)
        sx = torch.minimum((sx_scale * (ox + 0.5) - 0.5).clamp(min=0.0), w_f - 1)
    elif interpolation == "nearest":
        sy = torch.minimum(torch.floor(sy_scale * oy), h_f - 1)
        sx = torch.minimum(torch.floor(sx_scale * ox), w_f - 1)
    else:
        raise ValueError(f"unknown interpolation {interpolation!r}; known: bilinear, nearest")
    # Pixel coordinates -> normalised [-1, 1] (align_corners=False convention).
    gy = (2.0 * (top_f + sy) + 1.0) / H - 1.0  # (B, out_h)
    gx = (2.0 * (left_f + sx) + 1.0) / W - 1.0  # (B, out_w)
    grid = torch.stack(
        (gx.view(B, 1, out_w).expand(B, out_h, out_w), gy.view(B, out_h, 1).expand(B, out_h, out_w)),
        dim=-1,
    ).to(x.dtype)
    return F.grid_sample(x, grid, mode=interpolation, padding_mode="border", align_corners=False)


# ------------------------------------------------------------ random crop


def random_crop(x: Tensor, padding: int, padding_mode: str, generator: torch.Generator) -> Tensor:
    """Pad by `padding` (zeros or reflection), then crop H x W at per-sample
    offsets drawn uniformly in [0, 2 * padding] (torchvision RandomCrop(size, padding))."""
    B, _, H, W = x.shape
    if padding == 0:
        return x
    mode = {"constant": "constant", "reflect": "reflect"}[padding_mode]
    xp = F.pad(x, [padding] * 4, mode=mode)
    offs = _randint(0, 2 * padding + 1, (2, B), generator, x)
    dev = x.device
    rows = offs[0].view(B, 1) + torch.arange(H, device=dev).view(1, H)
    cols = offs[1].view(B, 1) + torch.arange(W, device=dev).view(1, W)
    b = torch.arange(B, device=dev).view(B, 1, 1)
    out = xp.permute(0, 2, 3, 1)[b, rows.view(B, H, 1), cols.view(B, 1, W)]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


# -------------------------------------------------------- horizontal flip


def horizontal_flip(x: Tensor, p: float, generator: torch.Generator) -> Tensor:
    flip = _rand((x.shape[0], 1, 1, 1), generator, x) < p
    return torch.where(flip, x.flip(3), x)


# ---------------------------------------------------------- patch shuffle


def _strip_index(n: int, size: int, factor: int, generator: torch.Generator) -> Tensor:
    """(n, size) source index along one axis: `factor` strips of size // factor
    permuted independently per sample. A remainder (size % factor) stays in
    place at the end: RDED's ShufflePatches drops it, which would change the shape."""
    strip = size // factor
    perm = torch.argsort(torch.rand(n, factor, generator=generator), dim=1)  # (n, factor)
    pos = torch.arange(size)
    k = (pos // strip).clamp(max=factor - 1)
    within = pos - k * strip
    idx = perm[:, k] * strip + within  # (n, size)
    tail = pos >= factor * strip
    return torch.where(tail.view(1, size), pos.view(1, size), idx)


def patch_shuffle(x: Tensor, factor: int, generator: torch.Generator) -> Tensor:
    """RDED's ShufflePatches(factor): permute `factor` equal column strips, then
    `factor` equal row strips, with fresh permutations per sample."""
    if factor == 1:
        return x
    B, C, H, W = x.shape
    col = _strip_index(B, W, factor, generator).to(x.device)
    row = _strip_index(B, H, factor, generator).to(x.device)
    x = x.gather(3, col.view(B, 1, 1, W).expand(B, C, H, W))
    x = x.gather(2, row.view(B, 1, H, 1).expand(B, C, H, W))
    return x


# ------------------------------------------------------------------- DSA
# DC's DiffAugment (VICO-UoE/DatasetCondensation utils.py), same maths, with
# every random draw made on the CPU with the explicit generator.


def dsa_brightness(x: Tensor, p: DSAParams, g: torch.Generator) -> Tensor:
    randb = _rand((x.shape[0], 1, 1, 1), g, x)
    return x + (randb - 0.5) * p.brightness


def dsa_saturation(x: Tensor, p: DSAParams, g: torch.Generator) -> Tensor:
    x_mean = x.mean(dim=1, keepdim=True)
    rands = _rand((x.shape[0], 1, 1, 1), g, x)
    return (x - x_mean) * (rands * p.saturation) + x_mean


def dsa_contrast(x: Tensor, p: DSAParams, g: torch.Generator) -> Tensor:
    x_mean = x.mean(dim=[1, 2, 3], keepdim=True)
    randc = _rand((x.shape[0], 1, 1, 1), g, x)
    return (x - x_mean) * (randc + p.contrast) + x_mean


def dsa_crop(x: Tensor, p: DSAParams, g: torch.Generator) -> Tensor:
    """Translate by up to +-shift pixels per axis; pixels shifted in are zero."""
    B, _, H, W = x.shape
    shift_x, shift_y = int(H * p.ratio_crop_pad + 0.5), int(W * p.ratio_crop_pad + 0.5)
    tx = _randint(-shift_x, shift_x + 1, (B, 1, 1), g, x)
    ty = _randint(-shift_y, shift_y + 1, (B, 1, 1), g, x)
    dev = x.device
    grid_b = torch.arange(B, device=dev).view(B, 1, 1)
    grid_x = torch.clamp(torch.arange(H, device=dev).view(1, H, 1) + tx + 1, 0, H + 1)
    grid_y = torch.clamp(torch.arange(W, device=dev).view(1, 1, W) + ty + 1, 0, W + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1)[grid_b, grid_x, grid_y].permute(0, 3, 1, 2).contiguous()


def dsa_cutout(x: Tensor, p: DSAParams, g: torch.Generator) -> Tensor:
    """Zero a (size x size) square per sample, clipped to the image."""
    B, _, H, W = x.shape
    size_x, size_y = int(H * p.ratio_cutout + 0.5), int(W * p.ratio_cutout + 0.5)
    off_x = _randint(0, H + (1 - size_x % 2), (B, 1, 1), g, x)
    off_y = _randint(0, W + (1 - size_y % 2), (B, 1, 1), g, x)
    dev = x.device
    grid_b = torch.arange(B, device=dev).view(B, 1, 1)
    grid_x = torch.clamp(torch.arange(size_x, device=dev).view(1, size_x, 1) + off_x - size_x // 2, 0, H - 1)
    grid_y = torch.clamp(torch.arange(size_y, device=dev).view(1, 1, size_y) + off_y - size_y // 2, 0, W - 1)
    mask = torch.ones(B, H, W, dtype=x.dtype, device=dev)
    mask[grid_b, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


def dsa_flip(x: Tensor, p: DSAParams, g: torch.Generator) -> Tensor:
    randf = _rand((x.shape[0], 1, 1, 1), g, x)
    return torch.where(randf < p.prob_flip, x.flip(3), x)


def _affine(x: Tensor, theta: Tensor) -> Tensor:
    # DC pinned torch 1.2, whose affine_grid/grid_sample behaved as align_corners=True.
    grid = F.affine_grid(theta.to(device=x.device, dtype=x.dtype), list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, align_corners=True)


def dsa_scale(x: Tensor, p: DSAParams, g: torch.Generator) -> Tensor:
    B = x.shape[0]
    r = p.ratio_scale
    sx = torch.rand(B, generator=g) * (r - 1.0 / r) + 1.0 / r
    sy = torch.rand(B, generator=g) * (r - 1.0 / r) + 1.0 / r
    theta = torch.zeros(B, 2, 3)
    theta[:, 0, 0] = sx
    theta[:, 1, 1] = sy
    return _affine(x, theta)


def dsa_rotate(x: Tensor, p: DSAParams, g: torch.Generator) -> Tensor:
    B = x.shape[0]
    t = (torch.rand(B, generator=g) - 0.5) * 2 * p.ratio_rotate / 180 * float(np.pi)
    theta = torch.zeros(B, 2, 3)
    theta[:, 0, 0] = torch.cos(t)
    theta[:, 0, 1] = torch.sin(-t)
    theta[:, 1, 0] = torch.sin(t)
    theta[:, 1, 1] = torch.cos(t)
    return _affine(x, theta)


DSA_GROUPS: dict[str, tuple[Callable[[Tensor, DSAParams, torch.Generator], Tensor], ...]] = {
    "color": (dsa_brightness, dsa_saturation, dsa_contrast),
    "crop": (dsa_crop,),
    "cutout": (dsa_cutout,),
    "flip": (dsa_flip,),
    "scale": (dsa_scale,),
    "rotate": (dsa_rotate,),
}


def dsa(x: Tensor, spec: DSAAug, generator: torch.Generator) -> Tensor:
    """DiffAugment: mode 'S' applies ONE group, chosen uniformly per batch from the
    strategy; mode 'M' applies every group of the strategy in order."""
    groups = spec.strategy.split("_")
    if spec.mode == "S":
        groups = [groups[int(torch.randint(0, len(groups), (1,), generator=generator).item())]]
    for name in groups:
        for op in DSA_GROUPS[name]:
            x = op(x, spec.params, generator)
    return x.contiguous()


# ----------------------------------------------------------- RandAugment


def rand_augment(x: Tensor, num_ops: int, magnitude: int, generator: torch.Generator) -> Tensor:
    """torchvision.transforms.v2.RandAugment, per sample, on uint8 images.

    The float input is clamped to [0, 1] and converted with torchvision's own
    float->uint8 rule, so the output is quantised to 1/255 steps. RandAugment draws
    from torch's global CPU RNG; it runs inside ``fork_rng`` seeded from
    `generator`, so it is deterministic and leaves the caller's global RNG alone.
    """
    from torchvision.transforms import v2
    from torchvision.transforms.v2 import functional as TF

    if x.shape[1] not in (1, 3):
        raise ValueError(f"rand_augment needs 1 or 3 channels, got {x.shape[1]}")
    seed = _seed_from(generator)
    aug = v2.RandAugment(num_ops=num_ops, magnitude=magnitude)
    u8 = TF.to_dtype(x.detach().clamp(0.0, 1.0), torch.uint8, scale=True)
    out = torch.empty_like(u8)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for k in range(u8.shape[0]):
            out[k] = aug(u8[k])
    return TF.to_dtype(out, x.dtype, scale=True)


# ------------------------------------------------------- the step registry


class _Context:
    def __init__(self, mean: Sequence[float], std: Sequence[float], normalize: bool):
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.normalize = normalize


_STEPS: Registry[Callable[..., Step]] = Registry("augmentation kind")


@_STEPS.register("random_resized_crop")
def _build_rrc(spec: RandomResizedCropAug, ctx: _Context) -> Step:
    scale, ratio = spec.scale, spec.ratio
    if not (0 < scale[0] <= scale[1]) or not (0 < ratio[0] <= ratio[1]):
        raise ValueError(f"random_resized_crop needs 0 < lo <= hi for scale {scale} and ratio {ratio}")

    # The crop is never larger than the image and the output has the input's size,
    # so the resize only ever upsamples (or keeps the size): antialiasing, which
    # acts only when downsampling, has no effect, and `spec.antialias` needs no code.
    def step(x: Tensor, g: torch.Generator) -> Tensor:
        B, _, H, W = x.shape
        top, left, h, w = sample_resized_crop_boxes(B, H, W, scale, ratio, g)
        return resized_crop(x, top, left, h, w, interpolation=spec.interpolation)

    return step


@_STEPS.register("random_crop")
def _build_random_crop(spec: RandomCropAug, ctx: _Context) -> Step:
    return lambda x, g: random_crop(x, spec.padding, spec.padding_mode, g)


@_STEPS.register("horizontal_flip")
def _build_flip(spec: HorizontalFlipAug, ctx: _Context) -> Step:
    return lambda x, g: horizontal_flip(x, spec.p, g)


@_STEPS.register("patch_shuffle")
def _build_patch_shuffle(spec: PatchShuffleAug, ctx: _Context) -> Step:
    return lambda x, g: patch_shuffle(x, spec.factor, g)


@_STEPS.register("dsa")
def _build_dsa(spec: DSAAug, ctx: _Context) -> Step:
    return lambda x, g: dsa(x, spec, g)


@_STEPS.register("rand_augment")
def _build_rand_augment(spec: RandAugmentAug, ctx: _Context) -> Step:
    return lambda x, g: rand_augment(x, spec.num_ops, spec.magnitude, g)


@_STEPS.register("normalize")
def _build_normalize(spec: NormalizeStep, ctx: _Context) -> Step:
    if not ctx.normalize:  # e.g. ZCA-whitened sets: already in their final space
        return lambda x, g: x
    mean, std = ctx.mean, ctx.std
    cache: dict[tuple[torch.device, torch.dtype], tuple[Tensor, Tensor]] = {}

    def step(x: Tensor, g: torch.Generator) -> Tensor:
        if len(mean) != x.shape[1]:
            raise ValueError(f"normalisation has {len(mean)} mean/std values for {x.shape[1]} channels")
        key = (x.device, x.dtype)
        if key not in cache:  # one host-to-device copy per device, not one per batch
            cache[key] = (
                torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1),
                torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1),
            )
        m, s = cache[key]
        return (x - m) / s

    return step


def build_train_transform(
    specs: Sequence[AugmentationSpec],
    mean: Sequence[float],
    std: Sequence[float],
    *,
    normalize: bool = True,
) -> Callable[[Tensor, torch.Generator], Tensor]:
    """One callable ``(x, generator) -> x`` applying `specs` in order.

    x is float (B, C, H, W) in unit pixel space. The 'normalize' step applies
    (x - mean) / std where it stands; without one, normalisation runs last. With
    ``normalize=False`` (ZCA-whitened sets) normalisation is the identity.
    """
    if len(mean) != len(std):
        raise ValueError(f"mean has {len(mean)} values but std has {len(std)}")
    if any(s == 0 for s in std):
        raise ValueError("std values must be non-zero")
    ctx = _Context(mean, std, normalize)
    specs = list(specs)
    kinds = [s.kind for s in specs]
    if kinds.count("normalize") > 1:
        raise ValueError("at most one 'normalize' step")
    if "normalize" not in kinds:
        specs.append(NormalizeStep(kind="normalize"))
        kinds.append("normalize")
    if normalize:
        at = kinds.index("normalize")
        late = [k for k in kinds[at + 1 :] if k == "rand_augment"]
        if late:
            raise ValueError(
                "rand_augment works on [0, 1] pixels (uint8): it must come before 'normalize'"
            )
    steps = [_STEPS.get(spec.kind)(spec, ctx) for spec in specs]

    def transform(x: Tensor, generator: torch.Generator) -> Tensor:
        _check_generator(generator)
        if x.dim() != 4:
            raise ValueError(f"expected a (B, C, H, W) batch, got shape {tuple(x.shape)}")
        for step in steps:
            x = step(x, generator)
        return x

    return transform


# ------------------------------------------------------------------ mixing


def _beta(alpha: float, generator: torch.Generator) -> float:
    rng = np.random.default_rng(_seed_from(generator))
    return float(rng.beta(alpha, alpha))


def cutmix_box(height: int, width: int, lam: float, generator: torch.Generator) -> tuple[int, int, int, int]:
    """SRe2L's rand_bbox: (r1, c1, r2, c2), a box of about sqrt(1 - lam) of each side,
    centred uniformly, clipped to the image. Rows are dim 2, columns dim 3."""
    cut_rat = math.sqrt(1.0 - lam)
    cut_h = int(height * cut_rat)
    cut_w = int(width * cut_rat)
    cy = int(torch.randint(0, height, (1,), generator=generator).item())
    cx = int(torch.randint(0, width, (1,), generator=generator).item())
    r1 = min(max(cy - cut_h // 2, 0), height)
    r2 = min(max(cy + cut_h // 2, 0), height)
    c1 = min(max(cx - cut_w // 2, 0), width)
    c2 = min(max(cx + cut_w // 2, 0), width)
    return r1, c1, r2, c2


def _no_mix(spec: NoMix, x: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor | None, float]:
    return x, None, 1.0


def _cutmix(spec: CutMixSpec, x: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor | None, float]:
    B, _, H, W = x.shape
    lam = _beta(spec.alpha, g)
    perm = torch.randperm(B, generator=g)
    r1, c1, r2, c2 = cutmix_box(H, W, lam, g)
    perm = perm.to(x.device)
    out = x.clone()
    out[:, :, r1:r2, c1:c2] = x[perm, :, r1:r2, c1:c2]
    lam = 1.0 - (r2 - r1) * (c2 - c1) / float(H * W)
    return out, perm, lam


def _mixup(spec: MixUpSpec, x: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor | None, float]:
    lam = _beta(spec.alpha, g)
    perm = torch.randperm(x.shape[0], generator=g).to(x.device)
    return lam * x + (1.0 - lam) * x[perm], perm, lam


_MIXES: Registry[Callable[..., tuple[Tensor, Tensor | None, float]]] = Registry("mix kind")
_MIXES.register("none")(_no_mix)
_MIXES.register("cutmix")(_cutmix)
_MIXES.register("mixup")(_mixup)


def apply_mix(spec: MixSpec, x: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor | None, float]:
    """Mix a batch. Returns (x, perm, lam); the target is lam * y + (1 - lam) * y[perm].
    perm is None (and lam 1.0) when the batch was not mixed."""
    _check_generator(generator)
    fn = _MIXES.get(spec.kind)
    if spec.kind == "none":
        return fn(spec, x, generator)
    # The coin is always drawn, so the random stream does not depend on prob.
    coin = float(torch.rand(1, generator=generator).item())
    if coin >= spec.prob:
        return x, None, 1.0
    return fn(spec, x, generator)
