"""Loading a submission into tensors, refusing whatever does not match its schema.

Deep validation (leakage, hostile files, every problem at once) is `validate`;
this loader stops at the first problem with the file and field named.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..datasets import DatasetCard, load_card, load_train_subset
from ..errors import CondenseBenchError
from ..yamlio import load_model
from .schema import Submission, ZCASpace

MAX_IMAGE_PIXELS = 4096 * 4096  # decompression bombs: a condensed image is at most ImageNet-sized
# submission.yaml lists every data file: a PNG folder of 100,000 images is ~11 MB and ~700,000 nodes of YAML
SUBMISSION_YAML_MAX_BYTES = 16 * 1024 * 1024
SUBMISSION_YAML_MAX_NODES = 1_200_000
MAX_TENSOR_BYTES = 64 * 1024**3  # what one npz may expand to (compressed members are checked before reading)


def read_submission_yaml(directory: Path) -> Submission:
    path = Path(directory) / "submission.yaml"
    if not path.is_file():
        raise CondenseBenchError(f"{directory}: no submission.yaml (is this a submission folder?)")
    return load_model(Submission, path, max_bytes=SUBMISSION_YAML_MAX_BYTES, max_nodes=SUBMISSION_YAML_MAX_NODES)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def content_hash(sub: Submission) -> str:
    """Identifies the data: the same pixels, labels and pixel space give the same hash
    whatever the metadata (paper, authors) says."""
    canonical = {
        "dataset": sub.dataset,
        "ipc": sub.ipc,
        "data": sub.data.model_dump(mode="json"),
        "soft_labels": sub.soft_labels.model_dump(mode="json") if sub.soft_labels else None,
        "files": sorted((f.path, f.sha256) for f in sub.files),
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


@dataclass
class CondensedSet:
    """A submission's training data, ready for the engine."""

    submission: Submission
    directory: Path
    card: DatasetCard
    images: torch.Tensor  # float32 (N, C, H, W): unit [0, 1] pixels, or ZCA space
    labels: torch.Tensor  # int64 (N,)
    soft_labels: torch.Tensor | None  # float32 (N, classes) logits
    zca: tuple[torch.Tensor, torch.Tensor] | None  # (mean, matrix) when space == "zca"
    content_hash: str
    storage_bytes: int  # image and soft-label files as stored

    @property
    def space(self) -> str:
        return "zca" if self.zca is not None else "unit"


# ------------------------------------------------------------- file readers


def _file(directory: Path, rel: str, field: str, located: dict[str, Path] | None = None) -> Path:
    """The bytes of listed path `rel`: in the folder (no symlink, no escape), or the
    verified cache blob of a file listed by URL (see remote.locate_files)."""
    if located and rel in located and not _inside(located[rel], directory):
        path = located[rel]
        if path.is_symlink() or not path.is_file():
            raise CondenseBenchError(f"{directory}/submission.yaml: {field} {rel!r}: cached copy {path} is not a regular file")
        return path
    path = directory / rel
    if path.is_symlink():
        raise CondenseBenchError(f"{directory}/submission.yaml: {field} {rel!r} is a symbolic link; refused")
    resolved = path.resolve()
    if not resolved.is_relative_to(directory.resolve()):
        raise CondenseBenchError(f"{directory}/submission.yaml: {field} {rel!r} points outside the submission")
    if not path.exists():
        raise CondenseBenchError(f"{directory}/submission.yaml: {field} {rel!r} does not exist")
    return path


def _inside(path: Path, directory: Path) -> bool:
    try:
        return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(directory))
    except ValueError:
        return False


def read_tensor_file(path: Path, keys: tuple[str, ...], name: str | None = None) -> dict[str, np.ndarray]:
    """safetensors or npz (never pickle): returns the requested keys present in the file.
    The format follows the suffix of `name` (the listed path), else of `path`."""
    out: dict[str, np.ndarray] = {}
    suffix = Path(name).suffix if name else path.suffix
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            data = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CondenseBenchError(f"{path}: not a readable safetensors file ({exc})") from None
    elif suffix == ".npz":
        check_npz(path)
        try:
            with np.load(path, allow_pickle=False) as npz:
                data = {k: npz[k] for k in npz.files if k in keys}
        except (ValueError, OSError, EOFError) as exc:
            raise CondenseBenchError(f"{path}: not a readable npz file without pickles ({exc})") from None
    else:
        raise CondenseBenchError(
            f"{path}: tensor files must be .safetensors or .npz; other formats (pickles, .pt) "
            "go through `condensebench import`"
        )
    for k in keys:
        if k in data:
            out[k] = data[k]
    return out


