"""Writing a canonical submission: data files plus a submission.yaml listing their hashes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from .loader import sha256_file
from .schema import Submission


def file_entries(directory: Path, paths: list[Path]) -> list[dict]:
    entries = []
    for p in sorted(paths):
        entries.append({"path": p.relative_to(directory).as_posix(), "sha256": sha256_file(p), "size": p.stat().st_size})
    return entries


def data_files(directory: Path) -> list[Path]:
    return [p for p in sorted(directory.rglob("*")) if p.is_file() and p.name != "submission.yaml"]


def write_indices(directory: Path, indices: np.ndarray, name: str = "indices.txt") -> Path:
    path = directory / name
    path.write_text("".join(f"{int(i)}\n" for i in indices))
    return path


def write_submission_yaml(directory: Path, metadata: dict) -> Submission:
    """Validates `metadata` (without `files`), lists every data file with its hash, writes the YAML."""
    directory = Path(directory)
    meta = dict(metadata)
    meta["files"] = file_entries(directory, data_files(directory))
    sub = Submission.model_validate(meta)
    text = yaml.safe_dump(sub.model_dump(mode="json", exclude_none=True), sort_keys=False, width=100)
    (directory / "submission.yaml").write_text(text)
    return sub
