"""Teachers for the kd regime: pinned weights, verified by sha256 before loading."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..datasets import DatasetCard
from ..errors import CondenseBenchError
from ..paths import data_root as default_data_root, project_root
from ..protocol.schema import FileWeights, Protocol, TeacherMember
from ..submission.loader import sha256_file
from .models import build_model


class TeacherEnsemble(nn.Module):
    """Mean of the members' logits; always in eval mode, never trained."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def train(self, mode: bool = True):  # noqa: ARG002 - a teacher stays in eval mode
        return super().train(False)

    @torch.no_grad()
    def forward(self, x):
        return torch.stack([m(x) for m in self.members]).mean(dim=0)


def _weights_file(ref, data_root: Path) -> Path:
    if isinstance(ref, FileWeights):
        for base in (project_root(), data_root / "teachers"):
            if (base / ref.path).is_file():
                return base / ref.path
        raise CondenseBenchError(
            f"teacher weights {ref.path} not found in {project_root()} or {data_root / 'teachers'}"
        )
    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"
    path = hub / ref.file
    if not path.is_file():
        raise CondenseBenchError(
            f"teacher weights {ref.name} not found: put torchvision's {ref.file} in {hub} "
            "(torchvision downloads it there on a machine with internet)"
        )
    return path


def _load_member(member: TeacherMember, card: DatasetCard, data_root: Path) -> nn.Module:
    ref = member.weights.get(card.name)
    if ref is None:
        raise CondenseBenchError(
            f"the protocol's teacher has no weights for dataset {card.name}; it has: {', '.join(member.weights)}"
        )
    path = _weights_file(ref, data_root)
    if ref.sha256 is not None:
        digest = sha256_file(path)
        if digest != ref.sha256:
            raise CondenseBenchError(f"teacher weights {path}: sha256 {digest[:12]}... is not the pinned {ref.sha256[:12]}...")
    model = build_model(member.model, num_classes=card.num_classes, channels=card.channels, image_size=card.image_size)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CondenseBenchError(f"teacher weights {path} do not fit {member.model.arch}: {str(exc)[:300]}") from None
    return model.eval()


def load_teacher(protocol: Protocol, card: DatasetCard, device: str, data_root=None) -> TeacherEnsemble | None:
    if protocol.teacher is None:
        return None
    root = default_data_root(data_root)
    members = [_load_member(m, card, root) for m in protocol.teacher.members]
    return TeacherEnsemble(members).to(device).eval()
