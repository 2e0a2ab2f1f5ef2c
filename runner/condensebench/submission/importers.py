"""`condensebench import`: published artifacts -> a canonical submission folder.

Formats:
  torch-pair       images and labels saved with torch.save (two files in a folder, or one
                   file holding both), read through safe_torch (allow-listed, weights_only)
  npz              images, labels, optional soft_labels (and ZCA parameters), allow_pickle=False
  image-folder     a tree <class name or index>/<image>.png|jpg (or a .tar/.tar.gz/.zip of one,
                   unpacked with path checks) -> a PNG folder
  coreset-indices  indices into the dataset's train split (text or .npy) -> indices.txt

What is written. uint8 pixels become a PNG folder (`images/<class>/<n>.png`); float
sets are kept as they were published, in a safetensors file (float64 stored as
float32), with their pixel space declared: `uint8` for floats in [0, 1],
`normalized` with the mean/std they were saved with, or `zca` with the whitening
parameters in `zca.safetensors`. The runner de-normalises a normalised set once
(so the protocol's normalisation is the only one applied) and evaluates a ZCA
set in ZCA space with the test images whitened by the same matrix.

`submission.yaml` gets every hash and size, and metadata placeholders starting
with `FILL-IN` (method, paper, authors, licence, code, notes) that the contributor
completes; `condensebench validate` warns about them, and `--strict` (CI) refuses them.
"""
from __future__ import annotations

import re
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from ..datasets import DatasetCard, load_card
from ..errors import CondenseBenchError
from .loader import MAX_IMAGE_PIXELS, check_npz, sha256_file
from .writer import write_indices, write_submission_yaml

FORMATS = ("torch-pair", "npz", "image-folder", "coreset-indices")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
MAX_ARCHIVE_MEMBERS = 2_000_000
MAX_ARCHIVE_BYTES = 64 * 1024**3
FILL_IN = "FILL-IN"

HEADER = """\
# Written by `condensebench import {fmt}` from {src}.
# Fill in every field that starts with FILL-IN (validate warns about them, and the
# pull-request check, `condensebench validate --strict`, refuses them), then run
#   condensebench validate {out}
# Do not edit `files:` by hand: the hashes are those of the data written here.
"""


# ------------------------------------------------------------------ helpers


def _prepare_out(out: Path, force: bool) -> Path:
    out = Path(out)
    if out.is_symlink():
        raise CondenseBenchError(f"--out {out} is a symbolic link")
    if out.exists():
        if not out.is_dir():
            raise CondenseBenchError(f"--out {out} exists and is not a folder")
        if any(out.iterdir()):
            if not force:
                raise CondenseBenchError(f"--out {out} exists and is not empty (use --force to replace its contents)")
            for child in out.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def _default_id(out: Path) -> str:
    sid = re.sub(r"[^a-z0-9._-]+", "-", out.resolve().name.lower()).strip("-._")
    if len(sid) < 2:
        sid = "imported-set"
    return sid[:80]


def _ipc(labels: np.ndarray, card: DatasetCard, declared: int | None, where: str) -> int:
    if labels.ndim != 1 or len(labels) == 0:
        raise CondenseBenchError(f"{where}: labels must be a non-empty 1-d array, got shape {list(labels.shape)}")
    if labels.min() < 0 or labels.max() >= card.num_classes:
        raise CondenseBenchError(f"{where}: labels must lie in 0..{card.num_classes - 1} for {card.name}")
    counts = np.bincount(labels, minlength=card.num_classes)
    if declared is not None:
        if (counts != declared).any():
            raise CondenseBenchError(f"{where}: --ipc {declared}, but the class counts are {counts.tolist()}")
        return declared
    if (counts != counts[0]).any():
        raise CondenseBenchError(f"{where}: not class-balanced (counts {counts.tolist()}); every class needs IPC images")
    return int(counts[0])