def decode_png(path: Path, channels: int, where: str | None = None) -> np.ndarray:
    """One PNG as uint8 (C, H, W): PNG only (no other PIL plug-in is tried), the pixel
    limit checked before decoding, truncated or corrupt files refused."""
    from PIL import Image

    where = where or str(path)
    try:
        with Image.open(path, formats=["PNG"]) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise CondenseBenchError(f"{where}: {im.width}x{im.height} pixels is over the limit of {MAX_IMAGE_PIXELS}")
            im.load()
            arr = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    except CondenseBenchError:
        raise
    except Image.DecompressionBombError as exc:
        raise CondenseBenchError(f"{where}: declares more pixels than allowed, over the limit of {MAX_IMAGE_PIXELS} "
                                 f"(a decompression bomb? {exc})") from None
    except Exception as exc:  # PIL raises many types for broken, truncated or non-PNG files
        raise CondenseBenchError(f"{where}: not a decodable PNG ({type(exc).__name__}: {exc})") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def png_entries(sub: Submission, card: DatasetCard) -> list[tuple[str, int]]:
    """(listed path, label) of the images of a png_folder submission: every listed file
    under `data.path`, named `<data.path>/<class index>/<name>.png`."""
    prefix = sub.data.path.rstrip("/") + "/"
    out = []
    for f in sub.files:
        if not f.path.startswith(prefix):
            continue
        parts = f.path[len(prefix):].split("/")
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) >= card.num_classes:
            raise CondenseBenchError(
                f"{f.path}: images are <{sub.data.path}>/<class index 0..{card.num_classes - 1}>/<name>.png"
            )
        if not parts[1].lower().endswith(".png"):
            raise CondenseBenchError(f"{f.path}: not a .png file")
        out.append((f.path, int(parts[0])))
    return out


def _read_png_folder(directory: Path, sub: Submission, card: DatasetCard, located: dict[str, Path] | None) -> tuple[np.ndarray, np.ndarray]:
    entries = png_entries(sub, card)
    if not entries:
        raise CondenseBenchError(f"{directory / sub.data.path}: no images listed under it in files:")
    images = [decode_png(_file(directory, rel, "files", located), card.channels, str(directory / rel)) for rel, _ in entries]
    shapes = {a.shape for a in images}
    if len(shapes) != 1:
        raise CondenseBenchError(f"{directory / sub.data.path}: images have different sizes {sorted(shapes)[:3]}")
    return np.stack(images), np.asarray([lab for _, lab in entries], dtype=np.int64)


