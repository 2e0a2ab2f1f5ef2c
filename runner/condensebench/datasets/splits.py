"""Reading a dataset's train/test split into one uint8 tensor, with a cache.

The test split is decoded once and cached (safetensors) under a key that is
the card's pinned fingerprint (or a listing of the source files when none is
pinned); each load re-hashes the pixels, so a changed test set never passes.
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..errors import CondenseBenchError, DataMissingError
from ..paths import cache_dir, data_root as default_data_root
from .card import DatasetCard

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,)
    fingerprint: str


def fingerprint(images: torch.Tensor, labels: torch.Tensor) -> str:
    h = hashlib.sha256()
    h.update(repr(tuple(images.shape)).encode())
    h.update(images.contiguous().numpy().tobytes())
    h.update(labels.to(torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------ sources


def _digits(card: DatasetCard, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # 0..16 intensities -> 0..255 uint8, like any other image dataset
    pixels = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
    idx = np.arange(len(pixels))
    train_idx, test_idx = train_test_split(
        idx, test_size=card.source.test_size, random_state=card.source.split_seed, stratify=digits.target
    )
    chosen = np.sort(train_idx if split == "train" else test_idx)
    images = torch.from_numpy(pixels[chosen]).unsqueeze(1).contiguous()
    labels = torch.from_numpy(digits.target[chosen].astype(np.int64))
    return images, labels


def _cifar(card: DatasetCard, split: str, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import CIFAR10, CIFAR100

    cls = CIFAR10 if card.source.kind == "torchvision_cifar10" else CIFAR100
    folder = root / cls.base_folder
    if not folder.is_dir():
        raise DataMissingError(
            f"dataset {card.name}: {folder} not found. {card.how_to_get} "
            f"(data root: {root}; set --data-root or CONDENSEBENCH_DATA)"
        )
    # torchvision's own reader of its own format; the files are the user's local copy
    ds = cls(str(root), train=(split == "train"), download=False)
    images = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))
    labels = torch.tensor(ds.targets, dtype=torch.int64)
    return images, labels


def image_folder_samples(card: DatasetCard, split: str, root: Path) -> list[tuple[Path, int]]:
    """(path, label) in torchvision ImageFolder order (classes and files sorted)."""
    src = card.source
    folder = root / src.dir / (src.train if split == "train" else src.test)
    if not folder.is_dir():
        raise DataMissingError(
            f"dataset {card.name}: {folder} not found. {card.how_to_get} "
            f"(data root: {root}; set --data-root or CONDENSEBENCH_DATA)"
        )
    found = sorted(d.name for d in folder.iterdir() if d.is_dir())
    if found != sorted(card.classes):
        raise CondenseBenchError(
            f"dataset {card.name}: class folders in {folder} do not match the card "
            f"(missing: {sorted(set(card.classes) - set(found))[:5]}, extra: {sorted(set(found) - set(card.classes))[:5]})"
        )
    if sorted(card.classes) != list(card.classes):
        raise CondenseBenchError(f"dataset {card.name}: the card must list classes in sorted (ImageFolder) order")
    samples = []
    for label, name in enumerate(card.classes):
        for f in sorted((folder / name).iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file():
                samples.append((f, label))
    return samples


def _decode(path: Path, card: DatasetCard) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("L" if card.channels == 1 else "RGB")
        resize = card.source.resize if card.source.kind == "image_folder" else None
        if resize:
            im = _resize_center_crop(im, resize, card.image_size)
        elif im.size != (card.image_size, card.image_size):
            raise CondenseBenchError(
                f"dataset {card.name}: {path} is {im.size[0]}x{im.size[1]}, the card says {card.image_size}px"
            )
        arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _resize_center_crop(im, resize: int, crop: int):
    from torchvision.transforms import v2
    from torchvision.transforms.v2 import functional as F

    im = F.resize(im, resize, interpolation=v2.InterpolationMode.BILINEAR, antialias=True)
    return F.center_crop(im, crop)


def decode_files(samples: list[tuple[Path, int]], card: DatasetCard, *, desc: str, quiet: bool) -> tuple[torch.Tensor, torch.Tensor]:
    images = np.empty((len(samples), card.channels, card.image_size, card.image_size), dtype=np.uint8)

    def work(i: int) -> None:
        images[i] = _decode(samples[i][0], card)

    # PIL releases the GIL while decoding, so threads use both cores
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        list(tqdm(pool.map(work, range(len(samples))), total=len(samples), desc=desc, disable=quiet, unit="img"))
    labels = torch.tensor([lab for _, lab in samples], dtype=torch.int64)
    return torch.from_numpy(images), labels


def _read_source(card: DatasetCard, split: str, root: Path, quiet: bool) -> tuple[torch.Tensor, torch.Tensor]:
    kind = card.source.kind
    if kind == "sklearn_digits":
        return _digits(card, split)
    if kind.startswith("torchvision_cifar"):
        return _cifar(card, split, root)
    samples = image_folder_samples(card, split, root)
    return decode_files(samples, card, desc=f"decoding {card.name} {split}", quiet=quiet)


# ------------------------------------------------------------------- cache


def _source_key(card: DatasetCard, split: str, root: Path) -> str:
    """Identifies the files a split is read from, without decoding them."""
    h = hashlib.sha256(card.model_dump_json().encode() + split.encode())
    kind = card.source.kind
    if kind == "image_folder":
        for path, label in image_folder_samples(card, split, root):
            st = path.stat()
            h.update(f"{path.relative_to(root)}|{label}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    elif kind.startswith("torchvision_cifar"):
        for f in sorted(root.rglob("*")):
            if f.is_file() and ("cifar" in f.parts[-2]):
                st = f.stat()
                h.update(f"{f.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def _cache_file(card: DatasetCard, split: str, key: str) -> Path:
    folder = cache_dir() / "splits"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{card.name}-{split}-{key}.safetensors"


def load_split(card: DatasetCard, split: str, data_root: str | Path | None = None, *, quiet: bool = False) -> Split:
    """The whole split as uint8 tensors (cached after the first decode)."""
    from safetensors.torch import load_file, save_file

    if split not in ("train", "test"):
        raise ValueError(split)
    root = default_data_root(data_root)
    if card.embedded:
        images, labels = _read_source(card, split, root, quiet)
        return Split(images, labels, fingerprint(images, labels))
    pinned = card.test_fingerprint if split == "test" else None
    key = pinned[:32] if pinned else _source_key(card, split, root)
    path = _cache_file(card, split, key)
    if path.is_file():
        tensors = load_file(str(path))
        images, labels = tensors["images"], tensors["labels"]
    else:
        images, labels = _read_source(card, split, root, quiet)
        tmp = path.with_suffix(".tmp")
        save_file({"images": images.contiguous(), "labels": labels}, str(tmp))
        tmp.replace(path)
    return Split(images, labels, fingerprint(images, labels))


def load_test_split(card: DatasetCard, data_root: str | Path | None = None, *, quiet: bool = False) -> Split:
    """The test split, refused when it does not match the card's pinned fingerprint."""
    split = load_split(card, "test", data_root, quiet=quiet)
    if len(split.labels) != card.test_size:
        raise CondenseBenchError(
            f"dataset {card.name}: the test split has {len(split.labels)} images, the card says {card.test_size}"
        )
    if not card.test_fingerprint and not quiet:
        import sys

        print(f"condensebench: warning: the card of {card.name} pins no test fingerprint; this test split's is "
              f"{split.fingerprint} (recorded in the result; pin it in datasets/{card.name}.yaml)", file=sys.stderr)
    if card.test_fingerprint and split.fingerprint != card.test_fingerprint:
        raise CondenseBenchError(
            f"dataset {card.name}: the test split's fingerprint {split.fingerprint[:12]}... does not match "
            f"the card's {card.test_fingerprint[:12]}...; the files changed (a different copy or a corrupted "
            "download). Evaluate only on the pinned test split."
        )
    return split


def load_train_subset(card: DatasetCard, indices: list[int] | np.ndarray, data_root: str | Path | None = None, *, quiet: bool = False) -> Split:
    """Selected train images by index (ImageFolder: decodes only those files)."""
    indices = np.asarray(indices, dtype=np.int64)
    root = default_data_root(data_root)
    # ImageNet-scale trees do not fit in memory: decode only the selected files
    if card.source.kind == "image_folder" and card.train_size * card.channels * card.image_size**2 > 2**31:
        samples = image_folder_samples(card, "train", root)
        images, labels = decode_files([samples[i] for i in indices], card, desc=f"decoding {card.name} subset", quiet=quiet)
    else:
        full = load_split(card, "train", data_root, quiet=quiet)
        sel = torch.from_numpy(indices)
        images, labels = full.images[sel].contiguous(), full.labels[sel].contiguous()
    return Split(images, labels, fingerprint(images, labels))
