"""Run ``condensebench evaluate`` inside the pinned image, isolated, through the Docker SDK.

The container gets no network, a read-only root file system, the submission and
the dataset root mounted read-only, exactly one writable folder (a fresh
staging folder under the output directory), a tmpfs for /tmp (which holds the
cache), a non-root user, ``no-new-privileges``, no capabilities, and memory,
CPU and process-count limits. A wall-clock limit kills it. Every run, also a
failed one, is appended to ``OUT/docker-runs.jsonl``; a successful run's result
records the image, the engine and the hardware it ran on.

The evaluation itself is the same code path as the local backend: the image's
entry point is the ``condensebench`` command of the same package.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import shutil
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..environment import cpu_name
from ..errors import CondenseBenchError

DEFAULT_IMAGE = "condensebench:latest"  # what `make image` builds; CONDENSEBENCH_IMAGE overrides
# The image's user (Dockerfile APP_UID); used when the host user is root.
IMAGE_UID = 10001
HOME_IN_IMAGE = "/opt/condensebench"
SUBMISSION_MOUNT = "/submission"
DATA_MOUNT = "/data"
OUT_MOUNT = "/out"
PROTOCOL_MOUNT = "/protocol"
CACHE_IN_CONTAINER = "/tmp/condensebench-cache"
RUN_LOG = "docker-runs.jsonl"
STDERR_TAIL_LINES = 40


# ----------------------------------------------------------------------------- errors

class DockerBackendError(CondenseBenchError):
    """The Docker backend could not produce a result; ``reason`` says why, ``record`` has details."""

    reason = "failed"

    def __init__(self, message: str, *, record: dict | None = None):
        super().__init__(message)
        self.record = record or {}


class EngineUnavailable(DockerBackendError):
    reason = "no_engine"


class ImageMissing(DockerBackendError):
    reason = "image_missing"


class GPUUnavailable(DockerBackendError):
    reason = "no_gpu"


class ContainerTimeout(DockerBackendError):
    reason = "timed_out"


class ContainerOOM(DockerBackendError):
    reason = "out_of_memory"


class ContainerFailed(DockerBackendError):
    reason = "failed"


class StaleImage(DockerBackendError):
    reason = "stale_image"


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class Limits:
    """Resources one container may use."""

    memory: str | int = "8g"
    cpus: float = float(os.cpu_count() or 1)
    pids_limit: int = 1024
    timeout_s: float = 6 * 3600.0

    def __post_init__(self):
        if parse_memory(self.memory) < 16 * 2**20:
            raise CondenseBenchError(f"memory limit {self.memory!r} is below 16 MiB")
        if not self.cpus > 0:
            raise CondenseBenchError(f"cpus must be positive, not {self.cpus!r}")
        if self.pids_limit < 16:
            raise CondenseBenchError(f"pids limit {self.pids_limit} is too small (at least 16)")
        if not self.timeout_s > 0:
            raise CondenseBenchError(f"timeout must be positive, not {self.timeout_s!r}")


@dataclass(frozen=True)
class BindMount:
    source: Path
    target: str
    read_only: bool = True


_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_memory(value: str | int) -> int:
    """Bytes from Docker's notation: 512m, 8g, 1.5g, 8GiB, or an int."""
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", str(value).lower())
    if not m:
        raise CondenseBenchError(f"cannot read memory limit {value!r}: use e.g. 512m or 8g")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def container_user() -> str:
    """Who runs in the container: the host user, or the image's user when the host user is root."""
    uid = os.getuid()
    if uid == 0:
        return f"{IMAGE_UID}:{IMAGE_UID}"
    return f"{uid}:{os.getgid()}"


def container_environment(cpus: float) -> dict[str, str]:
    threads = str(max(1, math.ceil(cpus)))
    return {
        "CONDENSEBENCH_HOME": HOME_IN_IMAGE,
        "CONDENSEBENCH_CACHE": CACHE_IN_CONTAINER,
        "CONDENSEBENCH_DATA": DATA_MOUNT,
        "HOME": "/tmp",
        "USER": "condensebench",
        "LOGNAME": "condensebench",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        # The CPU quota is not what os.cpu_count() sees: size thread pools to it.
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    }


