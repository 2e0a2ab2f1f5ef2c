"""Building small submissions for tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from condensebench.datasets import load_card, load_split
from condensebench.submission.writer import write_submission_yaml


def digits_subset(ipc: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indices, uint8 images (N,1,8,8), labels) of a class-balanced random digits subset."""
    split = load_split(load_card("digits"), "train")
    labels = split.labels.numpy()
    rng = np.random.default_rng(seed)
    idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), ipc, replace=False) for c in range(10)]))
    return idx, split.images.numpy()[idx], labels[idx]


def meta(sub_id: str, data: dict, ipc: int, **extra) -> dict:
    return {
        "id": sub_id, "kind": extra.pop("kind", "distilled"), "method": "test", "dataset": "digits", "ipc": ipc,
        "label_regimes": extra.pop("label_regimes", ["hard", "kd"]), "data": data,
        "construction_cost": {"reported_by": "self", "gpu_hours": 0.0}, "licence": "CC-BY-4.0", **extra,
    }


def make_tensor_submission(directory: Path, images: np.ndarray, labels: np.ndarray, *, fmt="safetensors",
                           pixel_space=None, soft_labels=None, ipc=5, sub_id="test-set") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {"images": images, "labels": labels.astype(np.int64)}
    extra = {}
    if soft_labels is not None:
        arrays["soft_labels"] = soft_labels.astype(np.float32)
        extra = {"soft_labels": {"path": f"data.{fmt}", "kind": "logits"}, "label_regimes": ["hard", "soft", "kd"]}
    if fmt == "safetensors":
        from safetensors.numpy import save_file

        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(directory / "data.safetensors"))
    else:
        np.savez(directory / "data.npz", **arrays)
    data = {"format": fmt, "path": f"data.{fmt}", "pixel_space": pixel_space or {"kind": "uint8"}}
    write_submission_yaml(directory, meta(sub_id, data, ipc, **extra))
    return directory


def make_png_submission(directory: Path, images: np.ndarray, labels: np.ndarray, ipc=5, sub_id="png-set") -> Path:
    from PIL import Image

    for i, (img, lab) in enumerate(zip(images, labels)):
        d = directory / "images" / str(int(lab))
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[0]).save(d / f"{i:04d}.png")
    write_submission_yaml(directory, meta(sub_id, {"format": "png_folder", "path": "images"}, ipc))
    return directory
