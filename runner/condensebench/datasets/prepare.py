"""Unpacking a dataset archive into the data root, refusing unsafe members."""
from __future__ import annotations

import tarfile
from pathlib import Path

from tqdm import tqdm

from ..errors import CondenseBenchError
from .card import DatasetCard


def prepare_from_archive(card: DatasetCard, archive: Path, root: Path, *, quiet: bool = False) -> Path:
    """Extract `archive` (tar, tar.gz) to <root>/<card.source.dir>.

    Members are checked before anything is written: no absolute or `..` paths,
    no links or device files (tarfile's 'data' filter enforces the same).
    """
    if card.source.kind != "image_folder":
        raise CondenseBenchError(f"dataset {card.name} is not read from an image folder; nothing to prepare")
    archive = Path(archive)
    if not archive.is_file():
        raise CondenseBenchError(f"archive {archive} not found")
    target = root / card.source.dir
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for m in members:
                p = Path(m.name)
                if p.is_absolute() or ".." in p.parts:
                    raise CondenseBenchError(f"{archive}: unsafe member path {m.name!r}; nothing extracted")
                if not (m.isfile() or m.isdir()):
                    raise CondenseBenchError(f"{archive}: member {m.name!r} is a link or device file; nothing extracted")
            target.mkdir(parents=True, exist_ok=True)
            for m in tqdm(members, desc=f"unpacking {archive.name}", unit="file", disable=quiet):
                tar.extract(m, target, filter="data")
    except tarfile.TarError as exc:
        raise CondenseBenchError(f"{archive}: not a readable tar archive ({exc})") from None
    return target
