"""The Docker backend against a real engine and the real image (`make image`).

Marked `docker`; each test skips with the reason when no engine answers or the
image is not built. Set CONDENSEBENCH_REQUIRE_DOCKER=1 (CI does) to turn those
skips into failures. CONDENSEBENCH_TEST_IMAGE picks another image tag.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from condensebench.backends import docker_backend as db

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[1]
IMAGE = os.environ.get("CONDENSEBENCH_TEST_IMAGE", db.DEFAULT_IMAGE)
DIGITS = ROOT / "submissions" / "digits" / "random-ipc10"
PROTOCOL = "digits-hard"
SMALL = db.Limits(memory="1g", cpus=1, pids_limit=128, timeout_s=120)


def _unavailable(reason: str):
    if os.environ.get("CONDENSEBENCH_REQUIRE_DOCKER") == "1":
        pytest.fail(f"CONDENSEBENCH_REQUIRE_DOCKER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def client():
    try:
        return db.connect()
    except db.EngineUnavailable as exc:
        _unavailable(str(exc))


@pytest.fixture(scope="module")
def image(client):
    try:
        db.get_image(client, IMAGE)
    except db.ImageMissing as exc:
        _unavailable(str(exc))
    return IMAGE


def payload(image, tmp_path, code: str, *, mounts=(), limits=SMALL, client=None):
    return db.run_payload(image=image, entrypoint=["python", "-c", code], command=[], mounts=list(mounts),
                          out_dir=tmp_path / "out", limits=limits, client=client)


def digits_submission():
    if not (DIGITS / "submission.yaml").is_file():
        pytest.skip(f"{DIGITS.relative_to(ROOT)} is not in this checkout")
    return DIGITS


# ----------------------------------------------------------------------------- equivalence

@pytest.mark.timeout(600)
def test_same_accuracy_locally_and_in_the_container(image, tmp_path):
    sub = digits_submission()
    local_out, docker_out = tmp_path / "local", tmp_path / "docker"
    env = dict(os.environ, CONDENSEBENCH_CACHE=str(tmp_path / "cache"))
    run = subprocess.run(
        [sys.executable, "-m", "condensebench", "evaluate", str(sub), "--protocol", PROTOCOL, "--seeds", "1",
         "--device", "cpu", "--out", str(local_out), "--quiet"],
        capture_output=True, text=True, env=env, timeout=540,
    )
    assert run.returncode == 0, run.stderr
    (local_path,) = local_out.rglob("*.json")
    local = json.loads(local_path.read_text())

    result = db.run_in_docker(submission_dir=sub, protocol=PROTOCOL, seeds=1, device="cpu", out_dir=docker_out,
                              data_root=None, image=image, timeout_s=540, memory="4g", cpus=os.cpu_count(),
                              pids_limit=1024)
    # The same file layout as the local backend, with the container's provenance.
    docker_path = docker_out / local_path.relative_to(local_out)
    assert json.loads(docker_path.read_text()) == result
    assert result["protocol"]["hash"] == local["protocol"]["hash"]
    assert result["submission"]["content_hash"] == local["submission"]["content_hash"]
    assert result["submission"]["path"] == local["submission"]["path"] == str(sub)
    assert [s["top1"] for s in result["per_seed"]] == [s["top1"] for s in local["per_seed"]]
    assert result["top1_mean"] == local["top1_mean"]

    env = result["environment"]
    assert env["backend"] == "docker" and local["environment"]["backend"] == "local"
    assert env["image_id"].startswith("sha256:")
    assert env["docker_engine"]
    assert env["torch"].startswith("2.14.1") and env["torchvision"].startswith("0.29.1")
    assert env["device_name"]
    log = [json.loads(line) for line in (docker_out / db.RUN_LOG).read_text().splitlines()]
    assert log[-1]["status"] == "ok" and log[-1]["isolation"]["network_mode"] == "none"
    assert not list(docker_out.glob(".docker-run-*")), "the staging folder is cleaned up"


# ----------------------------------------------------------------------------- isolation

PROBE = r"""
import errno, json, os, socket, sys

report = {}

def attempt(name, action):
    try:
        action()
        report[name] = "allowed"
    except OSError as exc:
        report[name] = errno.errorcode.get(exc.errno, str(exc.errno))

def write(path):
    def action():
        with open(path, "w") as f:
            f.write("x")
    return action

def connect():
    socket.create_connection(("1.1.1.1", 53), timeout=3).close()

