"""Software and hardware facts recorded with every result."""
from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import torch
import torchvision

from . import __version__
from .paths import project_root


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(project_root()), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(device: str) -> dict:
    cuda = device.startswith("cuda")
    return {
        "condensebench": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if cuda else cpu_name(),
        "platform": platform.platform(),
    }