def _metadata(card: DatasetCard, sub_id: str, ipc: int, data: dict, *, kind: str = "distilled",
              regimes: list[str] | None = None, soft: dict | None = None, provenance: str = "") -> dict:
    meta = {
        "schema_version": 1,
        "id": sub_id,
        "kind": kind,
        "method": f"{FILL_IN}: method name (e.g. DC, MTT, SRe2L)",
        "paper": {"title": f"{FILL_IN}: paper title", "venue": f"{FILL_IN}: venue or arXiv", "url": f"{FILL_IN}: link to the paper"},
        "authors": [f"{FILL_IN}: authors of the method"],
        "dataset": card.name,
        "ipc": ipc,
        "label_regimes": regimes or ["hard"],
        "data": data,
        "construction_cost": {"reported_by": "self"},
        "code": {"url": f"{FILL_IN}: URL of the code that built the set", "commit": f"{FILL_IN}: commit"},
        "licence": f"{FILL_IN}: licence of the set (e.g. CC-BY-4.0)",
        "notes": (f"{FILL_IN}: how the set was built and its construction cost (GPU hours, GPU model, peak memory). "
                  + provenance).strip(),
    }
    if soft:
        meta["soft_labels"] = soft
    return meta


def _write_yaml(out: Path, meta: dict, fmt: str, src: Path) -> None:
    write_submission_yaml(out, meta)
    path = out / "submission.yaml"
    path.write_text(HEADER.format(fmt=fmt, src=src.name, out=out) + path.read_text())


def _provenance(fmt: str, files: list[Path]) -> str:
    parts = [f"{p.name} (sha256 {sha256_file(p)[:16]}...)" for p in files if p.is_file()]
    return f"Imported with `condensebench import {fmt}` from " + ", ".join(parts) + "." if parts else ""


def _nchw(images: np.ndarray, card: DatasetCard, where: str) -> np.ndarray:
    if images.ndim == 3 and card.channels == 1:
        images = images[:, None]
    if images.ndim != 4:
        raise CondenseBenchError(f"{where}: images must be (N, C, H, W), got shape {list(images.shape)}")
    expected = (card.channels, card.image_size, card.image_size)
    if tuple(images.shape[1:]) == expected:
        return images
    if tuple(images.shape[1:]) == (card.image_size, card.image_size, card.channels):
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2))  # channels last -> first
    raise CondenseBenchError(f"{where}: images are {list(images.shape[1:])}; {card.name} needs {list(expected)}")


def _pixel_space(images: np.ndarray, where: str, *, kind: str | None, mean, std, card: DatasetCard) -> dict:
    """The declared pixel space, checked against the values."""
    if images.dtype == np.uint8:
        if kind not in (None, "uint8", "unit"):
            raise CondenseBenchError(f"{where}: uint8 images cannot be in pixel space {kind!r}")
        return {"kind": "uint8"}
    if not np.issubdtype(images.dtype, np.floating):
        raise CondenseBenchError(f"{where}: images must be uint8 or float, not {images.dtype}")
    if not np.isfinite(images).all():
        raise CondenseBenchError(f"{where}: images contain NaN or Inf")
    lo, hi = float(images.min()), float(images.max())
    if mean is not None or std is not None or kind == "normalized":
        if mean is None or std is None:
            raise CondenseBenchError("a normalised set needs both --normalized-mean and --normalized-std")
        if len(mean) != card.channels or len(std) != card.channels:
            raise CondenseBenchError(f"--normalized-mean/--normalized-std need {card.channels} values each")
        return {"kind": "normalized", "mean": [float(m) for m in mean], "std": [float(s) for s in std]}
    if kind in (None, "uint8", "unit"):
        if lo < -1e-3 or hi > 1 + 1e-3:
            stats = " ".join(f"{v:g}" for v in card.mean), " ".join(f"{v:g}" for v in card.std)
            raise CondenseBenchError(
                f"{where}: float images range over [{lo:.3g}, {hi:.3g}], not [0, 1]: declare how they were saved, "
                f"e.g. --normalized-mean {stats[0]} --normalized-std {stats[1]} ({card.name}'s statistics), "
                "or --pixel-space zca with --zca-params"
            )
        return {"kind": "uint8"}
    raise CondenseBenchError(f"{where}: pixel space {kind!r} needs its parameters")