def container_config(
    *,
    image: str,
    command: Sequence[str],
    mounts: Sequence[BindMount],
    limits: Limits,
    gpus: bool = False,
    entrypoint: Sequence[str] | None = None,
    user: str | None = None,
    environment: dict[str, str] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.create``: every isolation setting lives here."""
    from docker.types import DeviceRequest, Mount

    memory = parse_memory(limits.memory)
    writable = [m for m in mounts if not m.read_only]
    if len(writable) != 1 or writable[0].target != OUT_MOUNT:
        raise ValueError(f"exactly one writable mount, at {OUT_MOUNT}, is allowed: {mounts}")
    env = container_environment(limits.cpus)
    env.update(environment or {})
    config: dict[str, Any] = {
        "image": image,
        "command": list(command),
        "name": name or f"condensebench-{uuid.uuid4().hex[:12]}",
        "user": user or container_user(),
        "working_dir": "/tmp",
        "environment": env,
        "network_mode": "none",
        "read_only": True,
        "security_opt": ["no-new-privileges:true"],
        "cap_drop": ["ALL"],
        "mem_limit": memory,
        "memswap_limit": memory,  # no swap on top
        "nano_cpus": int(round(limits.cpus * 1e9)),
        "pids_limit": int(limits.pids_limit),
        # Counted against the memory limit; exec allowed (some wheels unpack helpers there).
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={memory},mode=1777"},
        "shm_size": min(memory, 2**30),
        "mounts": [
            Mount(target=m.target, source=str(Path(m.source).resolve()), type="bind", read_only=m.read_only)
            for m in mounts
        ],
        "init": True,  # a real PID 1: reaps children, forwards the kill
        "labels": {"io.condensebench.run": "1"},
        "stdin_open": False,
        "tty": False,
    }
    if entrypoint is not None:
        config["entrypoint"] = list(entrypoint)
    if gpus:
        config["device_requests"] = [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    return config


def evaluate_command(
    *, protocol_ref: str, seeds: int | None, device: str, with_data: bool, extra_args: Sequence[str] = ()
) -> list[str]:
    """The arguments given to the image's ``condensebench`` entry point."""
    # --no-track: tracking belongs to the host (its MLflow store); the container's /tmp is thrown away.
    cmd = ["evaluate", SUBMISSION_MOUNT, "--protocol", protocol_ref, "--device", device, "--out", OUT_MOUNT,
           "--quiet", "--no-track"]
    if seeds is not None:
        cmd += ["--seeds", str(int(seeds))]
    if with_data:
        cmd += ["--data-root", DATA_MOUNT]
    return cmd + list(extra_args)


# ----------------------------------------------------------------------------- engine

def default_image() -> str:
    return os.environ.get("CONDENSEBENCH_IMAGE") or DEFAULT_IMAGE


def connect():
    """A Docker client, or a clear error when no engine answers."""
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - docker is a project dependency
        raise EngineUnavailable("the Docker backend needs the `docker` Python package") from exc
    try:
        client = docker.from_env(timeout=120)
        client.ping()
        return client
    except Exception as exc:  # DockerException, requests errors, socket errors
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise EngineUnavailable(
            f"no Docker engine is reachable at {where} ({_one_line(exc)}); start one (e.g. `dockerd &`) "
            "or use the local backend"
        ) from exc


def get_image(client, image: str):
    import docker

    try:
        return client.images.get(image)
    except docker.errors.ImageNotFound:
        raise ImageMissing(f"the image {image} is not present in the Docker engine: build it with `make image`") from None
    except docker.errors.APIError as exc:
        raise ImageMissing(f"cannot inspect the image {image}: {_one_line(exc)}") from exc


def host_gpus() -> list[dict[str, str]]:
    """NVIDIA GPUs on this machine: [{'name', 'driver'}] from nvidia-smi (none when it is absent)."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    gpus = []
    for line in out.stdout.splitlines():
        if "," in line:
            name, driver = (s.strip() for s in line.rsplit(",", 1))
            gpus.append({"name": name, "driver": driver})
    return gpus


def check_gpu() -> dict[str, str]:
    gpus = host_gpus()
    if not gpus:
        raise GPUUnavailable(
            "--device cuda was asked for, but this machine has no NVIDIA GPU that nvidia-smi can see; "
            "use --device cpu"
        )
    return gpus[0]


def image_provenance(client, image_obj) -> dict[str, Any]:
    attrs = image_obj.attrs
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    try:
        version = client.version()
    except Exception:  # noqa: BLE001 - provenance is best effort
        version = {}
    return {
        "image": (image_obj.tags or [attrs.get("Id")])[0],
        "image_id": image_obj.id,
        # Only an image pulled from (or pushed to) a registry has a repository digest.
        "image_digest": (attrs.get("RepoDigests") or [None])[0],
        "image_created": attrs.get("Created"),
        "image_size_bytes": attrs.get("Size"),
        "source_commit": labels.get("org.opencontainers.image.revision"),
        "lock_sha256": labels.get("io.condensebench.lock.sha256"),
        "base_image": labels.get("org.opencontainers.image.base.name"),
        "docker_engine": version.get("Version"),
        "docker_api": version.get("ApiVersion"),
        "host_cpu": cpu_name(),
    }


# ----------------------------------------------------------------------------- running

@dataclass
class ContainerOutcome:
    exit_code: int | None
    timed_out: bool
    oom_killed: bool
    seconds: float
    stdout: str
    stderr: str
    container: str
    limits: dict = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.oom_killed

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        return "\n".join(self.stderr.rstrip().splitlines()[-lines:])


def run_container(client, config: dict[str, Any], timeout_s: float) -> ContainerOutcome:
    """Create, start and wait for a container; kill it at the wall-clock limit; always remove it."""
    import docker
    import requests

    try:
        container = client.containers.create(**config)
    except docker.errors.ImageNotFound:
        raise ImageMissing(f"the image {config['image']} is not present: build it with `make image`") from None
    except docker.errors.APIError as exc:
        raise ContainerFailed(f"the engine refused to create the container: {_one_line(exc)}") from exc
    started = time.monotonic()
    timed_out = False
    try:
        try:
            container.start()
        except docker.errors.APIError as exc:
            text = _one_line(exc)
            if config.get("device_requests") and re.search(r"device driver|gpu|nvidia", text, re.I):
                raise GPUUnavailable(
                    "--device cuda was asked for, but the Docker engine cannot give the container a GPU "
                    f"({text}); install the NVIDIA Container Toolkit or use --device cpu"
                ) from exc
            raise ContainerFailed(f"the container did not start: {text}") from exc
        try:
            status = container.wait(timeout=timeout_s)
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            timed_out = True
            try:
                container.kill()
            except docker.errors.APIError:
                pass  # it ended by itself in the meantime
            status = container.wait(timeout=120)
        seconds = time.monotonic() - started
        container.reload()
        state = container.attrs.get("State") or {}
        exit_code = status.get("StatusCode", state.get("ExitCode"))
        stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
        return ContainerOutcome(
            exit_code=exit_code,
            timed_out=timed_out,
            oom_killed=bool(state.get("OOMKilled")),
            seconds=round(seconds, 3),
            stdout=stdout,
            stderr=stderr,
            container=container.id,
        )
    finally:
        try:
            container.remove(force=True)
        except docker.errors.APIError:
            pass


def explain(outcome: ContainerOutcome, limits: Limits, what: str = "the evaluation") -> DockerBackendError | None:
    """The error a finished container stands for, or None when it succeeded."""
    tail = outcome.stderr_tail()
    if outcome.timed_out:
        return ContainerTimeout(
            f"{what} ran past its wall-clock limit of {limits.timeout_s:g} s and was killed "
            f"(status: timed out)" + (f"; the end of its stderr:\n{tail}" if tail else "")
        )
    if outcome.oom_killed:
        return ContainerOOM(
            f"{what} exceeded its memory limit of {limits.memory} and was killed by the kernel's "
            f"out-of-memory killer (exit code {outcome.exit_code}); raise the memory limit"
        )
    if outcome.exit_code == 0:
        return None
    if outcome.exit_code == 2:
        # The CLI's own, already clear, message about its input.
        msgs = [ln for ln in outcome.stderr.splitlines() if ln.startswith("condensebench: error:")]
        if msgs:
            return ContainerFailed("\n".join(msgs))
    hint = ""
    if re.search(r"can't start new thread|Resource temporarily unavailable|fork.*failed", outcome.stderr):
        hint = f" (the process limit of {limits.pids_limit} may have been reached)"
    elif outcome.exit_code == 137:
        hint = " (killed by SIGKILL)"
    return ContainerFailed(
        f"{what} failed in the container with exit code {outcome.exit_code}{hint}"
        + (f"; the end of its stderr:\n{tail}" if tail else "")
    )


class StagedOutput:
    """The container's one writable folder: fresh, under the output directory, writable by the
    container's user; afterwards its files move into the output directory, owned like it."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir).expanduser().resolve()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.owner = self.out_dir.stat()
        self.path = self.out_dir / f".docker-run-{uuid.uuid4().hex[:12]}"
        self.path.mkdir(mode=0o700)
        if os.getuid() == 0:
            os.chown(self.path, IMAGE_UID, IMAGE_UID)

    @property
    def mount(self) -> BindMount:
        return BindMount(self.path, OUT_MOUNT, read_only=False)

    def finish(self) -> list[Path]:
        return _finish(self.path, self.out_dir, self.owner)


def run_payload(
    *,
    image: str,
    command: Sequence[str],
    mounts: Sequence[BindMount],
    out_dir: Path,
    limits: Limits,
    entrypoint: Sequence[str] | None = None,
    gpus: bool = False,
    client=None,
) -> ContainerOutcome:
    """Run any command in the image under the backend's isolation and limits (tests, diagnostics).

    ``mounts`` are read-only; ``out_dir`` is mounted (staged) at /out as the one writable folder.
    """
    client = client or connect()
    get_image(client, image)
    staged = StagedOutput(out_dir)
    try:
        config = container_config(image=image, command=command, mounts=[*mounts, staged.mount], limits=limits,
                                  gpus=gpus, entrypoint=entrypoint)
        outcome = run_container(client, config, limits.timeout_s)
    finally:
        files = staged.finish()
    outcome.limits = asdict(limits)
    outcome.files = [str(f) for f in files]
    return outcome


def run_in_docker(
    *,
    submission_dir: Path,
    protocol: str,
    seeds: int | None,
    device: str,
    out_dir: Path,
    data_root: Path | None,
    image: str | None = None,
    timeout_s: float = Limits.timeout_s,
    memory: str = Limits.memory,
    cpus: float | None = None,
    pids_limit: int = Limits.pids_limit,
    extra_args: Sequence[str] = (),
) -> dict:
    """Evaluate one submission under one protocol in the image; the result dict with provenance.

    The result JSON lands where the local backend would put it
    (OUT/<dataset>/<submission id>/<protocol>@v<N>.json); every run, failed or
    not, is also appended to OUT/docker-runs.jsonl. Raises a DockerBackendError
    (a CondenseBenchError) saying why when no result comes back.
    """
    limits = Limits(memory=memory, cpus=float(cpus or os.cpu_count() or 1), pids_limit=pids_limit, timeout_s=timeout_s)
    image = image or default_image()
    submission_dir = Path(submission_dir).expanduser().resolve()
    if not submission_dir.is_dir():
        raise CondenseBenchError(f"{submission_dir}: not a submission folder")
    if data_root is not None:
        data_root = Path(data_root).expanduser().resolve()
        if not data_root.is_dir():
            raise CondenseBenchError(f"--data-root {data_root}: no such folder")
    gpu = None
    if device.startswith("cuda"):
        gpu = check_gpu()
    client = connect()
    image_obj = get_image(client, image)
    provenance = image_provenance(client, image_obj)

    mounts = [BindMount(submission_dir, SUBMISSION_MOUNT, read_only=True)]
    protocol_ref = protocol
    if Path(protocol).suffix in (".yaml", ".yml") and Path(protocol).is_file():
        protocol_file = Path(protocol).resolve()
        protocol_ref = f"{PROTOCOL_MOUNT}/{protocol_file.name}"
        mounts.append(BindMount(protocol_file, protocol_ref, read_only=True))
    if data_root is not None:
        mounts.append(BindMount(data_root, DATA_MOUNT, read_only=True))

    staged = StagedOutput(out_dir)
    out_dir = staged.out_dir
    mounts.append(staged.mount)

    command = evaluate_command(protocol_ref=protocol_ref, seeds=seeds, device=device,
                               with_data=data_root is not None, extra_args=extra_args)
    config = container_config(image=image, command=command, mounts=mounts, limits=limits, gpus=gpu is not None)
    record: dict[str, Any] = {
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "submission": str(submission_dir),
        "protocol": protocol,
        "seeds": seeds,
        "device": device,
        "data_root": str(data_root) if data_root else None,
        "command": command,
        "limits": asdict(limits),
        "isolation": {k: config[k] for k in ("network_mode", "read_only", "user", "security_opt", "cap_drop")},
        **provenance,
        "gpu": gpu,
    }
    try:
        outcome = run_container(client, config, limits.timeout_s)
    except DockerBackendError as exc:
        staged.finish()
        record.update(status="failed", reason=exc.reason, message=str(exc))
        _log_run(out_dir, record)
        exc.record = record
        raise
    except BaseException:
        staged.finish()
        raise
    written = staged.finish()
    record.update(exit_code=outcome.exit_code, seconds=outcome.seconds, oom_killed=outcome.oom_killed,
                  timed_out=outcome.timed_out, stderr_tail=outcome.stderr_tail())
    error = explain(outcome, limits)
    results = [p for p in written if p.suffix == ".json"]
    if error is None and len(results) != 1:
        error = ContainerFailed(
            f"the container exited cleanly but wrote {len(results)} result files instead of one: "
            f"{[str(p) for p in results]}"
        )
    if error is not None:
        status = "timed_out" if isinstance(error, ContainerTimeout) else "failed"
        record.update(status=status, reason=error.reason, message=str(error))
        _log_run(out_dir, record)
        error.record = record
        raise error

    path = results[0]
    result = json.loads(path.read_text())
    env = result.setdefault("environment", {})
    env.update(
        backend="docker",
        image_id=provenance["image_id"],
        image_digest=provenance["image_digest"],
        docker_engine=provenance["docker_engine"],
        gpu_driver=gpu["driver"] if gpu else None,
    )
    if not env.get("git_commit") and provenance.get("source_commit") not in (None, "", "unknown"):
        env["git_commit"] = provenance["source_commit"]
    if isinstance(result.get("submission"), dict):
        result["submission"]["path"] = str(submission_dir)
    result = _validated(result)
    path.write_text(json.dumps(result, indent=1) + "\n")
    record.update(status="ok", result=str(path),
                  protocol_hash=(result.get("protocol") or {}).get("hash"),
                  submission_hash=(result.get("submission") or {}).get("content_hash"))
    _log_run(out_dir, record)
    _check_protocol_is_current(protocol, result, image, record)
    return result


# ----------------------------------------------------------------------------- helpers

def _finish(staging: Path, out_dir: Path, owner: os.stat_result) -> list[Path]:
    """Hand the container's files to the output directory's owner and move them into place."""
    moved: list[Path] = []
    if not staging.exists():
        return moved
    for path in sorted(staging.rglob("*")):
        if os.getuid() == 0:
            try:
                os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)
            except OSError:
                pass
        if path.is_file() and not path.is_symlink():
            dest = out_dir / path.relative_to(staging)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
            moved.append(dest)
    shutil.rmtree(staging, ignore_errors=True)
    return moved


