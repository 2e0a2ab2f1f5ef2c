"""Training a teacher on a (small) dataset's full train split, for kd protocols."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..datasets import load_card, load_split, load_test_split
from ..errors import CondenseBenchError
from ..protocol import load_protocol
from ..submission.loader import sha256_file


def train_teacher(dataset: str, protocol_ref: str, out: Path, *, epochs: int, seed: int, data_root=None, quiet=False):
    from safetensors.torch import save_file

    from .models import build_model

    protocol = load_protocol(protocol_ref)
    if protocol.teacher is None:
        raise CondenseBenchError(f"protocol {protocol.name} has no teacher")
    card = load_card(dataset)
    train = load_split(card, "train", data_root, quiet=quiet)
    test = load_test_split(card, data_root, quiet=quiet)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    member = protocol.teacher.members[0]
    model = build_model(member.model, num_classes=card.num_classes, channels=card.channels, image_size=card.image_size)
    mean = torch.tensor(card.mean).view(1, -1, 1, 1)
    std = torch.tensor(card.std).view(1, -1, 1, 1)
    x = (train.images.float() / 255 - mean) / std
    y = train.labels
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for _ in tqdm(range(epochs), desc="teacher", disable=quiet):
        model.train()
        for idx in torch.randperm(len(y), generator=gen).split(64):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    with torch.inference_mode():
        xt = (test.images.float() / 255 - mean) / std
        acc = 100.0 * float((model(xt).argmax(1) == test.labels).float().mean())
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out))
    return sha256_file(out), acc