def write_tensor_set(out: Path, card: DatasetCard, images: np.ndarray, labels: np.ndarray, space: dict, *,
                     fmt: str, src: Path, sources: list[Path], sub_id: str | None, ipc: int | None,
                     soft_labels: np.ndarray | None = None, soft_kind: str = "logits",
                     zca: tuple[np.ndarray, np.ndarray] | None = None, force: bool = False) -> Path:
    """Writes images (+ labels, soft labels, ZCA parameters) canonically and the YAML."""
    from safetensors.numpy import save_file

    where = str(src)
    images = _nchw(images, card, where)
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape == (len(images), card.num_classes) and soft_labels is None:
        raise CondenseBenchError(
            f"{where}: labels are (N, classes): soft labels? give the hard labels too, and the soft ones as soft_labels"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        if np.issubdtype(labels.dtype, np.floating) and np.array_equal(labels, np.round(labels)):
            labels = labels.astype(np.int64)
        else:
            raise CondenseBenchError(f"{where}: labels must be integers, not {labels.dtype}")
    labels = labels.astype(np.int64).reshape(-1)
    if len(labels) != len(images):
        raise CondenseBenchError(f"{where}: {len(images)} images but {len(labels)} labels")
    ipc = _ipc(labels, card, ipc, where)
    if soft_labels is not None and soft_labels.shape != (len(images), card.num_classes):
        raise CondenseBenchError(f"{where}: soft labels must be ({len(images)}, {card.num_classes}), got {list(soft_labels.shape)}")
    if soft_labels is not None and not np.isfinite(soft_labels).all():
        raise CondenseBenchError(f"{where}: soft labels contain NaN or Inf")
    out = _prepare_out(out, force)
    sub_id = sub_id or _default_id(out)
    provenance = _provenance(fmt, sources)
    regimes = ["hard"]
    soft = None
    if space["kind"] == "uint8" and images.dtype == np.uint8 and soft_labels is None:
        # plain 8-bit images: a PNG folder (one file per image, viewable, diffable)
        for i, (img, lab) in enumerate(zip(images, labels)):
            _save_png(out / "images" / str(int(lab)) / f"{i:06d}.png", img)
        data = {"format": "png_folder", "path": "images"}
    else:
        # floats (kept as published; float64 -> float32), or images with soft labels, whose rows
        # must stay aligned with the images: one safetensors file
        stored = images.astype(np.float32) if images.dtype == np.float64 else images
        arrays = {"images": np.ascontiguousarray(stored), "labels": labels}
        if soft_labels is not None:
            arrays["soft_labels"] = np.ascontiguousarray(soft_labels, dtype=np.float32)
            soft = {"path": "data.safetensors", "kind": soft_kind}
            regimes = ["hard", "soft"]
        save_file(arrays, str(out / "data.safetensors"))
        data = {"format": "safetensors", "path": "data.safetensors", "pixel_space": space}
    if zca is not None:
        mean, matrix = zca
        save_file({"mean": np.ascontiguousarray(mean, dtype=np.float32).reshape(-1),
                   "matrix": np.ascontiguousarray(matrix, dtype=np.float32)}, str(out / "zca.safetensors"))
    meta = _metadata(card, sub_id, ipc, data, regimes=regimes, soft=soft, provenance=provenance)
    _write_yaml(out, meta, fmt, src)
    return out


def _save_png(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)).save(path, format="PNG", optimize=False)


def _floats(values, name: str) -> list[float] | None:
    if values is None:
        return None
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        raise CondenseBenchError(f"{name}: expected numbers, got {values!r}") from None


# ------------------------------------------------------------- torch-pair


