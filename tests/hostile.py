"""A corpus of hostile submissions, built from code in temporary folders.

Each builder writes one submission folder and returns a `Case`: where it is,
which file the refusal must name, and a phrase the message must contain. The
pickle cases carry a payload that, if it were ever unpickled, would create
`marker` (so a test can assert that nothing ran).
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .helpers import digits_subset, make_png_submission, make_tensor_submission, meta


@dataclass
class Case:
    name: str
    directory: Path
    file: str  # the file the refusal must name
    phrase: str  # a phrase of the message (case-insensitive regex)
    marker: Path | None = None  # must never exist
    loader_phrase: str | None = None  # what load_submission says, when it differs
    extra: dict = field(default_factory=dict)


class Payload:
    """Unpickling this runs `touch <marker>`: the code-execution canary."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _yaml(directory: Path, text: str) -> None:
    (directory / "submission.yaml").write_text(text)


def _relist(directory: Path, data: dict, ipc: int = 5, **extra) -> None:
    from condensebench.submission.writer import write_submission_yaml

    write_submission_yaml(directory, meta(directory.name, data, ipc, **extra))


def pickle_code(root: Path) -> Case:
    """A raw pickle as the data file, whose loading would run a shell command."""
    import pickle

    d = root / "pickle-code"
    d.mkdir(parents=True)
    marker = root / "PWNED-pickle"
    (d / "data.pkl").write_bytes(pickle.dumps({"images": Payload(marker)}))
    _relist(d, {"format": "safetensors", "path": "data.pkl", "pixel_space": {"kind": "uint8"}})
    return Case("pickle-code", d, "data.pkl", r"pickle", marker=marker, loader_phrase="condensebench import")


def torch_code(root: Path) -> Case:
    """A torch.save zip archive whose pickle would run a shell command (for the importer)."""
    import torch

    d = root / "torch-code"
    d.mkdir(parents=True)
    marker = root / "PWNED-torch"
    torch.save({"images": Payload(marker), "labels": torch.arange(10)}, d / "images.pt")
    torch.save(torch.arange(10), d / "labels.pt")
    _relist(d, {"format": "safetensors", "path": "images.pt", "pixel_space": {"kind": "uint8"}})
    return Case("torch-code", d, "images.pt", r"pickle|import", marker=marker, loader_phrase="condensebench import")


def symlink_system_file(root: Path) -> Case:
    """An image that is a symbolic link to a system file."""
    _, images, labels = digits_subset(ipc=5)
    d = make_png_submission(root / "symlink", images, labels)
    victim = sorted((d / "images" / "0").iterdir())[0]
    victim.unlink()
    os.symlink("/etc/passwd", victim)
    rel = victim.relative_to(d).as_posix()
    return Case("symlink", d, rel, r"symbolic link")


def path_traversal(root: Path) -> Case:
    """A data path and a listed file that climb out of the submission folder."""
    _, images, labels = digits_subset(ipc=5)
    d = make_tensor_submission(root / "traversal", images, labels)
    (root / "outside.safetensors").write_bytes((d / "data.safetensors").read_bytes())
    text = (d / "submission.yaml").read_text().replace("path: data.safetensors", "path: ../outside.safetensors")
    _yaml(d, text)
    return Case("traversal", d, "submission.yaml", r"\.\.")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png_bytes(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header declares width x height grey pixels, with a tiny body."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")


def huge_png(root: Path) -> Case:
    """A decompression bomb: a PNG declaring 100,000 x 100,000 pixels (hashes listed correctly)."""
    _, images, labels = digits_subset(ipc=5)
    d = make_png_submission(root / "huge-png", images, labels)
    victim = sorted((d / "images" / "3").iterdir())[0]
    victim.write_bytes(huge_png_bytes())
    _relist(d, {"format": "png_folder", "path": "images"})
    return Case("huge-png", d, victim.relative_to(d).as_posix(), r"over the limit")


