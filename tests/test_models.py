"""Model builders: shapes, the small-input surgery, DC/DeepCore structure, parameter
counts against closed formulas, the registry, and seeded determinism."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from condensebench.errors import CondenseBenchError
from condensebench.protocol.schema import CifarResNetSpec, ConvNetSpec, TorchvisionSpec
from condensebench.runner.models import (
    MODELS,
    ModelConfigError,
    build_model,
    parameter_count,
)

TV_ARCHS = ["resnet18", "resnet50", "resnet101", "mobilenet_v2", "efficientnet_b0"]
ALL_ARCHS = ["convnet", *TV_ARCHS, "resnet18_cifar"]


def spec_for(arch: str, **kw):
    if arch == "convnet":
        return ConvNetSpec(arch="convnet", depth=kw.pop("depth", 3), **kw)
    if arch == "resnet18_cifar":
        return CifarResNetSpec(arch=arch, **kw)
    return TorchvisionSpec(arch=arch, **kw)


def first_conv(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


@pytest.fixture(autouse=True)
def _few_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- registry


def test_registry_lists_every_arch():
    assert MODELS.names() == sorted(ALL_ARCHS)


def test_unknown_arch_is_refused_with_suggestion_and_names():
    with pytest.raises(CondenseBenchError) as err:
        MODELS.get("resnet19")
    msg = str(err.value)
    assert "unknown model 'resnet19'" in msg
    assert "Did you mean: resnet18" in msg
    for name in ALL_ARCHS:
        assert name in msg
    # build_model goes through the registry too (a spec the schema would refuse)
    bogus = ConvNetSpec.model_construct(arch="convnett", depth=3)
    with pytest.raises(CondenseBenchError, match="Did you mean: convnet"):
        build_model(bogus, num_classes=10, channels=3, image_size=32)


def test_registry_refuses_duplicates():
    with pytest.raises(ValueError, match="registered twice"):
        MODELS.register("convnet")(lambda **kw: None)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_build_model_refuses_bad_sizes(bad):
    with pytest.raises(ModelConfigError):
        build_model(spec_for("convnet"), num_classes=bad, channels=3, image_size=32)


# ----------------------------------------------------------- output shapes


@pytest.mark.parametrize("arch", ALL_ARCHS)
@pytest.mark.parametrize("channels,size", [(1, 8), (3, 32)])
def test_output_shape(arch, channels, size):
    torch.manual_seed(0)
    model = build_model(spec_for(arch), num_classes=7, channels=channels, image_size=size)
    model.train()
    out = model(torch.randn(2, channels, size, size))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("size", [64, 224])
def test_resnet18_large_output_shape(size):
    model = build_model(spec_for("resnet18"), num_classes=5, channels=3, image_size=size).eval()
    with torch.no_grad():
        out = model(torch.randn(1 if size == 224 else 2, 3, size, size))
    assert out.shape == (1 if size == 224 else 2, 5)


# ------------------------------------------------------ small-input surgery


@pytest.mark.parametrize("arch", TV_ARCHS)
def test_small_input_surgery_at_32_not_at_224(arch):
    small = build_model(spec_for(arch), num_classes=10, channels=3, image_size=32)
    large = build_model(spec_for(arch), num_classes=10, channels=3, image_size=224)
    cs, cl = first_conv(small), first_conv(large)
    assert cs.in_channels == cl.in_channels == 3
    assert cs.stride == (1, 1) and cl.stride == (2, 2)
    assert cs.bias is None and cl.bias is None
    if arch.startswith("resnet"):
        assert small.conv1 is cs and large.conv1 is cl
        assert (cs.kernel_size, cs.padding) == ((3, 3), (1, 1))
        assert (cl.kernel_size, cl.padding) == ((7, 7), (3, 3))
        assert isinstance(small.maxpool, nn.Identity)
        assert isinstance(large.maxpool, nn.MaxPool2d)
    else:
        assert small.features[0][0] is cs
        assert cs.kernel_size == cl.kernel_size == (3, 3) and cs.padding == cl.padding == (1, 1)
        assert not any(isinstance(m, nn.MaxPool2d) for m in small.modules())


def test_small_input_threshold_and_opt_out():
    def stride(spec, size):
        return first_conv(build_model(spec, num_classes=10, channels=3, image_size=size)).stride

    spec = spec_for("mobilenet_v2")
    assert stride(spec, 64) == (1, 1) and stride(spec, 65) == (2, 2)
    assert stride(spec_for("mobilenet_v2", small_input_max_px=128), 128) == (1, 1)
    assert stride(spec_for("mobilenet_v2", small_input_variant="none"), 32) == (2, 2)
    r = build_model(spec_for("resnet18", small_input_variant="none"), num_classes=10, channels=3, image_size=32)
    assert r.conv1.kernel_size == (7, 7) and isinstance(r.maxpool, nn.MaxPool2d)


# --------------------------------------------------------------- ConvNet


def dc_feature_side(channels: int, size: int, depth: int, pooling: str = "avgpooling") -> int:
    side = size + (4 if channels == 1 else 0)  # padding 3 on a 1-channel first conv
    for _ in range(depth):
        side = side // 2 if pooling != "none" else side
    return side


def convnet_params(channels, size, depth, width, norm, pooling, num_classes) -> int:
    """DC's ConvNet, layer by layer: conv (w*in*9 + w), affine norm 2w, linear."""
    total, cin = 0, channels
    for _ in range(depth):
        total += width * cin * 9 + width + (2 * width if norm != "none" else 0)
        cin = width
    num_feat = width * dc_feature_side(channels, size, depth, pooling) ** 2
    return total + num_feat * num_classes + num_classes


