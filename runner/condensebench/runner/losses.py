"""The training losses of the protocols, with CutMix/MixUp-aware targets.

`targets` are logits: the teacher's on the (mixed) batch in the kd regime, the
stored soft labels (mixed with the same lam and permutation) in the soft regime.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..protocol.schema import LossSpec


def mixed_cross_entropy(out, y, perm, lam: float, label_smoothing: float = 0.0) -> torch.Tensor:
    loss = F.cross_entropy(out, y, label_smoothing=label_smoothing)
    if perm is None:
        return loss
    return lam * loss + (1 - lam) * F.cross_entropy(out, y[perm], label_smoothing=label_smoothing)


def mix_stored_targets(logits: torch.Tensor, perm, lam: float, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities at temperature T, logits) of stored soft labels under mixing."""
    probs = F.softmax(logits / temperature, dim=1)
    if perm is None:
        return probs, logits
    return lam * probs + (1 - lam) * probs[perm], lam * logits + (1 - lam) * logits[perm]


def compute_loss(spec: LossSpec, out, y, *, targets=None, perm=None, lam: float = 1.0, targets_are_mixed: bool = True):
    """`targets_are_mixed`: teacher logits computed on the mixed batch already
    correspond to it; stored soft labels are mixed here with lam and perm."""
    kind = spec.kind
    if kind == "cross_entropy":
        return mixed_cross_entropy(out, y, perm, lam, spec.label_smoothing)
    if targets is None:
        raise ValueError(f"loss {kind!r} needs soft targets")
    temperature = getattr(spec, "temperature", 1.0)
    if targets_are_mixed:
        probs, logits = F.softmax(targets / temperature, dim=1), targets
    else:
        probs, logits = mix_stored_targets(targets, perm, lam, temperature)
    if kind == "kl":
        loss = F.kl_div(F.log_softmax(out / temperature, dim=1), probs, reduction="batchmean")
        return loss * temperature**2 if spec.scale_t2 else loss
    if kind == "soft_cross_entropy":
        return -(probs * F.log_softmax(out / temperature, dim=1)).sum(dim=1).mean()
    if kind == "mse_ce":
        ce = F.cross_entropy(out, y) if spec.ce_target == "own" else mixed_cross_entropy(out, y, perm, lam)
        return F.mse_loss(out, logits) + spec.ce_weight * ce
    raise ValueError(f"unknown loss kind {kind!r}")
