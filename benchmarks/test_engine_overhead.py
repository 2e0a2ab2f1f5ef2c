"""Engine overhead: time per epoch of `train_student` against a bare tensor loop
training the same model on the same tensors with the same optimiser.

The ratio (engine / bare) is what the engine's bookkeeping costs: the lr
schedule, the on-device augmentation pipeline (empty here), mixing, curves.
Run `make benchmark`; the README reports the figures.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from condensebench.datasets import load_card
from condensebench.protocol import Protocol, load_protocol
from condensebench.runner.engine import train_student
from condensebench.runner.models import build_model
from condensebench.submission.loader import CondensedSet
from condensebench.submission.schema import Submission

EPOCHS = 10
IPC = 50  # 500 CIFAR-sized images, batch 256: 2 steps per epoch


def _setting():
    card = load_card("cifar10")
    data = load_protocol("dc-convnet").model_dump(mode="json")
    data.update(epochs=EPOCHS, extra_final_pass=False,
                schedule={"kind": "multistep", "milestones": [EPOCHS // 2], "gamma": 0.1})
    protocol = Protocol.model_validate(data)
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(IPC * 10, 3, 32, 32, generator=gen)
    labels = torch.arange(10).repeat_interleave(IPC)
    sub = Submission.model_validate({
        "id": "bench", "kind": "distilled", "method": "bench", "dataset": "cifar10", "ipc": IPC,
        "label_regimes": ["hard"], "data": {"format": "safetensors", "path": "x.safetensors", "pixel_space": {"kind": "uint8"}},
        "construction_cost": {"reported_by": "self"}, "licence": "MIT",
        "files": [{"path": "x.safetensors", "sha256": "0" * 64, "size": 0}],
    })
    cset = CondensedSet(sub, None, card, images, labels, None, None, "0" * 64, 0)
    return protocol, cset, card


def bare_loop(protocol, cset, card):
    torch.manual_seed(0)
    model = build_model(protocol.model, num_classes=10, channels=3, image_size=32)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    mean = torch.tensor(card.mean).view(1, -1, 1, 1)
    std = torch.tensor(card.std).view(1, -1, 1, 1)
    x_all = (cset.images - mean) / std
    y_all = cset.labels
    for _ in range(EPOCHS):
        model.train()
        for idx in torch.randperm(len(y_all)).split(256):
            loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


@pytest.mark.benchmark(group="engine-epoch")
def test_engine_epochs(benchmark):
    protocol, cset, _ = _setting()
    model = benchmark.pedantic(train_student, args=(protocol, cset), kwargs={"seed": 0, "device": "cpu"},
                               rounds=3, iterations=1, warmup_rounds=1)
    assert len(model.curves["loss"]) == EPOCHS


@pytest.mark.benchmark(group="engine-epoch")
def test_bare_tensor_loop(benchmark):
    protocol, cset, card = _setting()
    benchmark.pedantic(bare_loop, args=(protocol, cset, card), rounds=3, iterations=1, warmup_rounds=1)
