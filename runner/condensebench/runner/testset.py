"""The real test split, prepared once per evaluation and scored in large batches."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.transforms.v2 import functional as TF

from ..protocol.schema import NAMED_STATS, Protocol
from ..submission.loader import CondensedSet, zca_transform


def input_stats(protocol: Protocol, card) -> tuple[list[float], list[float]]:
    """Mean/std the model sees: the card's, or the protocol's named statistics."""
    stats = protocol.normalization.stats
    if stats == "dataset":
        return list(card.mean), list(card.std)
    mean, std = NAMED_STATS[stats]
    if card.channels == 1:  # grey images: one channel, average of the named statistics
        return [sum(mean) / 3], [sum(std) / 3]
    return list(mean), list(std)


@dataclass
class PreparedTest:
    images: torch.Tensor  # uint8 (N, C, H, W) on the device
    labels: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    protocol: Protocol
    cset: CondensedSet

    def batch_inputs(self, start: int, stop: int) -> torch.Tensor:
        """Test images in the space the student was trained in."""
        x = self.images[start:stop].float() / 255.0
        if self.protocol.evaluation.resize == "rded":
            size = x.shape[-1]
            x = TF.center_crop(TF.resize(x, [(size // 7) * 8], antialias=True), [size])
        if self.cset.zca is not None:
            return zca_transform(x, self.cset.submission.data.pixel_space, self.cset.zca)
        return (x - self.mean) / self.std


def prepare_test(split, protocol: Protocol, cset: CondensedSet, device: str) -> PreparedTest:
    mean, std = input_stats(protocol, cset.card)
    return PreparedTest(
        images=split.images.to(device),
        labels=split.labels.to(device),
        mean=torch.tensor(mean, device=device).view(1, -1, 1, 1),
        std=torch.tensor(std, device=device).view(1, -1, 1, 1),
        protocol=protocol,
        cset=cset,
    )


@torch.inference_mode()
def score(model: torch.nn.Module, test: PreparedTest, topk: list[int]) -> dict[int, float]:
    """Top-k accuracies (percent) of `model` on the whole test split."""
    model.eval()
    correct = {k: 0 for k in topk}
    n = len(test.labels)
    bs = test.protocol.evaluation.batch_size
    kmax = max(topk)
    for start in range(0, n, bs):
        out = model(test.batch_inputs(start, start + bs))
        pred = out.topk(kmax, dim=1).indices
        hit = pred == test.labels[start : start + bs, None]
        for k in topk:
            correct[k] += int(hit[:, :k].any(dim=1).sum())
    return {k: 100.0 * c / n for k, c in correct.items()}
