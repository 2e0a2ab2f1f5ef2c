"""Model builders: the `model` section of a protocol -> an untrained torch.nn.Module.

Every architecture is built from scratch (no pretrained weights) for the dataset's
channel count, image size and class count, and registered by its `arch` name:

- ``convnet``: DC's ConvNet (VICO-UoE/DatasetCondensation networks.py ConvNet),
  [conv3x3 -> norm -> relu -> pool] x depth, then one linear layer. Module names
  (``features.<i>``, ``classifier``), module creation order and initialisation are
  DC's, so DC state dicts load and a seed gives DC's initial weights. The only
  change: the classifier's input size comes from a (shape-only) dummy forward at
  the real input size instead of DC's "28 becomes 32" special case, which gives
  the same number for MNIST and also works for other sizes (8x8 digits: 8 -> 12
  -> 6 -> 3 -> 1 with the 1-channel padding of 3).
- ``resnet18``, ``resnet50``, ``resnet101``, ``mobilenet_v2``, ``efficientnet_b0``:
  ``torchvision.models.<arch>(weights=None, num_classes=...)``. At
  image_size <= small_input_max_px with small_input_variant 'conv3x3_no_maxpool'
  the ResNets get SRe2L/RDED's "modified" stem (3x3 stride-1 conv1, no max-pool)
  and MobileNetV2/EfficientNet-B0 a stride-1 first conv (they have no max-pool).
  For channels != 3 the first conv takes `channels` inputs (same kernel, stride,
  padding). Replaced convs get PyTorch's default initialisation, as in SRe2L,
  RDED and DeepCore, which also replace them after torchvision built the model.
- ``resnet18_cifar``: DeepCore's ResNet_32x32 (deepcore/nets/resnet.py) with
  BasicBlocks [2, 2, 2, 2]. Written out, not derived from torchvision, so that its
  state-dict keys (``conv1``, ``layer*.*.shortcut``, ``linear``) and PyTorch's
  default initialisation are DeepCore's; architecturally it equals the
  small-input torchvision resnet18 (tests/test_models.py shows it). DeepCore pools
  with ``F.avg_pool2d(out, 4)``, which is the global average at 32x32 (and 28x28);
  a global adaptive average is used instead so that other sizes work too.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from ..errors import CondenseBenchError
from ..protocol.schema import CifarResNetSpec, ConvNetSpec, ModelSpec, TorchvisionSpec
from ..registry import Registry

__all__ = ["MODELS", "ModelConfigError", "build_model", "parameter_count", "CifarResNet", "ConvNet"]

Builder = Callable[..., nn.Module]

MODELS: Registry[Builder] = Registry("model")


class ModelConfigError(CondenseBenchError, ValueError):
    """A model setting that cannot be built for this dataset (e.g. too deep for its size)."""


def build_model(spec: ModelSpec, *, num_classes: int, channels: int, image_size: int) -> nn.Module:
    """Build the untrained model `spec` describes for inputs (channels, image_size, image_size)."""
    for name, value in (("num_classes", num_classes), ("channels", channels), ("image_size", image_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelConfigError(f"{name} must be a positive integer, got {value!r}")
    builder = MODELS.get(spec.arch)
    return builder(spec=spec, num_classes=num_classes, channels=channels, image_size=image_size)


def parameter_count(model: nn.Module) -> int:
    """Number of parameters (trainable or not; shared tensors counted once); buffers excluded."""
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- ConvNet


class ConvNet(nn.Module):
    """DC's ConvNet; `features` and `classifier` are named as in DC's networks.py."""

    def __init__(self, *, features: nn.Sequential, num_feat: int, num_classes: int):
        super().__init__()
        self.features = features
        self.classifier = nn.Linear(num_feat, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.features(x)
        out = out.reshape(out.size(0), -1)
        return self.classifier(out)


def _convnet_spatial_sizes(spec: ConvNetSpec, channels: int, image_size: int) -> list[int]:
    """Feature-map side after each block (conv keeps the size, except the 1-channel
    first conv with padding 3 which adds 4; each pooling halves it, rounding down)."""
    sizes = []
    size = image_size
    for d in range(spec.depth):
        if channels == 1 and d == 0:
            size += 4
        if spec.pooling != "none":
            size //= 2
        sizes.append(size)
    return sizes


@MODELS.register("convnet")
def build_convnet(*, spec: ConvNetSpec, num_classes: int, channels: int, image_size: int) -> nn.Module:
    sizes = _convnet_spatial_sizes(spec, channels, image_size)
    if sizes[-1] < 1:
        valid = max((d + 1 for d, s in enumerate(sizes) if s >= 1), default=0)
        start = [image_size, image_size + 4] if channels == 1 else [image_size]
        padded = " (the 1-channel first conv pads by 3)" if channels == 1 else ""
        raise ModelConfigError(
            f"convnet depth {spec.depth} with {spec.pooling} is too deep for {image_size}x{image_size} "
            f"inputs: the feature map side goes {' -> '.join(str(s) for s in [*start, *sizes])}{padded}; "
            f"use depth <= {valid}"
        )

    # DC builds the activation and pooling modules first, then the layers in order,
    # then the classifier: the same order here gives the same initial weights.
    layers: list[nn.Module] = []
    in_channels = channels
    for d in range(spec.depth):
        layers.append(
            nn.Conv2d(in_channels, spec.width, kernel_size=3, padding=3 if channels == 1 and d == 0 else 1)
        )
        if spec.norm == "instancenorm":
            layers.append(nn.GroupNorm(spec.width, spec.width, affine=True))
        elif spec.norm == "batchnorm":
            layers.append(nn.BatchNorm2d(spec.width, affine=True))
        elif spec.norm != "none":  # pragma: no cover - the schema refuses others
            raise ModelConfigError(f"unknown convnet norm {spec.norm!r}")
        if spec.act == "relu":
            layers.append(nn.ReLU(inplace=True))
        else:  # pragma: no cover
            raise ModelConfigError(f"unknown convnet act {spec.act!r}")
        if spec.pooling == "avgpooling":
            layers.append(nn.AvgPool2d(kernel_size=2, stride=2))
        elif spec.pooling == "maxpooling":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        elif spec.pooling != "none":  # pragma: no cover
            raise ModelConfigError(f"unknown convnet pooling {spec.pooling!r}")
        in_channels = spec.width
    features = nn.Sequential(*layers)

    shape = _dummy_output_shape(features, (channels, image_size, image_size))
    expected = (spec.width, sizes[-1], sizes[-1])
    if shape != expected:  # pragma: no cover - guards the size bookkeeping above
        raise RuntimeError(f"convnet feature shape {shape} != expected {expected}")
    num_feat = shape[0] * shape[1] * shape[2]
    return ConvNet(features=features, num_feat=num_feat, num_classes=num_classes)


def _dummy_output_shape(module: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Output shape (without the batch dimension) of one forward, run on the meta
    device: shapes only, no arithmetic, no change to the module or the RNG."""
    state = {
        name: torch.empty_like(t, device="meta")
        for name, t in [*module.named_parameters(), *module.named_buffers()]
    }
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = torch.func.functional_call(module, state, (torch.empty(1, *input_shape, device="meta"),))
    finally:
        module.train(was_training)
    return tuple(out.shape[1:])