def check_npz(path: Path, max_bytes: int = MAX_TENSOR_BYTES) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Reads every array header of an npz without loading data: refuses object arrays
    (pickles), members that are not .npy, and sizes that disagree with the archive
    (decompression bombs). Returns {key: (shape, dtype)}."""
    out = {}
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if len(infos) > 1000:
                raise CondenseBenchError(f"{path}: {len(infos)} arrays in one npz; refused")
            total = 0
            for info in infos:
                if not info.filename.endswith(".npy") or "/" in info.filename:
                    raise CondenseBenchError(f"{path}: member {info.filename!r} is not an .npy array")
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=10_000)
                    elif version in ((2, 0), (3, 0)):
                        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=10_000)
                    else:
                        raise CondenseBenchError(f"{path}: {info.filename}: unknown .npy version {version}")
                    header = f.tell()
                if dtype.hasobject:
                    raise CondenseBenchError(
                        f"{path}: {info.filename} is an object array (a pickle); refused. Save plain numeric arrays"
                    )
                nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                if header + nbytes != info.file_size:
                    raise CondenseBenchError(
                        f"{path}: {info.filename} declares {shape} {dtype} but the archive member holds "
                        f"{info.file_size - header} bytes; refused"
                    )
                total += nbytes
                if total > max_bytes:
                    raise CondenseBenchError(f"{path}: arrays expand to more than {max_bytes} bytes; refused")
                out[info.filename[: -len(".npy")]] = (tuple(shape), dtype)
    except CondenseBenchError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CondenseBenchError(f"{path}: not a readable npz file without pickles ({exc})") from None
    return out


def _read_indices(path: Path, card: DatasetCard) -> np.ndarray:
    try:
        text = path.read_text(encoding="ascii")
        values = [int(line) for line in text.split()]
    except (UnicodeDecodeError, ValueError):
        raise CondenseBenchError(f"{path}: expected one integer index per line") from None
    idx = np.asarray(values, dtype=np.int64)
    if len(idx) == 0:
        raise CondenseBenchError(f"{path}: no indices")
    if idx.min() < 0 or idx.max() >= card.train_size:
        raise CondenseBenchError(f"{path}: indices must lie in 0..{card.train_size - 1}")
    if len(np.unique(idx)) != len(idx):
        raise CondenseBenchError(f"{path}: indices repeat")
    return idx


# ------------------------------------------------------------ pixel spaces


def to_unit_space(images: np.ndarray, space, where: str) -> torch.Tensor:
    """float32 [0, 1] pixels from uint8, [0, 1] floats, or normalised tensors."""
    if images.dtype == np.uint8:
        if space.kind != "uint8":
            raise CondenseBenchError(f"{where}: uint8 images declared as pixel space {space.kind!r}")
        return torch.from_numpy(images.astype(np.float32) / 255.0)
    if not np.issubdtype(images.dtype, np.floating):
        raise CondenseBenchError(f"{where}: images must be uint8 or float, not {images.dtype}")
    x = torch.from_numpy(images.astype(np.float32))
    if not torch.isfinite(x).all():
        raise CondenseBenchError(f"{where}: images contain NaN or Inf")
    if space.kind == "normalized":
        c = x.shape[1]
        if len(space.mean) != c or len(space.std) != c:
            raise CondenseBenchError(f"{where}: pixel_space mean/std need {c} values")
        mean = torch.tensor(space.mean).view(1, -1, 1, 1)
        std = torch.tensor(space.std).view(1, -1, 1, 1)
        return x * std + mean  # undo, so the protocol's normalisation is the only one applied
    return x  # uint8 space given as floats in [0, 1], or ZCA space (kept as is)


def load_zca(directory: Path, space: ZCASpace, shape: tuple[int, int, int],
             located: dict[str, Path] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    data = read_tensor_file(_file(directory, space.path, "data.pixel_space.path", located), ("mean", "matrix"), space.path)
    d = shape[0] * shape[1] * shape[2]
    if "mean" not in data or "matrix" not in data:
        raise CondenseBenchError(f"{directory / space.path}: needs tensors 'mean' and 'matrix'")
    mean, matrix = data["mean"].astype(np.float32).reshape(-1), data["matrix"].astype(np.float32)
    if mean.shape != (d,) or matrix.shape != (d, d):
        raise CondenseBenchError(f"{directory / space.path}: expected mean ({d},) and matrix ({d}, {d})")
    return torch.from_numpy(mean), torch.from_numpy(matrix)


def zca_transform(x_unit: torch.Tensor, space: ZCASpace, zca: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Whiten real images (unit space) the same way the submission's images were."""
    if space.input == "normalized":
        mean = torch.tensor(space.input_mean, device=x_unit.device).view(1, -1, 1, 1)
        std = torch.tensor(space.input_std, device=x_unit.device).view(1, -1, 1, 1)
        x_unit = (x_unit - mean) / std
    zmean, matrix = (t.to(x_unit.device) for t in zca)
    flat = x_unit.reshape(len(x_unit), -1) - zmean
    return (flat @ matrix).reshape(x_unit.shape)


# --------------------------------------------------------------- the loader


def verify_files(directory: Path, sub: Submission, located: dict[str, Path] | None = None) -> None:
    for i, f in enumerate(sub.files):
        path = _file(directory, f.path, f"files[{i}].path", located)
        size = path.stat().st_size
        if size != f.size:
            raise CondenseBenchError(f"{directory}/submission.yaml: files[{i}] {f.path}: size {size}, listed {f.size}")
        digest = sha256_file(path)
        if digest != f.sha256:
            raise CondenseBenchError(
                f"{directory}/submission.yaml: files[{i}] {f.path}: sha256 {digest[:12]}... does not match the listed {f.sha256[:12]}..."
            )


def _listed_bytes(sub: Submission, prefix: str) -> int:
    return sum(f.size for f in sub.files if f.path == prefix or f.path.startswith(prefix.rstrip("/") + "/"))