def _torch_sources(src: Path, images: str | None, labels: str | None) -> tuple[list[Path], Path | None, Path | None]:
    if src.is_file():
        return [src], None, None
    if not src.is_dir():
        raise CondenseBenchError(f"{src}: not found")
    if images or labels:
        if not (images and labels):
            raise CondenseBenchError("give both --images and --labels (file names inside SRC)")
        ip, lp = src / images, src / labels
        for p in (ip, lp):
            if not p.is_file():
                raise CondenseBenchError(f"{p}: not found")
        return [ip, lp], ip, lp
    files = sorted(p for p in src.iterdir() if p.suffix in (".pt", ".pth") and p.is_file())
    lab = [p for p in files if "label" in p.name.lower()]
    img = [p for p in files if "label" not in p.name.lower()]
    if len(lab) != 1 or len(img) != 1:
        raise CondenseBenchError(
            f"{src}: expected one images .pt and one labels .pt (a name containing 'label'); found "
            f"{[p.name for p in files]}. Name them with --images FILE --labels FILE"
        )
    return [img[0], lab[0]], img[0], lab[0]


def _pick(tensors: dict, want: str, key: str | None, where: str):
    if key is not None:
        if key not in tensors:
            raise CondenseBenchError(f"{where}: no tensor {key!r}; found {sorted(tensors)}")
        return tensors[key]
    if len(tensors) == 1:
        return next(iter(tensors.values()))
    for name in ([want, want.rstrip("s")] + (["image_syn", "x", "data.0.0"] if want == "images" else ["label_syn", "y", "data.0.1"])):
        if name in tensors:
            return tensors[name]
    candidates = [k for k, t in tensors.items() if (t.dim() == 4 if want == "images" else t.dim() == 1 and not t.is_floating_point())]
    if len(candidates) == 1:
        return tensors[candidates[0]]
    shapes = {k: list(t.shape) for k, t in tensors.items()}
    raise CondenseBenchError(f"{where}: cannot tell which tensor holds the {want}: {shapes}; name it with --{want}-key")


def import_torch_pair(src: Path, *, dataset: str, out: Path, images: str | None = None, labels: str | None = None,
                      images_key: str | None = None, labels_key: str | None = None, **common) -> Path:
    from .safe_torch import load_torch_file, tensors_in

    card = load_card(dataset)
    src = Path(src)
    sources, ip, lp = _torch_sources(src, images, labels)
    if ip is None:
        everything = tensors_in(load_torch_file(sources[0]), str(sources[0]))
        x = _pick(everything, "images", images_key, str(sources[0]))
        y = _pick(everything, "labels", labels_key, str(sources[0]))
    else:
        x = _pick(tensors_in(load_torch_file(ip), str(ip)), "images", images_key, str(ip))
        y = _pick(tensors_in(load_torch_file(lp), str(lp)), "labels", labels_key, str(lp))
    x_np = _to_numpy(x, str(ip or sources[0]))
    y_np = _to_numpy(y, str(lp or sources[0]))
    return _finish_tensor_import("torch-pair", src, sources, card, x_np, y_np, out=out, **common)


def _to_numpy(t, where: str) -> np.ndarray:
    import torch

    if t.dtype == torch.bfloat16:
        t = t.float()
    if t.is_complex() or t.is_quantized or t.is_sparse:
        raise CondenseBenchError(f"{where}: unsupported tensor type {t.dtype}")
    return t.detach().cpu().contiguous().numpy()


