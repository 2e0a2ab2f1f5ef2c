"""Shared fixtures: an isolated cache, small protocol variants, the shared data."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Tests never write to the user's cache."""
    old = os.environ.get("CONDENSEBENCH_CACHE")
    os.environ["CONDENSEBENCH_CACHE"] = str(tmp_path_factory.mktemp("cb-cache"))
    # CLI runs in tests track into a throw-away store, never the checkout's mlflow.db
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"
    yield
    if old is None:
        os.environ.pop("CONDENSEBENCH_CACHE", None)
    else:
        os.environ["CONDENSEBENCH_CACHE"] = old


def shared_path() -> Path:
    return Path(os.environ.get("CONDENSEBENCH_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    if not (path / "data").is_dir():
        pytest.skip(f"shared material not found at {path} (set CONDENSEBENCH_SHARED); a fresh clone has none")
    return path


def write_protocol(tmp_path: Path, base: str, **overrides) -> Path:
    """A variant of a shipped protocol (e.g. fewer epochs) as a YAML file."""
    data = yaml.safe_load((REPO / "protocols" / base / "v1.yaml").read_text())
    data.update(overrides)
    path = tmp_path / f"{data['name']}-variant.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def short_protocol(tmp_path):
    """digits-hard with 30 epochs: learns digits in about a second."""
    return write_protocol(
        tmp_path, "digits-hard", epochs=30,
        schedule={"kind": "multistep", "milestones": [17], "gamma": 0.1, "reset_optimizer": True},
    )


@pytest.fixture
def digits_random() -> Path:
    return REPO / "submissions" / "digits" / "random-ipc10"


@pytest.fixture(scope="session")
def cifar10_jpeg_root(shared_dir, tmp_path_factory) -> Path:
    """A data root holding cifar10-jpeg, unpacked once per session from ../shared
    (or an existing unpacked copy named by CONDENSEBENCH_TEST_DATA)."""
    from condensebench.datasets import load_card
    from condensebench.datasets.prepare import prepare_from_archive

    existing = os.environ.get("CONDENSEBENCH_TEST_DATA")
    if existing and (Path(existing) / "cifar10-jpeg" / "test").is_dir():
        return Path(existing)
    root = tmp_path_factory.mktemp("data")
    prepare_from_archive(load_card("cifar10-jpeg"), shared_dir / "data" / "cifar10-jpeg.tar.gz", root, quiet=True)
    return root
