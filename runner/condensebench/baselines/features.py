"""Feature spaces the geometric coresets (herding, k-center) work in.

- ``pixels``: the normalised pixels, flattened: (x / 255 - mean) / std.
- ``random_convnet``: the flattened output of the feature extractor of a DC
  ConvNet with pinned random weights (seeded initialisation, never trained), as
  in distribution matching's embedding; depth 3 at 32 px and above, 2 below.

A feature space is declared by its `kind` (a discriminated union, so an
unknown kind is refused with the known ones listed) and recorded in the
submission's notes.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

import numpy as np
import torch
from pydantic import Field

from ..protocol.schema import ConvNetSpec
from ..runner.models import build_model
from .base import MethodConfig, TrainSet

__all__ = ["FeatureSpace", "PixelFeatures", "RandomConvNetFeatures", "compute_features", "describe", "build_random_convnet", "feature_space_from"]


class PixelFeatures(MethodConfig):
    kind: Literal["pixels"] = "pixels"


class RandomConvNetFeatures(MethodConfig):
    kind: Literal["random_convnet"] = "random_convnet"
    depth: int | None = Field(default=None, ge=1, le=5)  # None: 3 at >= 32 px, else 2
    width: int = Field(default=128, ge=1)
    seed: int = 0  # pins the random weights

    def spec(self, image_size: int) -> ConvNetSpec:
        depth = self.depth or (3 if image_size >= 32 else 2)
        return ConvNetSpec(arch="convnet", depth=depth, width=self.width, norm="instancenorm", pooling="avgpooling")


FeatureSpace = Annotated[Union[PixelFeatures, RandomConvNetFeatures], Field(discriminator="kind")]


def feature_space_from(value: object) -> object:
    """Lets options say `features: pixels` for `features: {kind: pixels}`."""
    return {"kind": value} if isinstance(value, str) else value


def describe(space: PixelFeatures | RandomConvNetFeatures, image_size: int) -> str:
    if isinstance(space, PixelFeatures):
        return "pixels (normalised, flattened)"
    s = space.spec(image_size)
    return f"random_convnet (ConvNet-D{s.depth} width {s.width}, instance norm, seed {space.seed}, untrained)"


def build_random_convnet(spec: ConvNetSpec, dataset: TrainSet, seed: int) -> torch.nn.Module:
    """A DC ConvNet initialised from `seed` without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(spec, num_classes=dataset.num_classes, channels=dataset.channels, image_size=dataset.image_size)
    return model


@torch.inference_mode()
def compute_features(
    space: PixelFeatures | RandomConvNetFeatures,
    dataset: TrainSet,
    index: np.ndarray,
    *,
    device: str = "cpu",
    batch_size: int = 1000,
    _model_cache: dict | None = None,
) -> torch.Tensor:
    """float32 (len(index), D) features of the indexed train images (on the CPU)."""
    if isinstance(space, PixelFeatures):
        return dataset.normalized(index).reshape(len(index), -1)
    key = (space, dataset.fingerprint)
    model = _model_cache.get(key) if _model_cache is not None else None
    if model is None:
        model = build_random_convnet(space.spec(dataset.image_size), dataset, space.seed).to(device).eval()
        if _model_cache is not None:
            _model_cache[key] = model
    out = []
    for start in range(0, len(index), batch_size):
        x = dataset.normalized(index[start : start + batch_size]).to(device)
        out.append(model.features(x).reshape(len(x), -1).float().cpu())
    return torch.cat(out) if out else torch.empty(0, 0)