def _finish_tensor_import(fmt: str, src: Path, sources: list[Path], card: DatasetCard, x: np.ndarray, y: np.ndarray, *,
                          out: Path, sub_id: str | None = None, ipc: int | None = None, pixel_space: str | None = None,
                          normalized_mean=None, normalized_std=None, soft_labels: np.ndarray | None = None,
                          soft_kind: str = "logits", zca: tuple[np.ndarray, np.ndarray] | None = None,
                          zca_input: str = "unit", zca_input_mean=None, zca_input_std=None, force: bool = False) -> Path:
    where = str(src)
    x = _nchw(x, card, where)
    mean, std = _floats(normalized_mean, "--normalized-mean"), _floats(normalized_std, "--normalized-std")
    if pixel_space == "zca" or zca is not None:
        if zca is None:
            raise CondenseBenchError("--pixel-space zca needs the whitening parameters: --zca-params FILE "
                                     "(npz or safetensors with 'mean' and 'matrix'), or zca_mean/zca_matrix in the npz")
        if not np.issubdtype(x.dtype, np.floating) or not np.isfinite(x).all():
            raise CondenseBenchError(f"{where}: ZCA-whitened images must be finite floats")
        d = int(np.prod(x.shape[1:]))
        zmean, zmat = np.asarray(zca[0]).reshape(-1), np.asarray(zca[1])
        if zmean.shape != (d,) or zmat.shape != (d, d):
            raise CondenseBenchError(f"ZCA parameters must be mean ({d},) and matrix ({d}, {d}); got {list(zmean.shape)}, {list(zmat.shape)}")
        space = {"kind": "zca", "path": "zca.safetensors", "input": zca_input}
        if zca_input == "normalized":
            imean, istd = _floats(zca_input_mean, "--zca-input-mean"), _floats(zca_input_std, "--zca-input-std")
            if imean is None or istd is None:
                raise CondenseBenchError("--zca-input normalized needs --zca-input-mean and --zca-input-std")
            space.update(input_mean=imean, input_std=istd)
        zca = (zmean, zmat)
    else:
        space = _pixel_space(x, where, kind=pixel_space, mean=mean, std=std, card=card)
    return write_tensor_set(out, card, x, y, space, fmt=fmt, src=src, sources=sources, sub_id=sub_id, ipc=ipc,
                            soft_labels=soft_labels, soft_kind=soft_kind, zca=zca, force=force)


