"""Where the project's files, the datasets and the caches live.

Machine settings (data root, cache) come from flags or environment variables,
never from protocols (style guide, recommendation 7).
"""
from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The checkout holding protocols/, datasets/ and submissions/.

    CONDENSEBENCH_HOME wins (the container sets it); otherwise the checkout this
    package was installed from; otherwise the working directory.
    """
    env = os.environ.get("CONDENSEBENCH_HOME")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[2]
    if (here / "protocols").is_dir():
        return here
    return Path.cwd().resolve()


def protocols_dir() -> Path:
    return project_root() / "protocols"


def datasets_dir() -> Path:
    return project_root() / "datasets"


def submissions_dir() -> Path:
    return project_root() / "submissions"


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """The local root that holds real datasets (--data-root, then CONDENSEBENCH_DATA)."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("CONDENSEBENCH_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return (Path.home() / ".cache" / "condensebench" / "data").resolve()


def cache_dir() -> Path:
    """Decoded test splits and other derived, re-creatable files."""
    env = os.environ.get("CONDENSEBENCH_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "condensebench" / "cache"
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()
