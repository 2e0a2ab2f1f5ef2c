"""Test-split leakage: submitted images that are near-duplicates of test images.

Distance. Each image (unit [0, 1] pixels, C x H x W) is centred on its own mean
and divided by max(its std, CONTRAST_FLOOR):  g(x) = (x - mean x) / max(std x, 0.25).
Two images are near-duplicates when the RMS of g(a) - g(b) is at most
THRESHOLD (0.1), with b horizontally flipped or not. For images of ordinary
contrast this is a correlation of at least 0.995, so a copy survives a change
of brightness or contrast, JPEG re-encoding or light noise; for flat,
low-contrast images the floor turns it into an RMS pixel difference of at most
0.025. Calibrated on the real data (see tests/test_validate.py): distinct
CIFAR-10 train/test pairs stay above it (the closest of 10,000 random train
images to the test split has a correlation of 0.992), and so do distinct digits.

Search, vectorised and exact. Averaging over blocks can only shrink an RMS
difference, and so can projecting onto the mirror-symmetric part of an image,
whose distance is the same whether or not one image is flipped. So each image
is reduced to a GRID x GRID block average of g, folded left-right (8 numbers
per channel), and only pairs whose folded distance is within the threshold
(plus a 10 % margin for uneven blocks) can be near-duplicates. Those pairs are
found with chunked matrix products over test images sorted along their first
principal direction (a query chunk only meets the test images whose projection
lies within the radius), then checked exactly at full resolution in both
orientations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

THRESHOLD = 0.1
CONTRAST_FLOOR = 0.25
GRID = 4
MARGIN = 1.1
CHUNK = 1024


@dataclass(frozen=True)
class Match:
    index: int  # position in the submission's image tensor
    test_index: int  # position in the cached test split
    distance: float  # RMS of g(a) - g(b), see the module docstring
    flipped: bool


def normalise(x: torch.Tensor) -> torch.Tensor:
    """g(x): per-image centring and contrast scaling (float32, same shape)."""
    x = x.float()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True, unbiased=False)
    return (x - mean) / std.clamp_min(CONTRAST_FLOOR)


def _pool(x: torch.Tensor, grid: int) -> torch.Tensor:
    n, c, h, w = x.shape
    if h % grid == 0 and w % grid == 0:
        return x.reshape(n, c, grid, h // grid, grid, w // grid).mean(dim=(3, 5))
    return F.adaptive_avg_pool2d(x, grid)


def folded_features(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(N, C*GRID*ceil(GRID/2)) features whose L2 distance divided by sqrt(d), d = C*GRID*GRID
    (returned too), is a lower bound of the full-resolution RMS distance of g in both
    orientations. g is affine per image, so the block means are taken on x itself."""
    unit = 255.0 if x.dtype == torch.uint8 else 1.0  # g is scale-free: skip dividing uint8 by 255
    x = x.float()
    n = len(x)
    flat = x.reshape(n, -1)
    mean = flat.mean(1)
    var = (flat * flat).mean(1) - mean * mean
    scale = 1.0 / var.clamp_min(0).sqrt().clamp_min(CONTRAST_FLOOR * unit)
    grid = min(GRID, x.shape[-1], x.shape[-2])
    pooled = (_pool(x, grid) - mean.view(-1, 1, 1, 1)) * scale.view(-1, 1, 1, 1)
    folded = (pooled + pooled.flip(-1)) / 2  # the mirror-symmetric part
    half = folded[..., : (grid + 1) // 2]
    # a column and its mirror are equal in the folded image: keep one, weighted sqrt(2);
    # the middle column of an odd grid appears once
    weights = torch.full((half.shape[-1],), math.sqrt(2.0))
    if grid % 2:
        weights[-1] = 1.0
    return (half * weights).reshape(n, -1).contiguous(), pooled[0].numel()


def _unit(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255.0 if images.dtype == torch.uint8 else images.float()


def _features_in_chunks(images: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, int]:
    parts, d = [], 0
    for start in range(0, len(images), chunk):
        f, d = folded_features(images[start : start + chunk])
        parts.append(f)
    return torch.cat(parts), d


def candidate_pairs(sub_feats: torch.Tensor, test_feats: torch.Tensor, radius: float) -> torch.Tensor:
    """(K, 2) pairs (submission index, test index) with feature distance <= radius."""
    if len(sub_feats) == 0 or len(test_feats) == 0:
        return torch.empty((0, 2), dtype=torch.int64)
    # first principal direction of the test features: |projection difference| <= distance
    centred = test_feats - test_feats.mean(0)
    try:
        direction = torch.linalg.svd(centred[:: max(1, len(centred) // 4096)], full_matrices=False).Vh[0]
    except RuntimeError:
        direction = torch.zeros(test_feats.shape[1])
        direction[0] = 1.0
    tproj = test_feats @ direction
    order = torch.argsort(tproj)
    tproj, tsorted = tproj[order], test_feats[order]
    tnorm = (tsorted * tsorted).sum(1)
    sproj = sub_feats @ direction
    sorder = torch.argsort(sproj)
    r2 = radius * radius
    out = []
    for start in range(0, len(sorder), CHUNK):
        idx = sorder[start : start + CHUNK]
        lo = int(torch.searchsorted(tproj, sproj[idx[0]] - radius))
        hi = int(torch.searchsorted(tproj, sproj[idx[-1]] + radius, right=True))
        if hi <= lo:
            continue
        q = sub_feats[idx]
        # |q - t|^2 <= r^2  <=>  |t|^2 - 2 q.t <= r^2 - |q|^2
        d2 = torch.addmm(tnorm[lo:hi].unsqueeze(0), q, tsorted[lo:hi].T, alpha=-2.0)
        d2 -= r2 - (q * q).sum(1, keepdim=True)
        hit = (d2 <= 0).nonzero()
        if len(hit):
            out.append(torch.stack([idx[hit[:, 0]], order[lo + hit[:, 1]]], dim=1))
    return torch.cat(out) if out else torch.empty((0, 2), dtype=torch.int64)


def exact_distances(sub_images: torch.Tensor, test_images: torch.Tensor, pairs: torch.Tensor,
                    chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-resolution RMS distance of each pair, min over flipping the test image."""
    dist, flip = [], []
    for start in range(0, len(pairs), chunk):
        p = pairs[start : start + chunk]
        a = normalise(_unit(sub_images[p[:, 0]]))
        b = normalise(_unit(test_images[p[:, 1]]))
        direct = (a - b).pow(2).mean(dim=(1, 2, 3)).sqrt()
        mirrored = (a - b.flip(-1)).pow(2).mean(dim=(1, 2, 3)).sqrt()
        dist.append(torch.minimum(direct, mirrored))
        flip.append(mirrored < direct)
    if not dist:
        return torch.empty(0), torch.empty(0, dtype=torch.bool)
    return torch.cat(dist), torch.cat(flip)


@torch.inference_mode()
def find_near_duplicates(sub_images: torch.Tensor, test_images: torch.Tensor, *,
                         threshold: float = THRESHOLD) -> list[Match]:
    """Submitted images (unit floats or uint8, N x C x H x W) that are near-duplicates of
    test images (uint8 or unit floats, same C x H x W); the closest test image per
    offending submitted image, sorted by submission index."""
    if tuple(sub_images.shape[1:]) != tuple(test_images.shape[1:]):
        raise ValueError(f"shapes differ: {tuple(sub_images.shape[1:])} vs {tuple(test_images.shape[1:])}")
    sub_feats, d = _features_in_chunks(sub_images)
    test_feats, _ = _features_in_chunks(test_images)
    radius = threshold * MARGIN * math.sqrt(d)
    pairs = candidate_pairs(sub_feats, test_feats, radius)
    if len(pairs) == 0:
        return []
    dist, flipped = exact_distances(sub_images, test_images, pairs)
    best: dict[int, Match] = {}
    for (i, j), dd, ff in zip(pairs.tolist(), dist.tolist(), flipped.tolist()):
        if dd <= threshold and (i not in best or dd < best[i].distance):
            best[i] = Match(i, j, dd, bool(ff))
    return [best[i] for i in sorted(best)]