def test_convnet_dc_default_structure():
    model = build_model(spec_for("convnet", depth=3), num_classes=10, channels=3, image_size=32)
    kinds = [type(m) for m in model.features]
    assert kinds == [nn.Conv2d, nn.GroupNorm, nn.ReLU, nn.AvgPool2d] * 3
    for i in (0, 4, 8):
        conv = model.features[i]
        assert (conv.kernel_size, conv.padding, conv.stride) == ((3, 3), (1, 1), (1, 1))
        assert conv.out_channels == 128 and conv.bias is not None
    norm = model.features[1]
    assert (norm.num_groups, norm.num_channels, norm.affine) == (128, 128, True)
    pool = model.features[3]
    assert (pool.kernel_size, pool.stride) == (2, 2)
    assert model.classifier.in_features == 2048 == 128 * 4 * 4
    assert model.classifier.out_features == 10
    # DC: 128*3*9+128 + 256 + 2 * (128*128*9+128 + 256) + 2048*10 + 10
    assert parameter_count(model) == 320_010


def test_convnet_one_channel_first_layer_padding_3():
    model = build_model(spec_for("convnet", depth=3), num_classes=10, channels=1, image_size=28)
    assert model.features[0].padding == (3, 3) and model.features[0].in_channels == 1
    assert model.features[4].padding == (1, 1)
    assert model.classifier.in_features == 2048  # DC's 28 -> 32 special case


@pytest.mark.parametrize(
    "norm,pooling,kinds",
    [
        ("batchnorm", "maxpooling", [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d]),
        ("none", "avgpooling", [nn.Conv2d, nn.ReLU, nn.AvgPool2d]),
        ("instancenorm", "none", [nn.Conv2d, nn.GroupNorm, nn.ReLU]),
    ],
)
def test_convnet_variants(norm, pooling, kinds):
    spec = spec_for("convnet", depth=2, width=16, norm=norm, pooling=pooling)
    model = build_model(spec, num_classes=4, channels=3, image_size=16)
    assert [type(m) for m in model.features] == kinds * 2
    side = 16 if pooling == "none" else 4
    assert model.classifier.in_features == 16 * side * side
    assert parameter_count(model) == convnet_params(3, 16, 2, 16, norm, pooling, 4)
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 4)


@pytest.mark.parametrize("channels,size", [(3, 32), (1, 28), (1, 8), (3, 8), (3, 64)])
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_convnet_depths(channels, size, depth):
    spec = spec_for("convnet", depth=depth, width=8)
    side = dc_feature_side(channels, size, depth)
    if side == 0:
        with pytest.raises(ModelConfigError, match="too deep") as err:
            build_model(spec, num_classes=3, channels=channels, image_size=size)
        assert isinstance(err.value, ValueError) and isinstance(err.value, CondenseBenchError)
        return
    model = build_model(spec, num_classes=3, channels=channels, image_size=size)
    assert model.classifier.in_features == 8 * side * side
    if (channels, size) in {(3, 32), (1, 28)}:  # DC's own sizes: 32 >> depth
        assert model.classifier.in_features == 8 * (32 >> depth) ** 2
    assert parameter_count(model) == convnet_params(channels, size, depth, 8, "instancenorm", "avgpooling", 3)
    assert model.features(torch.zeros(2, channels, size, size)).shape == (2, 8, side, side)


def test_convnet_width128_depths_at_32():
    for depth in range(1, 6):
        model = build_model(spec_for("convnet", depth=depth), num_classes=10, channels=3, image_size=32)
        assert model.classifier.in_features == 128 * (32 >> depth) ** 2
        assert parameter_count(model) == convnet_params(3, 32, depth, 128, "instancenorm", "avgpooling", 10)