# ------------------------------------------------------------ torchvision

TORCHVISION_ARCHS = ("resnet18", "resnet50", "resnet101", "mobilenet_v2", "efficientnet_b0")


def _conv_like(conv: nn.Conv2d, *, in_channels: int) -> nn.Conv2d:
    """A freshly initialised conv like `conv` but with `in_channels` inputs."""
    return nn.Conv2d(
        in_channels,
        conv.out_channels,
        kernel_size=conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
    )


def uses_small_input_variant(spec: TorchvisionSpec, image_size: int) -> bool:
    return spec.small_input_variant == "conv3x3_no_maxpool" and image_size <= spec.small_input_max_px


@MODELS.register("efficientnet_b0")
@MODELS.register("mobilenet_v2")
@MODELS.register("resnet101")
@MODELS.register("resnet50")
@MODELS.register("resnet18")
def build_torchvision(*, spec: TorchvisionSpec, num_classes: int, channels: int, image_size: int) -> nn.Module:
    if spec.arch not in TORCHVISION_ARCHS:  # pragma: no cover - the schema refuses others
        raise ModelConfigError(f"unknown torchvision arch {spec.arch!r}")
    model: Any = getattr(torchvision.models, spec.arch)(weights=None, num_classes=num_classes)
    small = uses_small_input_variant(spec, image_size)
    if spec.arch.startswith("resnet"):
        if small:
            # SRe2L / RDED "resnet18_modified"
            model.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            model.maxpool = nn.Identity()
        elif channels != 3:
            model.conv1 = _conv_like(model.conv1, in_channels=channels)
    else:  # mobilenet_v2, efficientnet_b0: features[0] is Conv2dNormActivation(3, 32, stride 2)
        stem = model.features[0]
        if channels != 3:
            stem[0] = _conv_like(stem[0], in_channels=channels)
        if small:
            stem[0].stride = (1, 1)
    return model


# ----------------------------------------------------------- resnet18_cifar


class CifarBasicBlock(nn.Module):
    """DeepCore's BasicBlock (kuangliu/pytorch-cifar)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(self.expansion * planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        return F.relu(out)


class CifarResNet(nn.Module):
    """DeepCore's ResNet_32x32, pooling with a global average."""

    def __init__(self, num_blocks: tuple[int, ...] = (2, 2, 2, 2), *, channels: int = 3, num_classes: int = 10):
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(64, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(128, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(256, num_blocks[2], stride=2)
        self.layer4 = self._make_layer(512, num_blocks[3], stride=2)
        self.linear = nn.Linear(512 * CifarBasicBlock.expansion, num_classes)

    def _make_layer(self, planes: int, num_blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (num_blocks - 1):
            layers.append(CifarBasicBlock(self.in_planes, planes, s))
            self.in_planes = planes * CifarBasicBlock.expansion
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = F.adaptive_avg_pool2d(out, 1)
        out = out.reshape(out.size(0), -1)
        return self.linear(out)


@MODELS.register("resnet18_cifar")
def build_resnet18_cifar(*, spec: CifarResNetSpec, num_classes: int, channels: int, image_size: int) -> nn.Module:
    return CifarResNet((2, 2, 2, 2), channels=channels, num_classes=num_classes)
