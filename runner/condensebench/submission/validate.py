"""Deep validation of a submission: every problem at once, each naming the file and field.

`validate_submission(PATH)` returns a `Report` (JSON via `to_dict`) that lists
errors, warnings and notes. Unlike `load_submission`, which stops at the first
problem, it carries on wherever it can, so a contributor sees everything to fix
in one run.

Safety. The submission is untrusted bytes: nothing in it is executed or
unpickled (PNG through PIL's PNG plug-in only, with a pixel limit and truncated
files refused; safetensors headers and npz array headers are parsed before any
data is read, npz without pickles; indices as ASCII text). The folder is walked
without following links. Validation writes nothing anywhere: the test split is
read from the existing cache, or decoded in memory when it is not cached, and
files listed by URL are only read from the cache unless `fetch=True` (which
downloads them into the content-addressed cache, verified). The report is
written by the caller (the CLI's --out).

Placeholders. `condensebench import` writes metadata placeholders that start
with `FILL-IN`; they are warnings here (so an imported set can be validated and
evaluated locally right away) and errors with `strict=True`, which the
pull-request CI uses: a submission is not merged with placeholders left.
"""
from __future__ import annotations

import json
import os
import re
import stat
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
import torch
from pydantic import TypeAdapter, ValidationError

from ..datasets import DatasetCard, load_card
from ..errors import CondenseBenchError, SchemaError
from ..yamlio import read_yaml
from .loader import (MAX_TENSOR_BYTES, SUBMISSION_YAML_MAX_BYTES, SUBMISSION_YAML_MAX_NODES, check_npz,
                     content_hash, decode_png, sha256_file)
from .schema import DataFile, Submission, ZCASpace

Severity = Literal["error", "warning", "note"]

MAX_TREE_ENTRIES = 2_000_000
MAX_LISTED_PER_KIND = 20  # per kind of problem, the rest is counted
MAX_INDICES_BYTES = 64 * 1024 * 1024
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
PLACEHOLDER = "FILL-IN"
ARCHIVE_SUFFIXES = {".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst", ".lz4"}
PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".joblib", ".npy"}
DATA_SUFFIXES = {".png", ".safetensors", ".npz", ".txt"}
IMAGE_RANGE_SLACK = 0.1  # de-normalised / un-whitened pixels counted as plausible within [-0.1, 1.1]


@dataclass
class Problem:
    severity: Severity
    file: str  # path relative to the submission folder ('submission.yaml', 'images/3/a.png', ...)
    field: str  # the YAML field or tensor the problem is about ('files[2].sha256', 'images', ...)
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{self.severity.upper():7s} {where}: {self.message}"


@dataclass
class Report:
    path: str
    problems: list[Problem] = field(default_factory=list)
    submission_id: str | None = None
    dataset: str | None = None
    ipc: int | None = None
    kind: str | None = None
    format: str | None = None
    n_images: int | None = None
    storage_bytes: int | None = None  # images + soft labels as stored (what the leaderboard reports)
    storage: dict = field(default_factory=dict)  # breakdown: images, soft_labels, zca (not counted)
    content_hash: str | None = None
    leakage: dict = field(default_factory=dict)
    duplicates_of: list[str] = field(default_factory=list)
    seconds: float = 0.0
    strict: bool = False
    require_data: bool = False
    _counts: dict = field(default_factory=dict, repr=False)

    def data_missing(self, file: str, fld: str, message: str) -> None:
        """A check that needs the dataset's files, which are not here."""
        if self.require_data:
            self.error(file, fld, message + " (--require-data)")
        else:
            self.note(file, fld, message)

    def add(self, severity: Severity, file: str, fld: str, message: str, *, kind: str | None = None) -> None:
        """Record a problem; beyond MAX_LISTED_PER_KIND of one `kind` they are only counted."""
        if kind:
            n = self._counts.get(kind, (severity, 0))[1] + 1
            self._counts[kind] = (severity, n)
            if n > MAX_LISTED_PER_KIND:
                return
        self.problems.append(Problem(severity, file, fld, message))

    def error(self, file: str, fld: str, message: str, **kw) -> None:
        self.add("error", file, fld, message, **kw)

    def warning(self, file: str, fld: str, message: str, **kw) -> None:
        self.add("warning", file, fld, message, **kw)

    def note(self, file: str, fld: str, message: str) -> None:
        self.add("note", file, fld, message)

    def close_kinds(self) -> None:
        for kind, (severity, n) in self._counts.items():
            if n > MAX_LISTED_PER_KIND:
                self.problems.append(Problem(severity, "", kind, f"... and {n - MAX_LISTED_PER_KIND} more problems of this kind"))
        self._counts = {}

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error" or (self.strict and p.severity == "warning")]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning" and not self.strict]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("_counts", None)
        d["ok"] = self.ok
        d["n_errors"] = len(self.errors)
        d["n_warnings"] = len(self.warnings)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def summary(self) -> str:
        lines = [f"{self.path}: {self.submission_id or '?'} ({self.dataset or '?'}, IPC {self.ipc or '?'}, {self.format or '?'})"]
        for p in sorted(self.problems, key=lambda p: {"error": 0, "warning": 1, "note": 2}[p.severity]):
            lines.append(f"  {p}")
        if self.storage_bytes is not None:
            lines.append(f"  storage: {self.storage_bytes:,} bytes ({', '.join(f'{k} {v:,}' for k, v in self.storage.items())})")
        if self.leakage:
            lk = self.leakage
            if lk.get("checked"):
                lines.append(f"  leakage: {len(lk['matches'])} near-duplicates of {lk['test_images']:,} test images "
                             f"(threshold {lk['threshold']}, {lk['seconds']:.2f}s)")
            else:
                lines.append(f"  leakage: not checked ({lk.get('reason')})")
        verdict = "OK" if self.ok else "FAILED"
        lines.append(f"  {verdict}: {len(self.errors)} error(s), {len(self.warnings)} warning(s) in {self.seconds:.2f}s"
                     + (" (strict: warnings count as errors)" if self.strict else ""))
        return "\n".join(lines)