attempt("connect", connect)
attempt("connect_host", lambda: socket.create_connection(("172.17.0.1", 2375), timeout=3).close())
attempt("dns", lambda: socket.getaddrinfo("pypi.org", 443))
attempt("write_submission", write("/submission/injected.txt"))
attempt("chmod_submission", lambda: os.chmod("/submission/submission.yaml", 0o666))
attempt("write_data", write("/data/injected.txt"))
attempt("write_root", write("/injected.txt"))
attempt("write_etc", write("/etc/injected"))
attempt("write_venv", write(os.path.join(sys.prefix, "injected.py")))
attempt("write_protocols", write("/opt/condensebench/protocols/injected.yaml"))
attempt("write_out", write("/out/allowed.txt"))
attempt("write_tmp", write("/tmp/allowed.txt"))
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
report["uid"] = os.getuid()
report["cap_eff"] = int(status["CapEff"].strip(), 16)
report["no_new_privs"] = int(status["NoNewPrivs"].strip())
report["seccomp"] = int(status["Seccomp"].strip())
report["interfaces"] = sorted(os.listdir("/sys/class/net"))
print(json.dumps(report))
escaped = [k for k, v in report.items() if v == "allowed" and k not in ("write_out", "write_tmp")]
sys.exit(3 if escaped else 0)
"""


@pytest.mark.timeout(120)
def test_isolation_probe(image, client, tmp_path):
    sub = digits_submission()
    data = tmp_path / "data"
    data.mkdir()
    before = {p.name: p.read_bytes() for p in sub.iterdir()}
    outcome = payload(image, tmp_path, PROBE, client=client,
                      mounts=[db.BindMount(sub, db.SUBMISSION_MOUNT), db.BindMount(data, db.DATA_MOUNT)])
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    report = json.loads(outcome.stdout.strip().splitlines()[-1])
    unreachable = {"ENETUNREACH", "EHOSTUNREACH", "ECONNREFUSED"}
    assert report["connect"] in unreachable and report["connect_host"] in unreachable, report
    assert report["dns"] != "allowed"
    for key in ("write_submission", "chmod_submission", "write_data", "write_root", "write_etc",
                "write_venv", "write_protocols"):
        assert report[key] in {"EROFS", "EACCES", "EPERM"}, (key, report[key])
    assert report["write_submission"] == report["write_data"] == "EROFS"
    assert report["write_out"] == report["write_tmp"] == "allowed"
    assert report["uid"] != 0
    assert report["cap_eff"] == 0 and report["no_new_privs"] == 1
    assert report["seccomp"] == 2, "the engine's default seccomp filter applies"
    assert report["interfaces"] == ["lo"]
    # Only the output folder received anything, and nothing else changed on the host.
    assert [Path(f).name for f in outcome.files] == ["allowed.txt"]
    assert (tmp_path / "out" / "allowed.txt").read_text() == "x"
    assert {p.name: p.read_bytes() for p in sub.iterdir()} == before
    assert list(data.iterdir()) == []


@pytest.mark.timeout(120)
def test_a_forbidden_write_fails_the_run_and_is_reported(image, client, tmp_path):
    sub = digits_submission()
    outcome = payload(image, tmp_path, "open('/submission/injected.txt', 'w').write('x')", client=client,
                      mounts=[db.BindMount(sub, db.SUBMISSION_MOUNT)])
    error = db.explain(outcome, SMALL, what="the payload")
    assert isinstance(error, db.ContainerFailed)
    assert "exit code 1" in str(error) and "Read-only file system" in str(error)
    assert not (sub / "injected.txt").exists()


# ----------------------------------------------------------------------------- limits

@pytest.mark.timeout(180)
def test_wall_clock_limit_kills_and_reports(image, client, tmp_path):
    sub = digits_submission()
    started = time.monotonic()
    with pytest.raises(db.ContainerTimeout, match="wall-clock limit of 4 s") as info:
        db.run_in_docker(submission_dir=sub, protocol=PROTOCOL, seeds=1, device="cpu", out_dir=tmp_path,
                         data_root=None, image=image, timeout_s=4, memory="2g", cpus=1, pids_limit=256)
    assert time.monotonic() - started < 60
    assert info.value.reason == "timed_out"
    (record,) = [json.loads(line) for line in (tmp_path / db.RUN_LOG).read_text().splitlines()]
    assert record["status"] == "timed_out" and record["timed_out"] is True
    assert not list(tmp_path.rglob("*.json")), "a killed run leaves no result behind"
    assert not client.containers.list(all=True, filters={"label": "io.condensebench.run"})


@pytest.mark.timeout(180)
def test_memory_limit_kills_and_reports(image, client, tmp_path):
    sub = digits_submission()
    # Loading torch alone needs more than this: the evaluation is killed by the kernel's OOM killer.
    with pytest.raises(db.ContainerOOM, match="memory limit of 96m") as info:
        db.run_in_docker(submission_dir=sub, protocol=PROTOCOL, seeds=1, device="cpu", out_dir=tmp_path,
                         data_root=None, image=image, timeout_s=120, memory="96m", cpus=1, pids_limit=256)
    assert info.value.reason == "out_of_memory"
    (record,) = [json.loads(line) for line in (tmp_path / db.RUN_LOG).read_text().splitlines()]
    assert record["status"] == "failed" and record["reason"] == "out_of_memory" and record["oom_killed"] is True


@pytest.mark.timeout(120)
def test_memory_hog_payload_is_stopped(image, client, tmp_path):
    hog = "b = bytearray(512 * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint('survived')"
    limits = db.Limits(memory="128m", cpus=1, pids_limit=64, timeout_s=60)
    outcome = payload(image, tmp_path, hog, limits=limits, client=client)
    assert outcome.oom_killed and "survived" not in outcome.stdout
    assert isinstance(db.explain(outcome, limits), db.ContainerOOM)


@pytest.mark.timeout(120)
def test_process_limit(image, client, tmp_path):
    fork_bomb = (
        "import threading, time\nthreads = []\n"
        "for _ in range(500):\n    t = threading.Thread(target=time.sleep, args=(30,), daemon=True)\n"
        "    t.start(); threads.append(t)\nprint('survived')"
    )
    limits = db.Limits(memory="512m", cpus=1, pids_limit=32, timeout_s=60)
    outcome = payload(image, tmp_path, fork_bomb, limits=limits, client=client)
    assert outcome.exit_code != 0 and "survived" not in outcome.stdout
    assert "process limit of 32" in str(db.explain(outcome, limits))


def test_missing_image_says_make_image(client, tmp_path):
    with pytest.raises(db.ImageMissing, match="make image"):
        payload("condensebench:no-such-tag-for-tests", tmp_path, "pass", client=client)


# ----------------------------------------------------------------------------- the image itself

VERSIONS = r"""
import hashlib, importlib.metadata as md, json, sys
print(json.dumps({
    "installed": {d.metadata["Name"]: d.version for d in md.distributions()},
    "lock_sha256": hashlib.sha256(open("/opt/condensebench/requirements.lock", "rb").read()).hexdigest(),
    "prefix": sys.prefix,
}))
"""


def _lock_module():
    spec = importlib.util.spec_from_file_location("condensebench_docker_lock", ROOT / "docker" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(120)
def test_installed_versions_match_the_lock(image, client, tmp_path):
    lock = _lock_module()
    outcome = payload(image, tmp_path, VERSIONS, client=client)
    assert outcome.exit_code == 0, outcome.stderr
    report = json.loads(outcome.stdout.strip().splitlines()[-1])
    installed = {lock.canon(name): version for name, version in report["installed"].items()}
    pinned = {name: version for name, (version, _) in lock.parse_lock().items()}
    assert report["lock_sha256"] == lock.lock_hash(), "the image was built from another lock: `make image`"
    for name, version in pinned.items():
        assert installed.get(name) == version, f"{name}: lock {version}, image {installed.get(name)}"
    assert set(installed) - set(pinned) <= {"pip", "condensebench"}
    assert installed["torch"] == "2.14.1" and installed["torchvision"] == "0.29.1"


def test_image_labels_and_user(client, image):
    attrs = client.images.get(image).attrs
    config = attrs["Config"]
    labels = config["Labels"]
    assert labels["io.condensebench.lock.sha256"] == _lock_module().lock_hash()
    assert labels["org.opencontainers.image.revision"] not in ("", None)
    assert labels["org.opencontainers.image.base.name"]
    assert config["Entrypoint"] == ["condensebench"]
    assert config["User"] and config["User"].split(":")[0] not in ("0", "root")


def test_unknown_protocol_is_reported_with_the_cli_message(image, tmp_path):
    sub = digits_submission()
    with pytest.raises(db.ContainerFailed, match="condensebench: error:"):
        db.run_in_docker(submission_dir=sub, protocol="no-such-protocol", seeds=1, device="cpu", out_dir=tmp_path,
                         data_root=None, image=image, timeout_s=120, memory="2g", cpus=1, pids_limit=256)


def test_gpu_request_without_gpu(image, tmp_path, monkeypatch):
    if db.host_gpus():
        pytest.skip("this machine has a GPU")
    sub = digits_submission()
    with pytest.raises(db.GPUUnavailable, match="no NVIDIA GPU"):
        db.run_in_docker(submission_dir=sub, protocol=PROTOCOL, seeds=1, device="cuda", out_dir=tmp_path,
                         data_root=None, image=image, timeout_s=60)