def truncated_png(root: Path) -> Case:
    """A PNG cut in the middle (hashes listed correctly)."""
    _, images, labels = digits_subset(ipc=5)
    d = make_png_submission(root / "truncated-png", images, labels)
    victim = sorted((d / "images" / "1").iterdir())[0]
    blob = victim.read_bytes()
    victim.write_bytes(blob[: len(blob) // 2])
    _relist(d, {"format": "png_folder", "path": "images"})
    return Case("truncated-png", d, victim.relative_to(d).as_posix(), r"decodable|truncated")


def alias_bomb(root: Path) -> Case:
    """A billion-laughs YAML."""
    d = root / "alias-bomb"
    d.mkdir(parents=True)
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append("id: *a9")
    _yaml(d, "\n".join(lines) + "\n")
    return Case("alias-bomb", d, "submission.yaml", r"alias bomb")


def wrong_checksum(root: Path) -> Case:
    _, images, labels = digits_subset(ipc=5)
    d = make_tensor_submission(root / "checksum", images, labels)
    f = d / "data.safetensors"
    blob = bytearray(f.read_bytes())
    blob[-1] ^= 0xFF
    f.write_bytes(bytes(blob))
    return Case("checksum", d, "data.safetensors", r"sha256")


def nan_pixels(root: Path) -> Case:
    _, images, labels = digits_subset(ipc=5)
    x = images.astype(np.float32) / 255.0
    x[7, 0, 3, 3] = np.nan
    x[12, 0, 0, 0] = np.inf
    d = make_tensor_submission(root / "nan", x, labels)
    return Case("nan", d, "data.safetensors", r"NaN or Inf")


def wrong_class_count(root: Path) -> Case:
    """Nine classes instead of ten (45 images for IPC 5)."""
    _, images, labels = digits_subset(ipc=5)
    keep = labels != 9
    d = make_tensor_submission(root / "class-count", images[keep], labels[keep])
    return Case("class-count", d, "data.safetensors", r"class-balanced|ipc 5 x 10 classes")


def copied_test_images(root: Path) -> Case:
    """Five test images copied into an otherwise valid PNG submission."""
    from condensebench.datasets import load_card, load_test_split

    _, images, labels = digits_subset(ipc=5)
    test = load_test_split(load_card("digits"))
    images = images.copy()
    copied = []
    for cls in range(5):
        j = int(np.flatnonzero(test.labels.numpy() == cls)[0])
        i = int(np.flatnonzero(labels == cls)[0])
        images[i] = test.images[j].numpy()
        copied.append((i, j))
    d = make_png_submission(root / "test-copy", images, labels)
    return Case("test-copy", d, f"images/0/{copied[0][0]:04d}.png", r"near-duplicate of test image",
                extra={"copied": copied}, loader_phrase=None)


def fifo_file(root: Path) -> Case:
    """A named pipe inside the submission (reading it would block forever)."""
    _, images, labels = digits_subset(ipc=5)
    d = make_tensor_submission(root / "fifo", images, labels)
    os.mkfifo(d / "pipe")
    return Case("fifo", d, "pipe", r"FIFO", loader_phrase=None)


def npz_object_array(root: Path) -> Case:
    """An npz whose labels are an object array (a pickle inside the zip)."""
    _, images, labels = digits_subset(ipc=5)
    d = root / "npz-pickle"
    d.mkdir(parents=True)
    marker = root / "PWNED-npz"
    obj = np.empty(1, dtype=object)
    obj[0] = Payload(marker)
    np.savez(d / "data.npz", images=images, labels=obj)
    _relist(d, {"format": "npz", "path": "data.npz", "pixel_space": {"kind": "uint8"}})
    return Case("npz-pickle", d, "data.npz", r"object array|pickle", marker=marker)


def unlisted_archive(root: Path) -> Case:
    """A valid submission plus an unlisted tarball."""
    import tarfile

    _, images, labels = digits_subset(ipc=5)
    d = make_tensor_submission(root / "archive", images, labels)
    with tarfile.open(d / "extra.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("../../escape.txt")
        data = b"x"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return Case("archive", d, "extra.tar.gz", r"not listed", loader_phrase=None)


BUILDERS = [pickle_code, torch_code, symlink_system_file, path_traversal, huge_png, truncated_png, alias_bomb,
            wrong_checksum, nan_pixels, wrong_class_count, copied_test_images, fifo_file, npz_object_array,
            unlisted_archive]
