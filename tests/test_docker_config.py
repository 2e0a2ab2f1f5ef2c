"""The Docker backend's container configuration, the lock file and the Dockerfile, checked
without a Docker engine (the engine tests are in test_docker_engine.py)."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from condensebench.backends import docker_backend as db
from condensebench.errors import CondenseBenchError

ROOT = Path(__file__).resolve().parents[1]


def load_lock_module():
    spec = importlib.util.spec_from_file_location("condensebench_docker_lock", ROOT / "docker" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def config(tmp_path, **kw):
    sub = tmp_path / "sub"
    out = tmp_path / "out"
    sub.mkdir(exist_ok=True)
    out.mkdir(exist_ok=True)
    mounts = [db.BindMount(sub, db.SUBMISSION_MOUNT), db.BindMount(out, db.OUT_MOUNT, read_only=False)]
    limits = kw.pop("limits", db.Limits(memory="2g", cpus=1.5, pids_limit=256, timeout_s=60))
    return db.container_config(image="condensebench:test", command=["evaluate"], mounts=mounts, limits=limits, **kw)


def test_isolation_settings(tmp_path):
    cfg = config(tmp_path)
    assert cfg["network_mode"] == "none"
    assert cfg["read_only"] is True
    assert cfg["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in cfg["security_opt"]
    assert cfg["mem_limit"] == 2 * 2**30 == cfg["memswap_limit"]
    assert cfg["nano_cpus"] == 1_500_000_000
    assert cfg["pids_limit"] == 256
    assert set(cfg["tmpfs"]) == {"/tmp"}
    assert cfg["init"] is True
    assert "device_requests" not in cfg
    assert "privileged" not in cfg and "cap_add" not in cfg
    uid = cfg["user"].split(":")[0]
    assert uid != "0" and uid != "root"
    # The cache and HOME live on the tmpfs; thread pools follow the CPU quota.
    env = cfg["environment"]
    assert env["CONDENSEBENCH_CACHE"].startswith("/tmp/") and env["HOME"] == "/tmp"
    assert env["OMP_NUM_THREADS"] == "2"


def test_mounts_read_only_except_the_output(tmp_path):
    cfg = config(tmp_path)
    by_target = {m["Target"]: m for m in cfg["mounts"]}
    assert by_target[db.SUBMISSION_MOUNT]["ReadOnly"] is True
    assert by_target[db.OUT_MOUNT]["ReadOnly"] is False
    assert all(m["Type"] == "bind" for m in cfg["mounts"])
    assert by_target[db.SUBMISSION_MOUNT]["Source"] == str((tmp_path / "sub").resolve())


def test_only_one_writable_mount_at_out(tmp_path):
    (tmp_path / "x").mkdir()
    limits = db.Limits(memory="1g", cpus=1, pids_limit=64, timeout_s=5)
    with pytest.raises(ValueError):
        db.container_config(image="i", command=[], limits=limits,
                            mounts=[db.BindMount(tmp_path / "x", "/submission", read_only=False)])
    with pytest.raises(ValueError):
        db.container_config(image="i", command=[], limits=limits, mounts=[])


def test_gpu_request(tmp_path):
    cfg = config(tmp_path, gpus=True)
    (req,) = cfg["device_requests"]
    assert req["Count"] == -1 and req["Capabilities"] == [["gpu"]]


def test_entrypoint_override_keeps_isolation(tmp_path):
    plain = config(tmp_path)
    other = config(tmp_path, entrypoint=["python", "-c"])
    assert other["entrypoint"] == ["python", "-c"]
    for key in ("network_mode", "read_only", "cap_drop", "security_opt", "mem_limit", "pids_limit", "tmpfs"):
        assert other[key] == plain[key]


def test_root_host_user_maps_to_image_user(monkeypatch):
    monkeypatch.setattr(db.os, "getuid", lambda: 0)
    assert db.container_user() == f"{db.IMAGE_UID}:{db.IMAGE_UID}"
    monkeypatch.setattr(db.os, "getuid", lambda: 1234)
    monkeypatch.setattr(db.os, "getgid", lambda: 99)
    assert db.container_user() == "1234:99"


@pytest.mark.parametrize("text,expected", [
    ("512m", 512 * 2**20), ("8g", 8 * 2**30), ("1.5g", int(1.5 * 2**30)), ("8GiB", 8 * 2**30),
    ("64MB", 64 * 2**20), (1000000, 1000000), ("123", 123),
])
def test_parse_memory(text, expected):
    assert db.parse_memory(text) == expected


def test_bad_limits_are_user_errors():
    for bad in ("lots", "-1g"):
        with pytest.raises(CondenseBenchError):
            db.parse_memory(bad)
    with pytest.raises(CondenseBenchError):
        db.Limits(memory="1m")
    with pytest.raises(CondenseBenchError):
        db.Limits(cpus=0)
    with pytest.raises(CondenseBenchError):
        db.Limits(timeout_s=0)


def test_evaluate_command():
    cmd = db.evaluate_command(protocol_ref="digits-hard", seeds=1, device="cpu", with_data=True,
                              extra_args=["--skip-incompatible"])
    assert cmd[:2] == ["evaluate", db.SUBMISSION_MOUNT]
    assert cmd[cmd.index("--protocol") + 1] == "digits-hard"
    assert cmd[cmd.index("--out") + 1] == db.OUT_MOUNT
    assert cmd[cmd.index("--data-root") + 1] == db.DATA_MOUNT
    assert cmd[cmd.index("--seeds") + 1] == "1"
    assert "--quiet" in cmd and "--no-track" in cmd and cmd[-1] == "--skip-incompatible"
    assert "--data-root" not in db.evaluate_command(protocol_ref="p", seeds=None, device="cpu", with_data=False)


def outcome(**kw):
    base = dict(exit_code=0, timed_out=False, oom_killed=False, seconds=1.0, stdout="", stderr="", container="c")
    base.update(kw)
    return db.ContainerOutcome(**base)


def test_explain_outcomes():
    limits = db.Limits(memory="256m", cpus=1, pids_limit=64, timeout_s=7)
    assert db.explain(outcome(), limits) is None
    err = db.explain(outcome(exit_code=137, timed_out=True), limits)
    assert isinstance(err, db.ContainerTimeout) and "7 s" in str(err) and err.reason == "timed_out"
    err = db.explain(outcome(exit_code=137, oom_killed=True), limits)
    assert isinstance(err, db.ContainerOOM) and "256m" in str(err)
    err = db.explain(outcome(exit_code=2, stderr="noise\ncondensebench: error: unknown protocol x\n"), limits)
    assert isinstance(err, db.ContainerFailed) and str(err) == "condensebench: error: unknown protocol x"
    err = db.explain(outcome(exit_code=1, stderr="Traceback\nOSError: [Errno 30] Read-only file system\n"), limits)
    assert "exit code 1" in str(err) and "Read-only file system" in str(err)
    err = db.explain(outcome(exit_code=1, stderr="RuntimeError: can't start new thread"), limits)
    assert "process limit of 64" in str(err)
    assert all(issubclass(c, CondenseBenchError) for c in (db.ContainerTimeout, db.ContainerOOM, db.ImageMissing))


def test_no_engine_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/condensebench-test.sock")
    with pytest.raises(db.EngineUnavailable, match="no Docker engine is reachable"):
        db.connect()


def test_gpu_asked_for_but_absent(monkeypatch, tmp_path):
    monkeypatch.setattr(db, "host_gpus", lambda: [])
    (tmp_path / "sub").mkdir()
    with pytest.raises(db.GPUUnavailable, match="--device cuda"):
        db.run_in_docker(submission_dir=tmp_path / "sub", protocol="digits-hard", seeds=1, device="cuda",
                         out_dir=tmp_path / "out", data_root=None)


def test_missing_submission_is_a_user_error(tmp_path):
    with pytest.raises(CondenseBenchError, match="not a submission folder"):
        db.run_in_docker(submission_dir=tmp_path / "nope", protocol="digits-hard", seeds=1, device="cpu",
                         out_dir=tmp_path / "out", data_root=None)


# ----------------------------------------------------------------------------- lock and Dockerfile

def test_lock_covers_the_project_and_is_fully_hashed():
    lock = load_lock_module()
    assert lock.check() == []
    pins = lock.parse_lock()
    assert pins["torch"][0] == "2.14.1" and pins["torchvision"][0] == "0.29.1"
    assert all(len(hashes) >= 1 for _, hashes in pins.values())


def test_lock_parser_rejects_loose_pins(tmp_path):
    lock = load_lock_module()
    bad = tmp_path / "r.lock"
    bad.write_text("numpy>=1.24 --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(ValueError):
        lock.parse_lock(bad)
    unhashed = tmp_path / "u.lock"
    unhashed.write_text("numpy==2.0.0\n")
    assert lock.parse_lock(unhashed)["numpy"] == ("2.0.0", [])


def test_dockerfile_pins_and_hardening():
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M).group(1)
    assert re.search(r"@sha256:[0-9a-f]{64}$", base), "the default base must be pinned by digest"
    assert "FROM ${BASE_IMAGE}" in text
    assert "--require-hashes" in text and "--only-binary=:all:" in text
    assert "--mount=type=bind,source=docker/wheelhouse" in text
    assert re.search(r"^USER \$\{APP_UID\}", text, re.M)
    assert 'ENTRYPOINT ["condensebench"]' in text
    for label in ("org.opencontainers.image.revision", "io.condensebench.lock.sha256"):
        assert label in text


def test_wheelhouse_is_not_copied_into_the_image():
    text = (ROOT / "Dockerfile").read_text()
    copies = [ln for ln in text.splitlines() if ln.startswith(("COPY", "ADD"))]
    assert copies and not any("wheelhouse" in ln or re.match(r"(COPY|ADD) \. ", ln) for ln in copies)