def _log_run(out_dir: Path, record: dict) -> None:
    record = dict(record, finished=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    with (out_dir / RUN_LOG).open("a") as f:
        f.write(json.dumps(record, default=str) + "\n")


def _validated(result: dict) -> dict:
    try:
        from ..result import EvaluationResult
    except ImportError:  # pragma: no cover
        return result
    try:
        return EvaluationResult.model_validate(result).model_dump(mode="json")
    except Exception as exc:  # noqa: BLE001 - pydantic.ValidationError
        raise ContainerFailed(f"the container's result does not match this checkout's result schema: {exc}") from exc


def _check_protocol_is_current(protocol: str, result: dict, image: str, record: dict) -> None:
    """The image's copy of a named protocol must be the checkout's: otherwise the image is stale."""
    try:
        from ..protocol import load_protocol, protocol_hash

        here = protocol_hash(load_protocol(protocol))
    except Exception:  # noqa: BLE001 - not resolvable here: nothing to compare with
        return
    there = (result.get("protocol") or {}).get("hash")
    if there and here != there:
        raise StaleImage(
            f"the image {image} evaluated protocol {protocol} with hash {there[:12]}, but this checkout's "
            f"protocol hashes to {here[:12]}: rebuild the image (`make image`)",
            record=record,
        )


def _one_line(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return " ".join(str(text).split())[:500]