# -------------------------------------------------------------------- npz


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file() or path.is_symlink():
        raise CondenseBenchError(f"{path}: not a regular file")
    check_npz(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (ValueError, OSError, EOFError) as exc:
        raise CondenseBenchError(f"{path}: not a readable npz file without pickles ({exc})") from None


def _read_params(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".npz":
        return _read_npz(path)
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise CondenseBenchError(f"{path}: not a readable safetensors file ({exc})") from None
    raise CondenseBenchError(f"{path}: ZCA parameters must be .npz or .safetensors (with 'mean' and 'matrix')")


def import_npz(src: Path, *, dataset: str, out: Path, images_key: str = "images", labels_key: str = "labels",
               soft_labels_key: str = "soft_labels", zca_params: Path | None = None, **common) -> Path:
    card = load_card(dataset)
    src = Path(src)
    arrays = _read_npz(src)
    for key in (images_key, labels_key):
        if key not in arrays:
            raise CondenseBenchError(f"{src}: no array {key!r}; found {sorted(arrays)} (name them with --images-key/--labels-key)")
    soft = arrays.get(soft_labels_key)
    if soft is not None and not np.issubdtype(soft.dtype, np.floating):
        raise CondenseBenchError(f"{src}: {soft_labels_key} must be floats")
    zca = None
    sources = [src]
    if zca_params is not None:
        params = _read_params(Path(zca_params))
        sources.append(Path(zca_params))
        if "mean" not in params or "matrix" not in params:
            raise CondenseBenchError(f"{zca_params}: needs arrays 'mean' and 'matrix'; found {sorted(params)}")
        zca = (params["mean"], params["matrix"])
    elif "zca_mean" in arrays and "zca_matrix" in arrays:
        zca = (arrays["zca_mean"], arrays["zca_matrix"])
    if common.get("pixel_space") not in (None, "zca") and zca is not None:
        raise CondenseBenchError(f"ZCA parameters given but --pixel-space {common['pixel_space']}")
    return _finish_tensor_import("npz", src, sources, card, arrays[images_key], arrays[labels_key], out=out,
                                 soft_labels=soft, zca=zca, **common)


# ----------------------------------------------------------- image-folder


def safe_unpack(archive: Path, target: Path) -> Path:
    """Unpack a .tar/.tar.gz/.zip into `target`, checking every member first: no absolute or
    `..` paths, no links or device files, bounded member count and size. Nothing is written
    when any member is unsafe."""
    archive = Path(archive)
    name = archive.name.lower()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            infos = z.infolist()
            _check_members(archive, [(i.filename, not i.is_dir(), i.is_dir(), i.file_size,
                                      (i.external_attr >> 16) & 0o170000 == 0o120000) for i in infos])
            for i in infos:
                dest = target / i.filename
                if i.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                with z.open(i) as fin, open(dest, "wb") as fout:
                    shutil.copyfileobj(fin, fout, 1 << 20)
        return target
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        try:
            with tarfile.open(archive) as tar:
                members = tar.getmembers()
                _check_members(archive, [(m.name, m.isfile(), m.isdir(), m.size, not (m.isfile() or m.isdir()))
                                         for m in members])
                for m in members:
                    tar.extract(m, target, filter="data")
        except tarfile.TarError as exc:
            raise CondenseBenchError(f"{archive}: not a readable tar archive ({exc})") from None
        return target
    raise CondenseBenchError(f"{archive}: not a folder, a .tar(.gz) or a .zip archive")


def _check_members(archive: Path, members: list[tuple[str, bool, bool, int, bool]]) -> None:
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise CondenseBenchError(f"{archive}: {len(members)} members; refused")
    total = 0
    for name, is_file, is_dir, size, is_link in members:
        p = PurePosixPath(name)
        if p.is_absolute() or ".." in p.parts or "\\" in name or name.startswith("~"):
            raise CondenseBenchError(f"{archive}: unsafe member path {name!r}; nothing extracted")
        if is_link or not (is_file or is_dir):
            raise CondenseBenchError(f"{archive}: member {name!r} is a link or device file; nothing extracted")
        total += size
    if total > MAX_ARCHIVE_BYTES:
        raise CondenseBenchError(f"{archive}: unpacks to {total} bytes; refused")


def _class_dirs(root: Path, card: DatasetCard) -> Path:
    """The folder whose subfolders are the classes (descends through single wrapper folders)."""
    for _ in range(4):
        subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.is_symlink() and not d.name.startswith("."))
        names = {d.name for d in subdirs}
        if subdirs and (names <= set(card.classes) or all(n.isdigit() for n in names)):
            return root
        if len(subdirs) == 1:
            root = subdirs[0]
            continue
        break
    raise CondenseBenchError(
        f"{root}: expected class folders named by class ({', '.join(card.classes[:4])}, ...) or by index (0..{card.num_classes - 1})"
    )


def import_image_folder(src: Path, *, dataset: str, out: Path, sub_id: str | None = None, ipc: int | None = None,
                        force: bool = False, **_ignored) -> Path:
    from PIL import Image

    card = load_card(dataset)
    src = Path(src)
    with tempfile.TemporaryDirectory(prefix="cb-import-") as tmp:
        root = src if src.is_dir() else safe_unpack(src, Path(tmp))
        root = _class_dirs(root, card)
        images, labels = [], []
        for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if d.is_symlink():
                raise CondenseBenchError(f"{d}: a symbolic link; refused")
            # a class name first (digits' classes are named "0".."9"), else a class index
            label = card.classes.index(d.name) if d.name in card.classes else int(d.name) if d.name.isdigit() else -1
            if not 0 <= label < card.num_classes:
                raise CondenseBenchError(f"{d}: not a class of {card.name} (names {card.classes[:3]}... or indices)")
            for f in sorted(d.iterdir()):
                if f.name.startswith("."):
                    continue
                if f.is_symlink() or not f.is_file():
                    raise CondenseBenchError(f"{f}: not a regular file; refused")
                if f.suffix.lower() not in IMAGE_SUFFIXES:
                    raise CondenseBenchError(f"{f}: not a .png/.jpg image")
                try:
                    with Image.open(f, formats=["PNG", "JPEG"]) as im:
                        if im.width * im.height > MAX_IMAGE_PIXELS:
                            raise CondenseBenchError(f"{f}: {im.width}x{im.height} pixels is over the limit")
                        im.load()
                        arr = np.asarray(im.convert("L" if card.channels == 1 else "RGB"), dtype=np.uint8)
                except CondenseBenchError:
                    raise
                except Exception as exc:
                    raise CondenseBenchError(f"{f}: cannot decode ({type(exc).__name__}: {exc})") from None
                arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
                if arr.shape[1:] != (card.image_size, card.image_size):
                    raise CondenseBenchError(f"{f}: {arr.shape[2]}x{arr.shape[1]}; {card.name} images are "
                                             f"{card.image_size}x{card.image_size} (resize before importing)")
                images.append(arr)
                labels.append(label)
        if not images:
            raise CondenseBenchError(f"{src}: no images found")
        sources = [src] if src.is_file() else []
        return write_tensor_set(out, card, np.stack(images), np.asarray(labels), {"kind": "uint8"}, fmt="image-folder",
                                src=src, sources=sources, sub_id=sub_id, ipc=ipc, force=force)


# -------------------------------------------------------- coreset-indices


def import_coreset_indices(src: Path, *, dataset: str, out: Path, sub_id: str | None = None, ipc: int | None = None,
                           data_root=None, force: bool = False, **_ignored) -> Path:
    card = load_card(dataset)
    src = Path(src)
    if not src.is_file() or src.is_symlink():
        raise CondenseBenchError(f"{src}: not a regular file")
    if src.suffix == ".npy":
        try:
            idx = np.load(src, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise CondenseBenchError(f"{src}: not a readable .npy array without pickles ({exc})") from None
        if not np.issubdtype(idx.dtype, np.integer):
            raise CondenseBenchError(f"{src}: indices must be integers, not {idx.dtype}")
        idx = idx.reshape(-1).astype(np.int64)
    else:
        try:
            text = src.read_text(encoding="ascii")
            idx = np.asarray([int(v) for v in re.split(r"[\s,]+", text.strip()) if v], dtype=np.int64)
        except (UnicodeDecodeError, ValueError):
            raise CondenseBenchError(f"{src}: expected integers separated by newlines, spaces or commas") from None
    if len(idx) == 0:
        raise CondenseBenchError(f"{src}: no indices")
    if idx.min() < 0 or idx.max() >= card.train_size:
        raise CondenseBenchError(f"{src}: indices must lie in 0..{card.train_size - 1} (the train split of {card.name})")
    if len(np.unique(idx)) != len(idx):
        raise CondenseBenchError(f"{src}: indices repeat")
    try:
        from .validate import train_labels

        labels = train_labels(card, data_root)
        ipc = _ipc(labels[idx], card, ipc, str(src))
    except CondenseBenchError as exc:
        if ipc is None:
            raise CondenseBenchError(f"{src}: cannot infer the IPC ({exc}); give --ipc") from None
        if len(idx) != ipc * card.num_classes:
            raise CondenseBenchError(f"{src}: {len(idx)} indices, --ipc {ipc} x {card.num_classes} classes = {ipc * card.num_classes}")
    out = _prepare_out(out, force)
    write_indices(out, np.sort(idx))
    meta = _metadata(card, sub_id or _default_id(out), ipc, {"format": "indices", "path": "indices.txt"},
                     kind="coreset", provenance=_provenance("coreset-indices", [src]))
    _write_yaml(out, meta, "coreset-indices", src)
    return out


IMPORTERS = {
    "torch-pair": import_torch_pair,
    "npz": import_npz,
    "image-folder": import_image_folder,
    "coreset-indices": import_coreset_indices,
}


def import_artifact(fmt: str, src: Path, **kwargs) -> Path:
    if fmt not in IMPORTERS:
        raise CondenseBenchError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    return IMPORTERS[fmt](Path(src), **kwargs)