class DCConvNet(nn.Module):
    """VICO-UoE/DatasetCondensation networks.py ConvNet, transcribed (relu; instance/batch/none)."""

    def __init__(self, channel, num_classes, net_width, net_depth, net_norm, net_pooling, im_size):
        super().__init__()
        self.net_act = nn.ReLU(inplace=True)
        pools = {"maxpooling": nn.MaxPool2d(2, 2), "avgpooling": nn.AvgPool2d(2, 2), "none": None}
        self.net_pooling = pools[net_pooling]
        layers, in_channels = [], channel
        if im_size[0] == 28:
            im_size = (32, 32)
        shape_feat = [in_channels, im_size[0], im_size[1]]
        for d in range(net_depth):
            layers += [nn.Conv2d(in_channels, net_width, kernel_size=3, padding=3 if channel == 1 and d == 0 else 1)]
            shape_feat[0] = net_width
            if net_norm == "batchnorm":
                layers += [nn.BatchNorm2d(net_width, affine=True)]
            elif net_norm == "instancenorm":
                layers += [nn.GroupNorm(net_width, net_width, affine=True)]
            layers += [self.net_act]
            in_channels = net_width
            if net_pooling != "none":
                layers += [self.net_pooling]
                shape_feat[1] //= 2
                shape_feat[2] //= 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(shape_feat[0] * shape_feat[1] * shape_feat[2], num_classes)

    def forward(self, x):
        out = self.features(x)
        return self.classifier(out.view(out.size(0), -1))


@pytest.mark.parametrize(
    "channels,size,depth,norm,pooling",
    [(3, 32, 3, "instancenorm", "avgpooling"), (1, 28, 4, "batchnorm", "maxpooling"), (3, 32, 2, "none", "none")],
)
def test_convnet_matches_dc_reference(channels, size, depth, norm, pooling):
    spec = spec_for("convnet", depth=depth, width=32, norm=norm, pooling=pooling)
    torch.manual_seed(3)
    ours = build_model(spec, num_classes=10, channels=channels, image_size=size)
    torch.manual_seed(3)
    ref = DCConvNet(channels, 10, 32, depth, norm, pooling, (size, size))
    a, b = ours.state_dict(), ref.state_dict()
    assert list(a) == list(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k  # same keys, shapes and seeded initial weights
    x = torch.randn(2, channels, size, size)
    torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=0)


# ------------------------------------------------------ parameter counts


