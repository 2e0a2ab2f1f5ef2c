"""Reading PyTorch files (`torch.save`) without running code from them.

A `.pt` file is a zip archive holding a pickle (`data.pkl`) plus raw tensor
storages. Unpickling runs whatever callables the pickle names, so a published
`.pt` file is untrusted code until proven otherwise. Two independent guards:

1. Before anything is unpickled, the archive is inspected with `zipfile` and
   the pickle's opcodes are read with `pickletools.genops` (a parser that
   executes nothing): every global it names must be on a minimal allow-list
   (tensor rebuilding, typed storages, OrderedDict) and only plain data
   opcodes may appear (no BUILD, INST, OBJ, NEWOBJ, extension codes, ...).
2. Only then is it loaded with `torch.load(weights_only=True)`, PyTorch's own
   restricted unpickler, as a second layer.

Anything else (legacy non-zip files, TorchScript archives, numpy arrays or
custom classes inside the pickle, compressed members) is refused with a
message saying how to convert the file in a trusted environment.
"""
from __future__ import annotations

import pickletools
import zipfile
from pathlib import Path

from ..errors import CondenseBenchError

# The globals a plain `torch.save(tensor | dict | list of tensors)` writes.
_STORAGES = ("Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool")
ALLOWED_GLOBALS = frozenset(
    {
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_parameter"),
        ("collections", "OrderedDict"),
    }
    | {("torch", f"{s}Storage") for s in _STORAGES}
)

# Opcodes that build plain data (numbers, strings, containers, memo, persistent ids
# for storages), plus GLOBAL/STACK_GLOBAL/REDUCE whose callables are checked above.
ALLOWED_OPCODES = frozenset(
    """PROTO FRAME STOP MARK POP POP_MARK DUP
    INT BININT BININT1 BININT2 LONG LONG1 LONG4 NONE NEWTRUE NEWFALSE FLOAT BINFLOAT
    STRING BINSTRING SHORT_BINSTRING UNICODE BINUNICODE SHORT_BINUNICODE BINUNICODE8
    BINBYTES SHORT_BINBYTES BINBYTES8
    EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3 EMPTY_LIST APPEND APPENDS LIST
    EMPTY_DICT DICT SETITEM SETITEMS
    PUT BINPUT LONG_BINPUT MEMOIZE GET BINGET LONG_BINGET
    GLOBAL STACK_GLOBAL REDUCE BINPERSID""".split()
)
_STRING_OPS = {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}

MAX_PICKLE_BYTES = 16 * 1024 * 1024  # the pickle of a few tensors is a few KiB
MAX_MEMBERS = 100_000
DEFAULT_MAX_BYTES = 64 * 1024**3  # total storage bytes

HOW_TO_CONVERT = (
    "convert it in a trusted environment, e.g. `np.savez('set.npz', images=t.numpy(), labels=l.numpy())`, "
    "then use `condensebench import npz`"
)


def scan_pickle(data: bytes, where: str) -> set[tuple[str, str]]:
    """The globals a pickle names, refusing any opcode or global off the allow-lists.

    Nothing is executed: pickletools only parses the opcode stream."""
    if len(data) > MAX_PICKLE_BYTES:
        raise CondenseBenchError(f"{where}: the pickle is {len(data)} bytes; refused (limit {MAX_PICKLE_BYTES})")
    found: set[tuple[str, str]] = set()
    strings: list[object] = []  # recent pushes, enough to resolve STACK_GLOBAL
    memo: dict[int, object] = {}
    next_memo = 0
    try:
        for op, arg, _pos in pickletools.genops(data):
            name = op.name
            if name not in ALLOWED_OPCODES:
                raise CondenseBenchError(
                    f"{where}: pickle opcode {name} is not allowed (it can run code or build arbitrary objects); "
                    f"refused without loading. {HOW_TO_CONVERT}"
                )
            if name in _STRING_OPS:
                strings.append(arg if isinstance(arg, str) else None)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg)] = strings[-1] if strings else None
            elif name == "MEMOIZE":
                memo[next_memo] = strings[-1] if strings else None
                next_memo += 1
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                strings.append(memo.get(int(arg)))
            elif name == "GLOBAL":
                module, _, attr = str(arg).partition(" ")
                found.add((module, attr))
                strings.append(None)
            elif name == "STACK_GLOBAL":
                if len(strings) < 2 or not isinstance(strings[-1], str) or not isinstance(strings[-2], str):
                    raise CondenseBenchError(f"{where}: a STACK_GLOBAL whose name cannot be read statically; refused")
                found.add((strings[-2], strings[-1]))
                strings.append(None)
            else:
                strings.append(None)
            if len(strings) > 64:
                del strings[:-8]
    except CondenseBenchError:
        raise
    except Exception as exc:  # pickletools raises ValueError and friends on malformed streams
        raise CondenseBenchError(f"{where}: not a readable pickle stream ({exc}); refused") from None
    bad = sorted(g for g in found if g not in ALLOWED_GLOBALS)
    if bad:
        names = ", ".join(f"{m}.{n}" for m, n in bad[:5])
        raise CondenseBenchError(
            f"{where}: the pickle names {names}, which is not on the allow-list of plain tensors "
            f"(loading it could run code); refused without loading. {HOW_TO_CONVERT}"
        )
    return found


