"""Fabricated evaluation results and tracking stores for the tracking, leaderboard and
browser tests and the leaderboard benchmark (no training involved)."""
from __future__ import annotations

import hashlib
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time as _time
import urllib.request
from pathlib import Path

import pytest

from condensebench.protocol import load_protocol, protocol_hash
from condensebench.result import EvaluationResult, mean_std

ENVIRONMENT = {
    "condensebench": "0.1.0", "git_commit": "0123456789abcdef0123456789abcdef01234567", "python": "3.11.2",
    "torch": "2.14.1", "torchvision": "0.29.1", "cuda": None, "device": "cpu", "device_name": "Test CPU",
    "platform": "Linux-test", "backend": "local",
}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def curves(seed: int, epochs: int, final_acc: float) -> dict[str, list[float]]:
    return {
        "loss": [2.3 * math.exp(-4 * (e + 1) / epochs) + 0.05 + 0.01 * seed for e in range(epochs)],
        "train_acc": [min(100.0, final_acc * (1 - math.exp(-5 * (e + 1) / epochs)) + seed) for e in range(epochs)],
        "lr": [0.01 if e < epochs // 2 else 0.001 for e in range(epochs)],
    }


def fake_result(sub_id: str, accs: list[float], *, method: str = "test", kind: str = "distilled", ipc: int = 10,
                protocol: str = "digits-hard", dataset: str = "digits", cost: dict | None = None,
                paper: dict | None = None, epochs: int = 20, storage: int = 4096, seeds: list[int] | None = None,
                content: str | None = None, top5: bool = False) -> EvaluationResult:
    proto = load_protocol(protocol)
    seeds = list(range(len(accs))) if seeds is None else seeds
    per_seed = [{"seed": s, "top1": a, "top5": (min(100.0, a + 8) if top5 else None), "train_seconds": 1.5 + s,
                 "eval_seconds": 0.2, "images_per_second": 5000.0, "peak_memory_mb": 300.0,
                 "curves": curves(s, epochs, a)} for s, a in zip(seeds, accs)]
    m, sd = mean_std(accs)
    return EvaluationResult.model_validate({
        "created": "2026-11-20T12:00:00+00:00",
        "submission": {
            "id": sub_id, "kind": kind, "method": method, "dataset": dataset, "ipc": ipc,
            "content_hash": digest(content or f"{sub_id}/{dataset}/{ipc}"), "path": f"submissions/{dataset}/{sub_id}",
            "storage_bytes": storage, "label_regimes": ["hard", "kd"],
            "construction_cost": cost if cost is not None else {"reported_by": "self", "gpu_hours": 1.0},
            "paper": paper,
        },
        "protocol": {"name": proto.name, "version": proto.version, "hash": protocol_hash(proto),
                     "label_regime": proto.label_regime, "epochs": proto.epochs,
                     "resolved": proto.model_dump(mode="json")},
        "dataset": {"name": dataset, "test_fingerprint": "f" * 16, "test_size": 360},
        "seeds": seeds, "per_seed": per_seed, "top1_mean": m, "top1_std": sd,
        "top5_mean": None, "top5_std": None, "wall_clock_seconds": 10.0, "environment": ENVIRONMENT,
    })


def copy_store(template_db: Path, directory: Path, name: str = "mlflow.db") -> str:
    """A fresh tracking store: a copy of an already migrated empty SQLite database
    (creating one runs MLflow's schema migrations, several seconds)."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(template_db, directory / name)
    return f"sqlite:///{(directory / name).resolve().as_posix()}"


def make_template_db(path: Path) -> Path:
    from mlflow import MlflowClient

    path.parent.mkdir(parents=True, exist_ok=True)
    MlflowClient(tracking_uri=f"sqlite:///{path.resolve().as_posix()}").search_experiments()
    return path


def demo_results() -> list[EvaluationResult]:
    """A small but varied board: kinds, IPCs, a missing random baseline, an escaping trap."""
    out = []
    for ipc, base in ((1, 40.0), (10, 80.0), (50, 92.0)):
        out.append(fake_result(f"random-ipc{ipc}", [base, base + 1.2, base - 0.8], method="random", kind="baseline",
                               ipc=ipc, cost={"reported_by": "measured", "wall_clock_hours": 0.0, "device": "cpu"}))
        out.append(fake_result(f"herding-ipc{ipc}", [base + 3, base + 3.5, base + 2.2], method="herding", kind="coreset",
                               ipc=ipc, cost={"reported_by": "measured", "wall_clock_hours": 0.01, "device": "cpu"}))
        out.append(fake_result(f"dm-ipc{ipc}", [base + 6, base + 5.1, base + 6.6], method="DM", kind="distilled", ipc=ipc,
                               cost={"reported_by": "self", "gpu_hours": 0.5 * ipc, "gpu_model": "A100"},
                               paper={"title": "Dataset Condensation with Distribution Matching", "venue": "WACV",
                                      "year": 2023, "url": "https://arxiv.org/abs/2110.04181"}))
        out.append(fake_result(f"kcenter-ipc{ipc}", [base - 2, base - 1.0, base - 2.6], method="k-center",
                               kind="coreset", ipc=ipc,
                               cost={"reported_by": "measured", "wall_clock_hours": 0.002, "device": "cpu"}))
    out.append(fake_result("xss-ipc10", [85.0, 84.0, 86.5], method="<script>alert(1)</script>", kind="distilled",
                           ipc=10, paper={"title": "<b>bold</b> claims", "url": "javascript:alert(1)"}))
    out.append(fake_result("mtt-ipc5", [70.0, 71.0, 69.5], method="MTT", kind="distilled", ipc=5))
    return out


# ------------------------------------------------------------------ fixtures
# Imported by the test modules that use them (`from tests.tracking_fixtures import ...`).


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    """An empty, migrated MLflow SQLite database, made once per session (shared by modules)."""
    path = tmp_path_factory.getbasetemp() / "mlflow-template" / "mlflow.db"
    if not path.is_file():
        make_template_db(path)
    return path


@pytest.fixture
def store_uri(template_db, tmp_path, monkeypatch) -> str:
    """A fresh embedded store for one test, also exported as MLFLOW_TRACKING_URI."""
    uri = copy_store(template_db, tmp_path / "store")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(template_db, tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1 (free port): SQLite backend and a local artifact
    root in a temporary folder, artifacts proxied by the server. Yields its URI."""
    root = tmp_path_factory.mktemp("mlflow-server")
    shutil.copy(template_db, root / "mlflow.db")
    port = free_port()
    log = open(root / "server.log", "w")
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
           "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=root, env=env, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    deadline = _time.monotonic() + 180
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {proc.returncode}:\n{(root / 'server.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if _time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server not up after 180 s:\n{(root / 'server.log').read_text()[-3000:]}")
            _time.sleep(0.5)
        yield uri
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()