def resnet_params(block: str, layers, channels: int, num_classes: int, small: bool) -> int:
    total = channels * 64 * (9 if small else 49) + 2 * 64  # conv1 + bn1
    cin = 64
    for stage, (width, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
        for b in range(blocks):
            stride = 2 if stage > 0 and b == 0 else 1
            if block == "basic":
                cout = width
                total += cin * width * 9 + 2 * width + width * width * 9 + 2 * width
            else:
                cout = 4 * width
                total += cin * width + 2 * width + width * width * 9 + 2 * width + width * cout + 2 * cout
            if stride != 1 or cin != cout:
                total += cin * cout + 2 * cout  # 1x1 conv + BN shortcut
            cin = cout
    return total + cin * num_classes + num_classes


RESNET_CFG = {"resnet18": ("basic", (2, 2, 2, 2)), "resnet50": ("bottleneck", (3, 4, 6, 3)),
              "resnet101": ("bottleneck", (3, 4, 23, 3))}
# torchvision's published counts at 1000 classes; the classifier is Linear(1280, C) and
# the stem Conv2d(3, 32, 3x3, bias=False) for both
MOBILE_1000 = {"mobilenet_v2": 3_504_872, "efficientnet_b0": 5_288_548}


def test_resnet_formula_matches_published_counts():
    assert resnet_params("basic", (2, 2, 2, 2), 3, 1000, small=False) == 11_689_512
    assert resnet_params("bottleneck", (3, 4, 6, 3), 3, 1000, small=False) == 25_557_032
    assert resnet_params("bottleneck", (3, 4, 23, 3), 3, 1000, small=False) == 44_549_160
    assert resnet_params("basic", (2, 2, 2, 2), 3, 10, small=True) == 11_173_962  # the CIFAR ResNet-18


@pytest.mark.parametrize("arch", TV_ARCHS)
@pytest.mark.parametrize("channels,size,num_classes", [(3, 32, 10), (1, 28, 10), (1, 224, 100)])
def test_torchvision_parameter_counts_and_first_conv(arch, channels, size, num_classes):
    model = build_model(spec_for(arch), num_classes=num_classes, channels=channels, image_size=size)
    small = size <= 64
    conv = first_conv(model)  # takes `channels` inputs, keeps kernel/stride/padding otherwise
    resnet = arch in RESNET_CFG
    assert conv.in_channels == channels and conv.bias is None
    assert conv.out_channels == (64 if resnet else 32)
    assert conv.kernel_size == ((3, 3) if small or not resnet else (7, 7))
    assert conv.padding == ((1, 1) if small or not resnet else (3, 3))
    assert conv.stride == ((1, 1) if small else (2, 2))
    if arch in RESNET_CFG:
        expected = resnet_params(*RESNET_CFG[arch], channels, num_classes, small)
    else:
        expected = MOBILE_1000[arch] - 1281 * 1000 + 1281 * num_classes - 32 * 9 * (3 - channels)
    assert parameter_count(model) == expected


def test_resnet18_cifar_parameter_count():
    model = build_model(spec_for("resnet18_cifar"), num_classes=10, channels=3, image_size=32)
    assert parameter_count(model) == 11_173_962
    model = build_model(spec_for("resnet18_cifar"), num_classes=100, channels=1, image_size=28)
    assert parameter_count(model) == resnet_params("basic", (2, 2, 2, 2), 1, 100, small=True)


def test_parameter_count_counts_shared_once_and_frozen():
    lin = nn.Linear(3, 2)
    model = nn.Sequential(lin, lin)
    model[0].bias.requires_grad_(False)
    assert parameter_count(model) == 8


# ------------------------------------------------------------ resnet18_cifar


def _deepcore_conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class DeepCoreBasicBlock(nn.Module):
    """PatrickZH/DeepCore deepcore/nets/resnet.py BasicBlock, transcribed."""

    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = _deepcore_conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _deepcore_conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(self.expansion * planes),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class DeepCoreResNet32x32(nn.Module):
    """DeepCore's ResNet_32x32 (without the embedding recorder), transcribed."""

    def __init__(self, block, num_blocks, channel=3, num_classes=10):
        super().__init__()
        self.in_planes = 64
        self.conv1 = _deepcore_conv3x3(channel, 64)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(block, 64, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 128, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(block, 256, num_blocks[2], stride=2)
        self.layer4 = self._make_layer(block, 512, num_blocks[3], stride=2)
        self.linear = nn.Linear(512 * block.expansion, num_classes)

    def _make_layer(self, block, planes, num_blocks, stride):
        layers = []
        for s in [stride] + [1] * (num_blocks - 1):
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(out, 4)
        return self.linear(out.view(out.size(0), -1))


@pytest.mark.parametrize("channels,size", [(3, 32), (1, 28)])
def test_resnet18_cifar_matches_deepcore(channels, size):
    torch.manual_seed(5)
    ours = build_model(spec_for("resnet18_cifar"), num_classes=10, channels=channels, image_size=size)
    torch.manual_seed(5)
    ref = DeepCoreResNet32x32(DeepCoreBasicBlock, [2, 2, 2, 2], channel=channels, num_classes=10)
    a, b = ours.state_dict(), ref.state_dict()
    assert list(a) == list(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k  # identical keys, shapes and seeded initial weights
    # DeepCore's avg_pool2d(out, 4) is the global average at 32x32 and 28x28; ours is
    # adaptive (works at any size) and sums in another order: equal up to rounding
    x = torch.randn(2, channels, size, size)
    for train in (True, False) if channels == 3 else (True,):
        ours.train(train), ref.train(train)
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-6)


def _deepcore_to_torchvision_key(key: str) -> str:
    return key.replace(".shortcut.", ".downsample.").replace("linear.", "fc.")


def test_resnet18_cifar_equals_small_input_torchvision_resnet18():
    """Same network as torchvision resnet18 with the 3x3/no-maxpool stem: same parameter
    count, tensors in one-to-one correspondence, identical outputs once weights are copied.
    (Only the initialisation differs: DeepCore keeps PyTorch's defaults.)"""
    cifar = build_model(spec_for("resnet18_cifar"), num_classes=10, channels=3, image_size=32)
    tv = build_model(spec_for("resnet18"), num_classes=10, channels=3, image_size=32)
    assert parameter_count(cifar) == parameter_count(tv) == 11_173_962
    a, b = cifar.state_dict(), tv.state_dict()
    mapped = {_deepcore_to_torchvision_key(k): v for k, v in a.items()}
    assert set(mapped) == set(b)
    assert all(mapped[k].shape == b[k].shape for k in b)
    tv.load_state_dict(mapped)
    x = torch.randn(2, 3, 16, 16)  # both pool globally, so any size shows it (16 is cheap)
    for train in (True, False):
        cifar.train(train), tv.train(train)
        torch.testing.assert_close(cifar(x), tv(x), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------- determinism


@pytest.mark.parametrize("arch", ALL_ARCHS)
def test_same_seed_same_initial_weights(arch):
    spec = spec_for(arch)

    def build(seed):
        torch.manual_seed(seed)
        return build_model(spec, num_classes=10, channels=3, image_size=32).state_dict()

    a, b = build(0), build(0)
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    if arch not in ("resnet50", "resnet101"):  # (slow to build a third time)
        c = build(1)
        assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())