def load_submission(directory: str | Path, data_root: str | Path | None = None, *, verify: bool = True,
                    quiet: bool = True, fetch: bool = True) -> CondensedSet:
    """Loads and checks a submission; files listed by `url` and absent from the folder are
    fetched into the content-addressed cache first (see remote.py) unless `fetch` is False."""
    from .remote import locate_files

    directory = Path(directory)
    sub = read_submission_yaml(directory)
    where = f"{directory}/submission.yaml"
    card = load_card(sub.dataset)
    located = locate_files(directory, sub, fetch_missing=fetch, quiet=quiet)
    if verify:
        verify_files(directory, sub, located)
    zca = None
    data = sub.data
    if data.format == "indices":
        idx = _read_indices(_file(directory, data.path, "data.path", located), card)
        split = load_train_subset(card, idx, data_root, quiet=quiet)
        images = split.images.float() / 255.0
        labels = split.labels
        storage = _listed_bytes(sub, data.path)
    elif data.format == "png_folder":
        arr, lab = _read_png_folder(directory, sub, card, located)
        images, labels = to_unit_space(arr, data.pixel_space, where), torch.from_numpy(lab)
        storage = _listed_bytes(sub, data.path)
    else:
        path = _file(directory, data.path, "data.path", located)
        tensors = read_tensor_file(path, ("images", "labels"), data.path)
        if "images" not in tensors or "labels" not in tensors:
            raise CondenseBenchError(f"{path}: needs tensors 'images' and 'labels'")
        arr, lab = tensors["images"], tensors["labels"]
        if arr.ndim != 4:
            raise CondenseBenchError(f"{path}: images must be (N, C, H, W), got shape {arr.shape}")
        if lab.ndim != 1 or not np.issubdtype(lab.dtype, np.integer):
            raise CondenseBenchError(f"{path}: labels must be a 1-d integer array")
        images = to_unit_space(arr, data.pixel_space, where)
        labels = torch.from_numpy(lab.astype(np.int64))
        if isinstance(data.pixel_space, ZCASpace):
            zca = load_zca(directory, data.pixel_space, tuple(arr.shape[1:]), located)
        storage = _listed_bytes(sub, data.path)
    _check_shape(where, sub, card, images, labels)
    soft = None
    if sub.soft_labels is not None:
        soft_path = _file(directory, sub.soft_labels.path, "soft_labels.path", located)
        t = read_tensor_file(soft_path, ("soft_labels",), sub.soft_labels.path).get("soft_labels")
        if t is None:
            raise CondenseBenchError(f"{soft_path}: needs a tensor 'soft_labels'")
        soft = torch.from_numpy(np.asarray(t, dtype=np.float32))
        if soft.shape != (len(labels), card.num_classes):
            raise CondenseBenchError(
                f"{soft_path}: soft_labels must be ({len(labels)}, {card.num_classes}), got {tuple(soft.shape)}"
            )
        if not torch.isfinite(soft).all():
            raise CondenseBenchError(f"{soft_path}: soft_labels contain NaN or Inf")
        if sub.soft_labels.kind == "probabilities":
            soft = torch.log(soft.clamp_min(1e-12))  # logits up to a constant
        if sub.soft_labels.path != data.path:
            storage += _listed_bytes(sub, sub.soft_labels.path)
    return CondensedSet(sub, directory, card, images.contiguous(), labels, soft, zca, content_hash(sub), storage)


def _check_shape(where: str, sub: Submission, card: DatasetCard, images: torch.Tensor, labels: torch.Tensor) -> None:
    expected = (card.channels, card.image_size, card.image_size)
    if tuple(images.shape[1:]) != expected:
        raise CondenseBenchError(f"{where}: images are {tuple(images.shape[1:])}, dataset {card.name} needs {expected}")
    if len(images) != len(labels):
        raise CondenseBenchError(f"{where}: {len(images)} images but {len(labels)} labels")
    if labels.min() < 0 or labels.max() >= card.num_classes:
        raise CondenseBenchError(f"{where}: labels must lie in 0..{card.num_classes - 1}")
    want = sub.ipc * card.num_classes
    if len(labels) != want:
        raise CondenseBenchError(f"{where}: ipc {sub.ipc} x {card.num_classes} classes = {want} images, found {len(labels)}")
    counts = torch.bincount(labels, minlength=card.num_classes)
    if (counts != sub.ipc).any():
        bad = [(c, int(n)) for c, n in enumerate(counts.tolist()) if n != sub.ipc][:5]
        raise CondenseBenchError(f"{where}: not class-balanced: (class, count) {bad}, expected {sub.ipc} each")