def inspect_archive(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Checks a torch.save zip archive without unpickling; returns the pickle member's name."""
    path = Path(path)
    where = str(path)
    if path.is_symlink() or not path.is_file():
        raise CondenseBenchError(f"{where}: not a regular file")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(2)
        kind = "a raw pickle or a legacy (PyTorch < 1.6) torch.save file" if head[:1] == b"\x80" else "not a torch.save zip archive"
        raise CondenseBenchError(f"{where}: {kind}; refused without loading. {HOW_TO_CONVERT}")
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if len(infos) > MAX_MEMBERS:
                raise CondenseBenchError(f"{where}: {len(infos)} archive members; refused")
            names = [i.filename for i in infos]
            pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(pkl) != 1:
                extra = " (a TorchScript archive?)" if any(n.endswith("constants.pkl") for n in names) else ""
                raise CondenseBenchError(f"{where}: expected one data.pkl in the archive{extra}; refused. {HOW_TO_CONVERT}")
            if any(n.endswith(".pkl") and n != pkl[0] for n in names) or any("/code/" in n for n in names):
                raise CondenseBenchError(f"{where}: the archive holds code or more pickles (TorchScript?); refused. {HOW_TO_CONVERT}")
            total = 0
            for i in infos:
                if i.compress_type != zipfile.ZIP_STORED:
                    raise CondenseBenchError(f"{where}: member {i.filename!r} is compressed; torch.save never compresses; refused")
                if i.filename.startswith("/") or ".." in i.filename.split("/"):
                    raise CondenseBenchError(f"{where}: unsafe member name {i.filename!r}; refused")
                total += i.file_size
            if total > max_bytes:
                raise CondenseBenchError(f"{where}: {total} bytes of tensors is over the limit of {max_bytes}")
            scan_pickle(z.read(pkl[0]), f"{where}:{pkl[0]}")
            return pkl[0]
    except zipfile.BadZipFile as exc:
        raise CondenseBenchError(f"{where}: a broken zip archive ({exc}); refused") from None


def load_torch_file(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES):
    """The object saved in a `.pt` file, after `inspect_archive`, via torch.load(weights_only=True)."""
    import torch

    path = Path(path)
    inspect_archive(path, max_bytes)
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=False)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ...
        raise CondenseBenchError(f"{path}: torch.load(weights_only=True) refused the file ({exc})") from None


def tensors_in(obj, where: str) -> dict[str, "object"]:
    """Flatten what a .pt file held into named tensors: a tensor -> {'': t}; a dict -> its
    tensor values by key; a list/tuple -> {'0': ..., '1': ...}; nested containers give
    dotted names ('data.0.1'), up to a few levels. Other values (floats, strings) are ignored."""
    import torch

    out: dict[str, object] = {}

    def walk(value, key: str, depth: int) -> None:
        if isinstance(value, torch.Tensor):
            out[key] = value.detach()
        elif depth < 5 and isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{key}.{k}" if key else str(k), depth + 1)
        elif depth < 5 and isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{key}.{i}" if key else str(i), depth + 1)

    walk(obj, "", 0)
    if not out:
        raise CondenseBenchError(f"{where}: holds no tensors (a {type(obj).__name__})")
    return out
