"""Loading protocols from `protocols/<name>/v<N>.yaml` and hashing their canonical form.

A protocol file is never edited once released: a change is a new `v<N+1>.yaml`.
`protocols/LOCK.json` records each released version's hash and a test fails
when a file no longer matches it.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from ..errors import CondenseBenchError, SchemaError
from ..paths import protocols_dir
from ..yamlio import load_model
from .schema import Protocol

_VERSION_FILE = re.compile(r"^v(\d+)\.yaml$")


def canonical_json(protocol: Protocol) -> str:
    """Every field, defaults resolved, keys sorted: the form that is hashed."""
    return json.dumps(protocol.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def protocol_hash(protocol: Protocol) -> str:
    return hashlib.sha256(canonical_json(protocol).encode()).hexdigest()


def load_protocol_file(path: str | Path) -> Protocol:
    path = Path(path)
    protocol = load_model(Protocol, path)
    match = _VERSION_FILE.match(path.name)
    if match and path.parent.name != protocol.name:
        raise SchemaError(path, [f"name: {protocol.name!r} does not match its folder {path.parent.name!r}"])
    if match and int(match.group(1)) != protocol.version:
        raise SchemaError(path, [f"version: {protocol.version} does not match the file name {path.name!r}"])
    return protocol


def _versions(folder: Path) -> dict[int, Path]:
    found = {}
    for f in folder.glob("v*.yaml"):
        m = _VERSION_FILE.match(f.name)
        if m:
            found[int(m.group(1))] = f
    return found


def list_protocols(root: Path | None = None) -> dict[str, dict[int, Path]]:
    """name -> {version: path}, for every protocol folder."""
    root = root or protocols_dir()
    if not root.is_dir():
        raise CondenseBenchError(
            f"no protocols folder at {root}: run condensebench from a checkout, or set CONDENSEBENCH_HOME to one"
        )
    out = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        versions = _versions(folder)
        if versions:
            out[folder.name] = versions
    return out


def resolve_protocol_path(ref: str, root: Path | None = None) -> Path:
    """`NAME` (latest version), `NAME@N`, or a path to a YAML file."""
    candidate = Path(ref)
    if ref.endswith((".yaml", ".yml")) or candidate.is_file():
        if not candidate.is_file():
            raise CondenseBenchError(f"protocol file {ref} not found")
        return candidate
    name, _, version = ref.partition("@")
    known = list_protocols(root)
    if name not in known:
        import difflib

        close = difflib.get_close_matches(name, list(known), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise CondenseBenchError(
            f"unknown protocol {name!r}.{hint} Available: {', '.join(known)} "
            "(see `condensebench protocols list`)"
        )
    versions = known[name]
    if version:
        if not version.isdigit() or int(version) not in versions:
            raise CondenseBenchError(
                f"protocol {name} has no version {version!r}; versions: {', '.join(map(str, sorted(versions)))}"
            )
        return versions[int(version)]
    return versions[max(versions)]


def load_protocol(ref: str, root: Path | None = None) -> Protocol:
    return load_protocol_file(resolve_protocol_path(ref, root))


def lock_path(root: Path | None = None) -> Path:
    return (root or protocols_dir()) / "LOCK.json"


def compute_lock(root: Path | None = None) -> dict[str, str]:
    """`name@version` -> hash for every protocol file."""
    lock = {}
    for name, versions in list_protocols(root).items():
        for version, path in sorted(versions.items()):
            lock[f"{name}@{version}"] = protocol_hash(load_protocol_file(path))
    return lock