# ---------------------------------------------------------------- the tree


def _odd_name(name: str) -> bool:
    return any(ord(ch) < 32 or ch in "\\\x7f" for ch in name) or name.strip() != name


def scan_tree(directory: Path, report: Report) -> dict[str, os.stat_result]:
    """Regular files under `directory` by relative POSIX path, links not followed;
    symlinks, device files, FIFOs, sockets and odd names are errors."""
    files: dict[str, os.stat_result] = {}
    stack = [(directory, "")]
    seen = 0
    while stack:
        folder, rel = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            report.error(rel or ".", "", f"cannot list the folder ({exc.strerror})")
            continue
        for entry in entries:
            seen += 1
            if seen > MAX_TREE_ENTRIES:
                report.error(".", "", f"more than {MAX_TREE_ENTRIES} entries; refused")
                return files
            name = entry.name
            path = f"{rel}{name}"
            if _odd_name(name):
                report.error(path, "", "file name with control characters, backslashes or surrounding spaces", kind="names")
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                report.error(path, "", f"cannot stat ({exc.strerror})")
                continue
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(entry.path)
                report.error(path, "", f"is a symbolic link (to {target!r}); links are refused, commit the file itself",
                             kind="links")
            elif stat.S_ISDIR(st.st_mode):
                stack.append((Path(entry.path), path + "/"))
            elif stat.S_ISREG(st.st_mode):
                files[path] = st
            else:
                what = ("a device file" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                        else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
                report.error(path, "", f"is {what}; refused", kind="special")
    return files


def _sniff(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(264)
    except OSError:
        return b""


def _content_kind(head: bytes) -> str | None:
    if head[:2] == b"\x1f\x8b":
        return "a gzip archive"
    if head[:3] == b"BZh":
        return "a bzip2 archive"
    if head[:6] == b"\xfd7zXZ\x00":
        return "an xz archive"
    if head[:6] == b"7z\xbc\xaf\x27\x1c":
        return "a 7z archive"
    if head[:4] == b"Rar!":
        return "a rar archive"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "a tar archive"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "a pickle"
    if head[:6] == b"\x93NUMPY":
        return "a bare .npy array"
    return None


# ------------------------------------------------------------- the schema


_TAGS = {"png_folder", "safetensors", "npz", "indices", "uint8", "normalized", "zca"}  # discriminator tags in error locations


def _loc(parts) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TAGS or str(part).startswith("function-"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _schema_problems(report: Report, exc: ValidationError | SchemaError) -> None:
    if isinstance(exc, ValidationError):
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            report.error("submission.yaml", _loc(err["loc"]), msg)
        return
    for text in exc.problems:
        loc, sep, msg = text.partition(": ")
        if not sep or " " in loc:
            loc, msg = "", text
        report.error("submission.yaml", "" if loc == "(top level)" else loc, msg)


def _placeholders(value, path: str, out: list[str]) -> None:
    if isinstance(value, str) and PLACEHOLDER in value:
        out.append(path)
    elif isinstance(value, dict):
        for k, v in value.items():
            _placeholders(v, f"{path}.{k}" if path else str(k), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _placeholders(v, f"{path}[{i}]", out)


def _check_known(report: Report, sub: Submission, card: DatasetCard) -> None:
    """IPC and label regimes against the dataset and the protocols."""
    want = sub.ipc * card.num_classes
    if want > card.train_size:
        report.error("submission.yaml", "ipc",
                     f"ipc {sub.ipc} x {card.num_classes} classes = {want} images is more than the {card.train_size} "
                     f"training images of {card.name}")
    try:
        from ..protocol import load_protocol
        from ..protocol.store import list_protocols

        regimes = set()
        for name in list_protocols():
            try:
                proto = load_protocol(name)
            except CondenseBenchError:
                continue
            if card.name in proto.datasets:
                regimes.add(proto.label_regime)
        missing = [r for r in sub.label_regimes if r not in regimes]
        if missing and regimes:
            report.note("submission.yaml", "label_regimes",
                           f"no protocol evaluates {card.name} in regime(s) {missing} (protocols for it: {sorted(regimes)})")
        elif not regimes:
            report.note("submission.yaml", "dataset", f"no protocol evaluates dataset {card.name} yet")
    except CondenseBenchError:
        pass
    if sub.kind == "distilled" and sub.data.format == "indices":
        report.warning("submission.yaml", "kind", "a set of train indices is a coreset: kind 'coreset' (or 'baseline')")


# ------------------------------------------------------------- tensor files


def safetensors_header(path: Path) -> dict:
    """The JSON header of a safetensors file, checked against the file size (no data read)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise CondenseBenchError("not a safetensors file (shorter than its header length)")
        (n,) = struct.unpack("<Q", raw)
        if n > MAX_SAFETENSORS_HEADER or n + 8 > size:
            raise CondenseBenchError(f"not a safetensors file (header length {n} for a {size}-byte file)")
        try:
            header = json.loads(f.read(n))
        except (ValueError, UnicodeDecodeError) as exc:
            raise CondenseBenchError(f"not a safetensors file (header is not JSON: {exc})") from None
    if not isinstance(header, dict):
        raise CondenseBenchError("not a safetensors file (header is not an object)")
    end = size - 8 - n
    for key, info in header.items():
        if key == "__metadata__":
            continue
        try:
            lo, hi = info["data_offsets"]
            if not (0 <= lo <= hi <= end):
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise CondenseBenchError(f"not a safetensors file (tensor {key!r} has bad data offsets)") from None
    return {k: v for k, v in header.items() if k != "__metadata__"}


def _tensor_keys(path: Path, name: str) -> dict[str, tuple[tuple[int, ...], str, int]]:
    """{key: (shape, dtype name, nbytes)} from the header, without reading data."""
    if name.endswith(".safetensors"):
        out = {}
        for key, info in safetensors_header(path).items():
            lo, hi = info["data_offsets"]
            out[key] = (tuple(info.get("shape", ())), str(info.get("dtype", "?")), hi - lo)
        return out
    if name.endswith(".npz"):
        return {k: (shape, dtype.name, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
                for k, (shape, dtype) in check_npz(path, MAX_TENSOR_BYTES).items()}
    raise CondenseBenchError("tensor files must be .safetensors or .npz")


def _read_arrays(path: Path, name: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    if name.endswith(".safetensors"):
        from safetensors import safe_open

        out = {}
        with safe_open(str(path), framework="numpy") as f:
            for k in keys:
                if k in f.keys():
                    out[k] = f.get_tensor(k)
        return out
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in keys if k in npz.files}


def _where_list(idx: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(int(i)) for i in idx[:limit])
    return f"[{shown}{', ...' if len(idx) > limit else ''}] ({len(idx)} in all)"


# ------------------------------------------------------------------ datasets


def train_labels(card: DatasetCard, data_root) -> np.ndarray:
    """Labels of the train split without decoding images or writing a cache."""
    from ..datasets import splits
    from ..paths import data_root as default_root

    root = default_root(data_root)
    if card.embedded:
        return splits.load_split(card, "train").labels.numpy()
    if card.source.kind == "image_folder":
        return np.asarray([lab for _, lab in splits.image_folder_samples(card, "train", root)], dtype=np.int64)
    _, labels = splits._read_source(card, "train", root, True)
    return labels.numpy()


def test_split_readonly(card: DatasetCard, data_root) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The test split from the existing cache, or decoded in memory (nothing written);
    refused when it does not match the card's pinned fingerprint. Returns (images, labels, how)."""
    from ..datasets import splits
    from ..paths import data_root as default_root

    root = default_root(data_root)
    how = "decoded in memory"
    if card.embedded:
        images, labels = splits._read_source(card, "test", root, True)
        how = "embedded"
    else:
        env = os.environ.get("CONDENSEBENCH_CACHE")
        cache_root = Path(env).expanduser() if env else Path.home() / ".cache" / "condensebench" / "cache"
        cached = None
        if (cache_root / "splits").is_dir():
            key = card.test_fingerprint[:32] if card.test_fingerprint else splits._source_key(card, "test", root)
            cached = splits._cache_file(card, "test", key)  # its folder exists: nothing is created
        if cached is not None and cached.is_file():
            from safetensors.torch import load_file

            tensors = load_file(str(cached))
            images, labels, how = tensors["images"], tensors["labels"], "cached"
        else:
            images, labels = splits._read_source(card, "test", root, True)
    if card.test_fingerprint and splits.fingerprint(images, labels) != card.test_fingerprint:
        raise CondenseBenchError(f"the local test split of {card.name} does not match the card's pinned fingerprint")
    return images, labels, how


# ------------------------------------------------------------- the validator


class _Ctx:
    def __init__(self, directory: Path, report: Report, sub: Submission, card: DatasetCard,
                 located: dict[str, Path], data_root):
        self.directory, self.report, self.sub, self.card = directory, report, sub, card
        self.located, self.data_root = located, data_root
        self.images: torch.Tensor | None = None  # unit-space float32, for the leakage check
        self.image_names: list[str] = []  # "file: field" of each row of `images`, for messages
        self.labels: np.ndarray | None = None  # of every submitted image, for the balance check
        self.n: int | None = None  # number of submitted images
        self.soft_bytes = 0  # bytes of the soft_labels tensor when it shares the data file


def validate_submission(directory: str | Path, *, data_root=None, leakage: bool = True,
                        submissions_root: Path | None = None, fetch: bool = False,
                        strict: bool = False, require_data: bool = False) -> Report:
    """Every problem of one submission folder. `require_data`: a dataset whose files are
    missing (so that class balance or leakage cannot be checked) is an error instead of a
    note; `strict`: warnings count as errors; `fetch`: download files listed by url."""
    started = time.perf_counter()
    directory = Path(directory)
    report = Report(path=str(directory), strict=strict)
    report.require_data = require_data
    try:
        _validate(directory, report, data_root=data_root, leakage=leakage, submissions_root=submissions_root, fetch=fetch)
    except Exception as exc:  # a malformed file no check anticipated: refused, never a traceback
        report.error("", "", f"validation stopped on an unexpected {type(exc).__name__}: {exc} "
                     "(a malformed file, or a bug in condensebench: please report it)")
    finally:
        report.close_kinds()
        report.seconds = time.perf_counter() - started
    return report


def _validate(directory: Path, report: Report, *, data_root, leakage: bool, submissions_root, fetch: bool) -> None:
    if directory.is_symlink() or not directory.is_dir():
        report.error(str(directory), "", "not a folder (a submission is a folder holding submission.yaml)")
        return
    tree = scan_tree(directory, report)

    # --- the YAML and its schema
    if "submission.yaml" not in tree:
        report.error("submission.yaml", "", "missing (or not a regular file)")
        return
    try:
        raw = read_yaml(directory / "submission.yaml", max_bytes=SUBMISSION_YAML_MAX_BYTES,
                        max_nodes=SUBMISSION_YAML_MAX_NODES)
    except SchemaError as exc:
        _schema_problems(report, exc)
        return
    if not isinstance(raw, dict):
        report.error("submission.yaml", "", "must be a mapping of fields")
        return
    holes: list[str] = []
    _placeholders(raw, "", holes)
    for h in holes:
        report.warning("submission.yaml", h, "unfinished placeholder (FILL-IN...): fill it in before opening the pull request",
                       kind="placeholders")
    report.submission_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    sub: Submission | None = None
    try:
        sub = Submission.model_validate(raw)
    except ValidationError as exc:
        _schema_problems(report, exc)
    entries = _listed_entries(raw, sub)

    if sub is not None:
        report.dataset, report.ipc, report.kind, report.format = sub.dataset, sub.ipc, sub.kind, sub.data.format
        report.content_hash = content_hash(sub)
    else:
        for key in ("dataset", "ipc", "kind"):
            if isinstance(raw.get(key), (str, int)):
                setattr(report, key, raw.get(key))

    # --- files: listed = present, with the listed size and sha256; nothing unlisted
    located = _check_files(directory, tree, entries, report, fetch=fetch)

    if sub is None:
        report.note("submission.yaml", "", "the data was not checked: fix the schema errors first")
        return
    card = None
    try:
        card = load_card(sub.dataset)
    except CondenseBenchError as exc:
        report.error("submission.yaml", "dataset", str(exc))
    if card is None:
        return
    _check_known(report, sub, card)
    referenced_ok = _check_references(sub, entries, report)
    if not referenced_ok:
        report.note("submission.yaml", "data", "the data was not decoded: a referenced file is missing")
        return

    ctx = _Ctx(directory, report, sub, card, located, data_root)
    fmt = sub.data.format
    if fmt == "indices":
        _check_indices(ctx)
    elif fmt == "png_folder":
        _check_png_folder(ctx)
    else:
        _check_tensor_file(ctx)
    if ctx.labels is not None:
        _check_balance(ctx, sub.data.path)
    if sub.soft_labels is not None and ctx.n is not None:
        _check_soft_labels(ctx)
    _storage(ctx)
    if leakage:
        _check_leakage(ctx)
    _check_duplicates(directory, sub, report, submissions_root)


def _listed_entries(raw: dict, sub: Submission | None) -> list[DataFile]:
    if sub is not None:
        return list(sub.files)
    files = raw.get("files")
    out = []
    if isinstance(files, list):
        adapter = TypeAdapter(DataFile)
        for item in files:
            try:
                out.append(adapter.validate_python(item))
            except ValidationError:
                pass  # already reported by the whole-schema validation
    return out


def _check_files(directory: Path, tree: dict[str, os.stat_result], entries: list[DataFile], report: Report,
                 *, fetch: bool) -> dict[str, Path]:
    from . import remote

    located: dict[str, Path] = {}
    listed = set()
    for i, f in enumerate(entries):
        fld = f"files[{i}]"
        if PurePosixPath(f.path).as_posix() != f.path or f.path.endswith("/"):
            report.error("submission.yaml", f"{fld}.path", f"{f.path!r} is not in canonical form (write {PurePosixPath(f.path).as_posix()!r})")
        listed.add(f.path)
        suffix = PurePosixPath(f.path).suffix.lower()
        if suffix in PICKLE_SUFFIXES:
            report.error(f.path, "", "pickle-based and .npy files are refused (loading them can run code); convert with "
                         "`condensebench import` (torch-pair, npz) to safetensors/npz/PNG")
        elif suffix in ARCHIVE_SUFFIXES:
            report.error(f.path, "", "archives are refused in a submission: commit the unpacked files "
                         "(`condensebench import image-folder` unpacks an archive with path checks)")
        if f.path in tree:
            path = directory / f.path
            st = tree[f.path]
        elif f.url:
            try:
                remote.check_url(f.url, "url")
            except CondenseBenchError:
                report.error("submission.yaml", f"{fld}.url", f"{f.url!r} must be an http(s) URL")
                continue
            try:
                hit = remote.fetch(f, where=f"submission.yaml {fld}") if fetch else remote.cached(f)
            except CondenseBenchError as exc:
                report.error("submission.yaml", f"{fld}.url", str(exc))
                continue
            if hit is None:
                report.warning(f.path, "", f"listed by url and not fetched: run `condensebench validate --fetch` to download "
                               f"and check it ({f.url})")
                continue
            path, st = hit, hit.stat()
        else:
            report.error("submission.yaml", f"{fld}.path", f"{f.path!r} is listed but not in the folder", kind="missing")
            continue
        located[f.path] = path
        if st.st_size != f.size:
            report.error(f.path, f"{fld}.size", f"is {st.st_size} bytes, listed as {f.size}", kind="size")
        digest = sha256_file(path)
        if digest != f.sha256:
            report.error(f.path, f"{fld}.sha256", f"sha256 {digest[:16]}... does not match the listed {f.sha256[:16]}...",
                         kind="sha256")
        head = _sniff(path)
        what = _content_kind(head)
        if what and not (what == "a bare .npy array" and suffix == ".npy"):
            report.error(f.path, "", f"its content is {what}; refused (pickles can run code, archives hide files)")
        if suffix == ".npz" and head[:4] != b"PK\x03\x04" and head[:4] != b"PK\x05\x06":
            report.error(f.path, "", "not a zip archive, so not an npz file")
        if suffix and suffix not in DATA_SUFFIXES | PICKLE_SUFFIXES | ARCHIVE_SUFFIXES | {".md", ".json", ".yaml", ".yml"}:
            report.warning(f.path, "", f"unexpected file type {suffix!r}")
    for rel in sorted(set(tree) - listed - {"submission.yaml"}):
        report.error(rel, "", "is not listed in submission.yaml files: (list it with its sha256 and size, or remove it)",
                     kind="unlisted")
    return located


def _check_references(sub: Submission, entries: list[DataFile], report: Report) -> bool:
    listed = {f.path for f in entries}
    ok = True
    refs = []
    if sub.data.format == "png_folder":
        prefix = sub.data.path.rstrip("/") + "/"
        if not any(p.startswith(prefix) for p in listed):
            report.error("submission.yaml", "data.path", f"no listed file under {sub.data.path!r}/")
            ok = False
    else:
        refs.append(("data.path", sub.data.path))
    if sub.soft_labels is not None:
        refs.append(("soft_labels.path", sub.soft_labels.path))
    if isinstance(getattr(sub.data, "pixel_space", None), ZCASpace):
        refs.append(("data.pixel_space.path", sub.data.pixel_space.path))
    for fld, rel in refs:
        if rel not in listed:
            report.error("submission.yaml", fld, f"{rel!r} is not listed in files:")
            ok = False
    used = {rel for _, rel in refs}
    prefix = sub.data.path.rstrip("/") + "/" if sub.data.format == "png_folder" else None
    for f in entries:
        if f.path not in used and not (prefix and f.path.startswith(prefix)):
            report.note(f.path, "", "listed but not used as data (not counted in storage)")
    return ok


def _file(ctx: _Ctx, rel: str) -> Path | None:
    return ctx.located.get(rel)


# -------------------------------------------------------------- per format


def _check_indices(ctx: _Ctx) -> None:
    rep, sub, card = ctx.report, ctx.sub, ctx.card
    rel = sub.data.path
    path = _file(ctx, rel)
    if path is None:
        return
    if path.stat().st_size > MAX_INDICES_BYTES:
        rep.error(rel, "", f"over {MAX_INDICES_BYTES} bytes; refused")
        return
    try:
        text = path.read_bytes().decode("ascii")
    except UnicodeDecodeError:
        rep.error(rel, "", "not ASCII text: one integer index per line")
        return
    values, bad = [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        try:
            values.append(int(s))
        except ValueError:
            bad.append(lineno)
    if bad:
        rep.error(rel, "", f"lines that are not integers: {bad[:8]}{' ...' if len(bad) > 8 else ''} ({len(bad)} in all)")
    idx = np.asarray(values, dtype=np.int64)
    ctx.n = len(idx)
    if len(idx) == 0:
        rep.error(rel, "", "no indices")
        return
    out = np.flatnonzero((idx < 0) | (idx >= card.train_size))
    if len(out):
        rep.error(rel, "", f"indices must lie in 0..{card.train_size - 1}; out of range at lines {_where_list(out + 1)}")
    uniq, counts = np.unique(idx, return_counts=True)
    if len(uniq) != len(idx):
        rep.error(rel, "", f"indices repeat: {_where_list(uniq[counts > 1])}")
    rep.n_images = len(idx)
    try:
        labels = train_labels(card, ctx.data_root)
    except CondenseBenchError as exc:
        rep.data_missing(rel, "", f"class balance not checked: {exc}")
        _check_count(ctx, len(idx), rel)
        return
    if len(labels) != card.train_size:
        rep.warning(rel, "", f"the local train split has {len(labels)} images, the card says {card.train_size}")
    valid = idx[(idx >= 0) & (idx < len(labels))]
    ctx.labels = labels[valid]
    rep.leakage = {"checked": False, "reason": "a coreset selects train images; leakage does not apply"}


def _png_jobs(ctx: _Ctx) -> list[tuple[str, int]]:
    rep, sub, card = ctx.report, ctx.sub, ctx.card
    prefix = sub.data.path.rstrip("/") + "/"
    jobs = []
    for f in sub.files:
        if not f.path.startswith(prefix):
            continue
        parts = f.path[len(prefix):].split("/")
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) >= card.num_classes:
            rep.error(f.path, "", f"images are {sub.data.path}/<class index 0..{card.num_classes - 1}>/<name>.png",
                      kind="png-layout")
            continue
        if not parts[1].lower().endswith(".png"):
            rep.error(f.path, "", "only .png images in a png_folder", kind="png-layout")
            continue
        jobs.append((f.path, int(parts[0])))
    return jobs


def _decode_one(args) -> tuple[np.ndarray | None, str | None, str | None]:
    path, channels, where = args
    from PIL import Image

    try:
        with Image.open(path, formats=["PNG"]) as im:
            mode = im.mode
            frames = getattr(im, "n_frames", 1)
    except Exception:
        mode, frames = None, 1
    try:
        arr = decode_png(path, channels, where)
    except CondenseBenchError as exc:
        return None, str(exc).removeprefix(f"{where}: "), None
    note = None
    if frames > 1:
        note = f"an animated PNG ({frames} frames): only the first is used"
    elif mode and channels == 3 and mode not in ("RGB", "P"):
        note = f"PNG mode {mode} for an RGB dataset: converted to RGB" + (" (alpha dropped)" if "A" in mode else "")
    elif mode and channels == 1 and mode not in ("L", "I;16", "I", "1"):
        note = f"PNG mode {mode} for a grey dataset: converted to grey"
    return arr, None, note


def _check_png_folder(ctx: _Ctx) -> None:
    rep, card = ctx.report, ctx.card
    jobs = [(rel, lab) for rel, lab in _png_jobs(ctx) if _file(ctx, rel) is not None]
    if not jobs:
        rep.error(ctx.sub.data.path, "", "no readable images")
        return
    expected = (card.channels, card.image_size, card.image_size)
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        results = list(pool.map(_decode_one, [(_file(ctx, rel), card.channels, rel) for rel, _ in jobs]))
    images, labels, names = [], [], []
    for (rel, lab), (arr, err, note) in zip(jobs, results):
        if err:
            rep.error(rel, "", err, kind="decode")
            continue
        if note:
            rep.warning(rel, "", note, kind="png-mode")
        if arr.shape != expected:
            rep.error(rel, "", f"is {arr.shape[2]}x{arr.shape[1]} with {arr.shape[0]} channel(s); "
                      f"{card.name} needs {card.image_size}x{card.image_size} with {card.channels}", kind="resolution")
            continue
        images.append(arr)
        labels.append(lab)
        names.append(rel)
    ctx.n = len(jobs)
    rep.n_images = len(jobs)
    if len(images) != len(jobs):
        # labels of every listed image still count toward the balance check
        ctx.labels = np.asarray([lab for _, lab in jobs], dtype=np.int64)
    else:
        ctx.labels = np.asarray(labels, dtype=np.int64)
    if images:
        ctx.images = torch.from_numpy(np.stack(images)).float().div_(255.0)
        ctx.image_names = names


def _check_tensor_file(ctx: _Ctx) -> None:
    rep, sub, card = ctx.report, ctx.sub, ctx.card
    rel = sub.data.path
    path = _file(ctx, rel)
    if path is None:
        return
    suffix = PurePosixPath(rel).suffix
    if (sub.data.format == "safetensors") != (suffix == ".safetensors") or (sub.data.format == "npz") != (suffix == ".npz"):
        rep.error("submission.yaml", "data.format", f"format {sub.data.format!r} but the file is {rel!r}")
        return
    try:
        keys = _tensor_keys(path, rel)
    except CondenseBenchError as exc:
        rep.error(rel, "", str(exc))
        return
    missing = [k for k in ("images", "labels") if k not in keys]
    if missing:
        rep.error(rel, "", f"needs tensors 'images' and 'labels'; missing {missing} (has {sorted(keys)})")
        return
    extra = sorted(set(keys) - {"images", "labels", "soft_labels"})
    if extra:
        rep.warning(rel, "", f"unused tensors {extra} (their bytes count toward storage)")
    shape, dtype, _ = keys["images"]
    expected = (card.channels, card.image_size, card.image_size)
    fld = "images"
    if len(shape) != 4:
        rep.error(rel, fld, f"must be (N, C, H, W), got shape {list(shape)}")
        return
    if tuple(shape[1:]) != expected:
        hint = " (channels last? store N, C, H, W)" if tuple(shape[1:]) == (card.image_size, card.image_size, card.channels) else ""
        rep.error(rel, fld, f"images are {list(shape[1:])}; {card.name} needs {list(expected)}{hint}")
        return
    lshape, ldtype, _ = keys["labels"]
    if len(lshape) != 1 or lshape[0] != shape[0]:
        rep.error(rel, "labels", f"must be ({shape[0]},) to match the images, got {list(lshape)}")
    try:
        arrays = _read_arrays(path, rel, ("images", "labels"))
    except Exception as exc:  # safetensors/numpy errors on malformed data
        rep.error(rel, "", f"cannot read the tensors ({type(exc).__name__}: {exc})")
        return
    images, labels = arrays["images"], arrays["labels"]
    ctx.n = int(images.shape[0])
    rep.n_images = ctx.n
    if not np.issubdtype(labels.dtype, np.integer):
        rep.error(rel, "labels", f"must be integers, not {labels.dtype}")
    elif labels.ndim == 1 and len(labels) == len(images):
        ctx.labels = labels.astype(np.int64)
    unit = _pixel_space(ctx, rel, images)
    if unit is not None:
        ctx.images = unit
        ctx.image_names = [f"{rel}: images[{i}]" for i in range(len(images))]


def _pixel_space(ctx: _Ctx, rel: str, images: np.ndarray) -> torch.Tensor | None:
    """Checks dtype, finiteness and the declared pixel space; unit-space images for the leakage check."""
    rep, space = ctx.report, ctx.sub.data.pixel_space
    fld = "images"
    if images.dtype == np.uint8:
        if space.kind != "uint8":
            rep.error("submission.yaml", "data.pixel_space", f"uint8 images declared as pixel space {space.kind!r}")
            return None
        return torch.from_numpy(images).float().div_(255.0)
    if not np.issubdtype(images.dtype, np.floating):
        rep.error(rel, fld, f"must be uint8 or float, not {images.dtype}")
        return None
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite.reshape(len(x), -1).all(1)).flatten().numpy()
        rep.error(rel, fld, f"NaN or Inf pixels in images {_where_list(bad)}")
        return None
    lo, hi = float(x.min()), float(x.max())
    if space.kind == "uint8":
        if lo < -1e-3 or hi > 1 + 1e-3:
            hint = (" They look like 0..255 values: divide by 255 or store uint8." if hi <= 255.5 and lo >= -0.5 and hi > 2
                    else " If they were normalised, declare pixel_space kind 'normalized' with its mean and std.")
            rep.error("submission.yaml", "data.pixel_space",
                      f"float images in pixel space 'uint8' must lie in [0, 1]; {rel} ranges over [{lo:.3g}, {hi:.3g}].{hint}")
            return None
        return x
    c = x.shape[1]
    if space.kind == "normalized":
        if len(space.mean) != c or len(space.std) != c:
            rep.error("submission.yaml", "data.pixel_space", f"mean and std need {c} values (one per channel)")
            return None
        if any(s <= 0 for s in space.std):
            rep.error("submission.yaml", "data.pixel_space.std", "std values must be positive")
            return None
        if lo >= 0 and hi <= 1:
            rep.warning("submission.yaml", "data.pixel_space",
                        "declared normalised but every value already lies in [0, 1]; were they really normalised?")
        mean = torch.tensor(space.mean).view(1, -1, 1, 1)
        std = torch.tensor(space.std).view(1, -1, 1, 1)
        unit = x * std + mean
        _plausible(ctx, unit, "data.pixel_space", "de-normalised with the declared mean/std")
        return unit
    # ZCA
    zca = _check_zca(ctx, space, x.shape[1:])
    if zca is None:
        return None
    unit = _unwhiten(ctx, x, space, zca)
    if unit is not None:
        _plausible(ctx, unit, "data.pixel_space", "un-whitened with the declared ZCA matrix")
    return unit


def _plausible(ctx: _Ctx, unit: torch.Tensor, fld: str, how: str) -> None:
    inside = ((unit >= -IMAGE_RANGE_SLACK) & (unit <= 1 + IMAGE_RANGE_SLACK)).float().mean().item()
    msg = (f"only {100 * inside:.1f}% of the pixels, {how}, lie in [0, 1] (+-{IMAGE_RANGE_SLACK}); "
           "is the declared pixel space right?")
    if inside < 0.5:
        ctx.report.error("submission.yaml", fld, msg)
    elif inside < 0.9:
        ctx.report.warning("submission.yaml", fld, msg)


def _check_zca(ctx: _Ctx, space: ZCASpace, shape) -> tuple[torch.Tensor, torch.Tensor] | None:
    rep = ctx.report
    rel = space.path
    path = _file(ctx, rel)
    if path is None:
        return None
    if not rel.endswith((".safetensors", ".npz")):
        rep.error(rel, "", "the ZCA file must be .safetensors or .npz")
        return None
    d = int(np.prod(shape))
    try:
        keys = _tensor_keys(path, rel)
        if "mean" not in keys or "matrix" not in keys:
            rep.error(rel, "", f"needs tensors 'mean' ({d},) and 'matrix' ({d}, {d}); has {sorted(keys)}")
            return None
        if int(np.prod(keys["mean"][0])) != d or tuple(keys["matrix"][0]) != (d, d):
            rep.error(rel, "", f"expected mean ({d},) and matrix ({d}, {d}) for images {list(shape)}, got "
                      f"{list(keys['mean'][0])} and {list(keys['matrix'][0])}")
            return None
        arrays = _read_arrays(path, rel, ("mean", "matrix"))
    except Exception as exc:
        rep.error(rel, "", f"cannot read the ZCA parameters ({exc})")
        return None
    mean = torch.from_numpy(np.asarray(arrays["mean"], dtype=np.float32).reshape(-1))
    matrix = torch.from_numpy(np.asarray(arrays["matrix"], dtype=np.float32))
    if not bool(torch.isfinite(mean).all() and torch.isfinite(matrix).all()):
        rep.error(rel, "", "NaN or Inf in the ZCA parameters")
        return None
    asym = float((matrix - matrix.T).abs().max()) / max(float(matrix.abs().max()), 1e-12)
    if asym > 1e-3:
        rep.warning(rel, "matrix", f"not symmetric (relative asymmetry {asym:.2g}); a ZCA matrix is")
    c = shape[0]
    if space.input == "normalized" and (len(space.input_mean) != c or len(space.input_std) != c):
        rep.error("submission.yaml", "data.pixel_space", f"input_mean and input_std need {c} values")
        return None
    return mean, matrix


def _unwhiten(ctx: _Ctx, z: torch.Tensor, space: ZCASpace, zca) -> torch.Tensor | None:
    """Images back in unit space: x = z @ inv(matrix) + mean (then undo the input normalisation)."""
    mean, matrix = zca
    n = len(z)
    try:
        lu, piv = torch.linalg.lu_factor(matrix.double())
        # z = (x - m) @ W  <=>  W^T (x - m)^T = z^T
        x = torch.linalg.lu_solve(lu, piv, z.reshape(n, -1).double().T, adjoint=True).T.float() + mean
    except RuntimeError as exc:
        ctx.report.warning(space.path, "matrix", f"cannot invert the ZCA matrix ({exc}); pixel checks and the leakage check skipped")
        return None
    x = x.reshape(z.shape)
    if space.input == "normalized":
        x = x * torch.tensor(space.input_std).view(1, -1, 1, 1) + torch.tensor(space.input_mean).view(1, -1, 1, 1)
    return x


def _check_count(ctx: _Ctx, n: int, rel: str) -> None:
    want = ctx.sub.ipc * ctx.card.num_classes
    if n != want:
        ctx.report.error(rel, "", f"ipc {ctx.sub.ipc} x {ctx.card.num_classes} classes = {want} images, found {n}")


def _check_balance(ctx: _Ctx, rel: str) -> None:
    rep, card, sub = ctx.report, ctx.card, ctx.sub
    labels = ctx.labels
    _check_count(ctx, ctx.n if ctx.n is not None else len(labels), rel)
    bad = np.flatnonzero((labels < 0) | (labels >= card.num_classes))
    if len(bad):
        rep.error(rel, "labels", f"labels must lie in 0..{card.num_classes - 1}; out of range at {_where_list(bad)}")
        labels = labels[(labels >= 0) & (labels < card.num_classes)]
    counts = np.bincount(labels, minlength=card.num_classes)[: card.num_classes]
    off = [(c, int(k)) for c, k in enumerate(counts) if k != sub.ipc]
    if off:
        rep.error(rel, "labels", f"not class-balanced: (class, count) {off[:6]}{' ...' if len(off) > 6 else ''}; "
                  f"expected {sub.ipc} per class for {card.num_classes} classes")


def _check_soft_labels(ctx: _Ctx) -> None:
    rep, sub, card = ctx.report, ctx.sub, ctx.card
    rel = sub.soft_labels.path
    path = _file(ctx, rel)
    if path is None:
        return
    try:
        keys = _tensor_keys(path, rel)
    except CondenseBenchError as exc:
        rep.error(rel, "", str(exc))
        return
    if "soft_labels" not in keys:
        rep.error(rel, "soft_labels", f"needs a tensor 'soft_labels' (has {sorted(keys)})")
        return
    shape, _, nbytes = keys["soft_labels"]
    ctx.soft_bytes = nbytes
    want = (ctx.n, card.num_classes)
    if tuple(shape) != want:
        rep.error(rel, "soft_labels", f"must be (N, classes) = {list(want)}, got {list(shape)}")
        return
    soft = _read_arrays(path, rel, ("soft_labels",))["soft_labels"]
    if not np.issubdtype(soft.dtype, np.floating):
        rep.error(rel, "soft_labels", f"must be floats, not {soft.dtype}")
        return
    t = torch.from_numpy(np.asarray(soft, dtype=np.float32))
    finite = torch.isfinite(t).all(1)
    if not bool(finite.all()):
        rep.error(rel, "soft_labels", f"NaN or Inf in rows {_where_list(torch.nonzero(~finite).flatten().numpy())}")
        return
    if sub.soft_labels.kind == "probabilities":
        if bool((t < 0).any()):
            rep.error(rel, "soft_labels", "kind 'probabilities' but some values are negative (logits? declare kind 'logits')")
        else:
            sums = t.sum(1)
            bad = torch.nonzero((sums - 1).abs() > 1e-3).flatten().numpy()
            if len(bad):
                rep.error(rel, "soft_labels", f"kind 'probabilities' but rows {_where_list(bad)} do not sum to 1")


def _storage(ctx: _Ctx) -> None:
    """Bytes of images plus soft labels as stored, as the loader counts them."""
    sub, rep = ctx.sub, ctx.report
    sizes = {f.path: f.size for f in sub.files}
    if sub.data.format == "png_folder":
        prefix = sub.data.path.rstrip("/") + "/"
        data_bytes = sum(s for p, s in sizes.items() if p.startswith(prefix))
    else:
        data_bytes = sizes.get(sub.data.path, 0)
    soft = 0
    if sub.soft_labels is not None:
        if sub.soft_labels.path == sub.data.path:
            soft = ctx.soft_bytes
            data_bytes -= soft
        else:
            soft = sizes.get(sub.soft_labels.path, 0)
    key = "indices" if sub.data.format == "indices" else "images"
    rep.storage = {key: data_bytes, "soft_labels": soft}
    if isinstance(getattr(sub.data, "pixel_space", None), ZCASpace):
        rep.storage["zca_not_counted"] = sizes.get(sub.data.pixel_space.path, 0)
    rep.storage_bytes = data_bytes + soft


def _check_leakage(ctx: _Ctx) -> None:
    from .leakage import THRESHOLD, find_near_duplicates

    rep, card = ctx.report, ctx.card
    if ctx.sub.data.format == "indices":
        return
    if ctx.images is None or len(ctx.images) == 0:
        rep.leakage = {"checked": False, "reason": "the images could not be read"}
        return
    started = time.perf_counter()
    try:
        test_images, _, how = test_split_readonly(card, ctx.data_root)
    except CondenseBenchError as exc:
        rep.leakage = {"checked": False, "reason": str(exc)}
        rep.data_missing("", "leakage", f"test-split leakage not checked: {exc}")
        return
    matches = find_near_duplicates(ctx.images, test_images)
    names = ctx.image_names
    for m in matches:
        name = names[m.index]
        file, _, fld = name.partition(": ")
        rep.error(file, fld, f"near-duplicate of test image {m.test_index} of {card.name} (distance {m.distance:.3f} "
                  f"<= {THRESHOLD}{', mirrored' if m.flipped else ''}): test images must not be submitted",
                  kind="leakage")
    rep.leakage = {
        "checked": True, "test_images": int(len(test_images)), "test_split": how, "threshold": THRESHOLD,
        "matches": [{"image": names[m.index], "test_index": m.test_index, "distance": round(m.distance, 4),
                     "flipped": m.flipped} for m in matches],
        "seconds": time.perf_counter() - started,
    }


def _check_duplicates(directory: Path, sub: Submission, report: Report, root: Path | None) -> None:
    from ..paths import submissions_dir

    root = Path(root) if root else submissions_dir()
    if not root.is_dir():
        return
    mine = directory.resolve()
    my_hash = report.content_hash
    my_files = {f.sha256: f.path for f in sub.files}
    hex64 = re.compile(rb"\b[0-9a-f]{64}\b")
    for other in sorted(root.glob("*/*/submission.yaml")):
        folder = other.parent
        if folder.resolve() == mine or other.is_symlink():
            continue
        try:
            # cheap pre-filter: only entries that list one of our files' sha256 can be copies
            if other.stat().st_size > SUBMISSION_YAML_MAX_BYTES:
                continue
            if not my_files.keys() & {h.decode() for h in hex64.findall(other.read_bytes())}:
                continue
            theirs = Submission.model_validate(read_yaml(other, max_bytes=SUBMISSION_YAML_MAX_BYTES,
                                                         max_nodes=SUBMISSION_YAML_MAX_NODES))
        except (CondenseBenchError, ValidationError, OSError):
            continue
        rel = f"{folder.parent.name}/{folder.name}"
        if content_hash(theirs) == my_hash:
            report.error("submission.yaml", "", f"an exact copy of the existing submission {rel} (same content hash "
                         f"{my_hash[:12]}...)")
            report.duplicates_of.append(rel)
            continue
        shared = sorted(my_files[f.sha256] for f in theirs.files if f.sha256 in my_files)
        if shared:
            report.warning(shared[0], "", f"byte-identical to a file of the existing submission {rel} "
                           f"({len(shared)} shared file(s))")
            report.duplicates_of.append(rel)
