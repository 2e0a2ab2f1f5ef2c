#!/usr/bin/env python3
"""Write, check and fetch the image's hash-locked requirements (docker/requirements.lock).

The image runs the same code on the same library versions as the project
environment, so the lock is *derived from an installed environment*: the
dependency closure of the installed ``condensebench`` distribution (its
``[project.dependencies]``, test extras excluded) with each version taken from
that environment, plus the project's build backend (setuptools). Every pin
carries the sha256 of the one wheel the image installs: CPython 3.11,
manylinux x86_64 (the image is linux/amd64 only).

    python docker/lock.py write    [--wheelhouse DIR]   # regenerate the lock (needs the index)
    python docker/lock.py check                         # the lock covers pyproject.toml (offline)
    python docker/lock.py fetch    [--wheelhouse DIR]   # download exactly the locked wheels
    python docker/lock.py hash                          # sha256 of the lock (image label)

Run it with the project environment's interpreter (``make`` uses
``.venv/bin/python``): ``write`` reads that environment's installed versions.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOCK = HERE / "requirements.lock"
DEFAULT_WHEELHOUSE = HERE / "wheelhouse"

# The image's interpreter and platform. Debian bookworm ships CPython 3.11 and
# glibc 2.36, so every manylinux tag up to 2_36 fits; pip does not expand
# perennial tags itself, so all of them are listed.
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)] + [
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
TARGET = [
    "--only-binary=:all:",
    *[arg for platform in PLATFORMS for arg in ("--platform", platform)],
    "--python-version", "3.11",
    "--implementation", "cp",
    "--abi", "cp311",
]
EXACT = {"torch": "2.14.1", "torchvision": "0.29.1"}
PROJECT = "condensebench"


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement(text: str):
    from packaging.requirements import Requirement

    return Requirement(text)


def closure(root: str = PROJECT) -> dict[str, str]:
    """canonical name -> installed version for everything ``root`` needs at run time."""
    seen: dict[str, str] = {}
    done: set[tuple[str, frozenset[str]]] = set()
    stack: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while stack:
        name, extras = stack.pop()
        if (canon(name), extras) in done:
            continue
        done.add((canon(name), extras))
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            raise SystemExit(f"lock: {name} is needed but not installed in {sys.prefix}")
        if canon(name) != canon(root):
            seen[canon(name)] = dist.version
        for text in dist.requires or []:
            req = _requirement(text)
            wanted = [{"extra": e} for e in extras] or [{"extra": ""}]
            if req.marker is not None and not any(req.marker.evaluate(env) for env in wanted):
                continue
            stack.append((req.name, frozenset(req.extras)))
    return dict(sorted(seen.items()))


def build_requirements() -> dict[str, str]:
    """The build backend, pinned to the version installed here (pyproject [build-system])."""
    import tomllib

    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    out: dict[str, str] = {}
    for text in spec["requires"]:
        req = _requirement(text)
        if canon(req.name) == "wheel":
            continue  # setuptools >= 70.1 builds wheels itself; pip --no-build-isolation skips it
        version = md.version(req.name)
        if not req.specifier.contains(version, prereleases=True):
            raise SystemExit(f"lock: installed {req.name} {version} does not satisfy {text}")
        out[canon(req.name)] = version
    return out


def pip_download(args: list[str], dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
           "--progress-bar", "off", "-d", str(dest), *TARGET, *args]
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)


def wheel_name_version(path: Path) -> tuple[str, str]:
    name, version = path.name.split("-")[:2]
    return canon(name), version


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write(wheelhouse: Path) -> None:
    runtime = closure()
    build = build_requirements()
    for name, version in EXACT.items():
        if runtime.get(name) != version:
            raise SystemExit(f"lock: {name} must be {version}, the environment has {runtime.get(name)}")
    pins = {**runtime, **build}
    pin_file = wheelhouse / ".pins.txt"
    wheelhouse.mkdir(parents=True, exist_ok=True)
    pin_file.write_text("".join(f"{n}=={v}\n" for n, v in pins.items()))
    # With dependencies, so pip itself confirms that the closure is complete and consistent.
    pip_download(["-r", str(pin_file)], wheelhouse)
    files: dict[str, Path] = {}
    for whl in sorted(wheelhouse.glob("*.whl")):
        name, version = wheel_name_version(whl)
        if pins.get(name) == version:
            if name in files:
                raise SystemExit(f"lock: two wheels for {name} {version}: {files[name].name}, {whl.name}")
            files[name] = whl
    extra = sorted(wheel_name_version(w)[0] for w in wheelhouse.glob("*.whl")
                   if wheel_name_version(w)[0] not in pins)
    missing = sorted(set(pins) - set(files))
    if missing:
        raise SystemExit(f"lock: no wheel downloaded for {missing}")
    if extra:
        print(f"lock: note, wheelhouse holds unlocked wheels (ignored): {extra}", file=sys.stderr)

    lines = [
        "# The condensebench image's Python packages, hash-locked. Generated by",
        "# `make lock` (docker/lock.py write); do not edit by hand.",
        "# Versions: the run-time closure of condensebench's [project.dependencies] as",
        "# installed in the project environment, plus the build backend.",
        "# Hashes: the CPython 3.11 manylinux x86_64 wheels (the image is linux/amd64).",
        "# Installed with: pip install --require-hashes --only-binary=:all: -r requirements.lock",
        "",
    ]
    for section, names in (("run time", runtime), ("build backend ([build-system] requires)", build)):
        lines.append(f"# --- {section}")
        for name in names:
            lines.append(f"{name}=={pins[name]} \\")
            lines.append(f"    --hash=sha256:{sha256(files[name])}")
    LOCK.write_text("\n".join(lines) + "\n")
    print(f"lock: wrote {LOCK.relative_to(ROOT)} ({len(pins)} packages)", file=sys.stderr)


def parse_lock(path: Path = LOCK) -> dict[str, tuple[str, list[str]]]:
    """canonical name -> (version, [sha256, ...])."""
    text = path.read_text().replace("\\\n", " ")
    out: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)\s*(.*)$", line)
        if not m:
            raise ValueError(f"{path}: not an exact pin: {line!r}")
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", m.group(3))
        out[canon(m.group(1))] = (m.group(2), hashes)
    return out


def check(path: Path = LOCK) -> list[str]:
    """Problems with the lock: unhashed pins, project dependencies it does not satisfy."""
    import tomllib

    problems: list[str] = []
    lock = parse_lock(path)
    for name, (version, hashes) in lock.items():
        if not hashes:
            problems.append(f"{name}=={version} has no --hash")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = list(project["project"]["dependencies"]) + list(project["build-system"]["requires"])
    for text in wanted:
        req = _requirement(text)
        if canon(req.name) == "wheel":
            continue
        if canon(req.name) not in lock:
            problems.append(f"{text}: not in the lock (run `make lock`)")
        elif not req.specifier.contains(lock[canon(req.name)][0], prereleases=True):
            problems.append(f"{text}: the lock pins {lock[canon(req.name)][0]} (run `make lock`)")
    for name, version in EXACT.items():
        if lock.get(name, ("",))[0] != version:
            problems.append(f"{name} must be pinned to {version}")
    return problems


def missing_wheels(wheelhouse: Path, path: Path = LOCK) -> list[str]:
    """Locked packages without a wheel of the locked version and hash in the wheelhouse."""
    have: dict[tuple[str, str], list[Path]] = {}
    for whl in wheelhouse.glob("*.whl"):
        have.setdefault(wheel_name_version(whl), []).append(whl)
    # sha256 by (size, mtime) of earlier checks, so a warm wheelhouse is not re-read.
    memo_file = wheelhouse / ".sha256.json"
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    before = dict(memo)

    def digest(whl: Path) -> str:
        st = whl.stat()
        key = f"{whl.name}:{st.st_size}:{st.st_mtime_ns}"
        if key not in memo:
            memo[key] = sha256(whl)
        return memo[key]

    missing = []
    for name, (version, hashes) in parse_lock(path).items():
        if not any(digest(w) in hashes for w in have.get((name, version), [])):
            missing.append(f"{name}=={version}")
    if memo != before:
        try:
            memo_file.write_text(json.dumps(memo, indent=0, sort_keys=True))
        except OSError:
            pass
    return missing


def fetch(wheelhouse: Path) -> None:
    """Exactly the locked files, each checked against its hash; a complete wheelhouse is left alone."""
    missing = missing_wheels(wheelhouse) if wheelhouse.is_dir() else ["all"]
    if not missing:
        print(f"lock: wheelhouse {wheelhouse} already holds every locked wheel", file=sys.stderr)
        return
    pip_download(["--quiet", "--no-deps", "--require-hashes", "-r", str(LOCK)], wheelhouse)
    still = missing_wheels(wheelhouse)
    if still:
        raise SystemExit(f"lock: the wheelhouse still lacks {still}")


def lock_hash(path: Path = LOCK) -> str:
    return sha256(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["write", "check", "fetch", "hash"])
    parser.add_argument("--wheelhouse", type=Path, default=DEFAULT_WHEELHOUSE)
    args = parser.parse_args(argv)
    if args.command == "write":
        write(args.wheelhouse)
    elif args.command == "check":
        problems = check()
        for p in problems:
            print(f"lock: {p}", file=sys.stderr)
        return 1 if problems else 0
    elif args.command == "fetch":
        fetch(args.wheelhouse)
    elif args.command == "hash":
        print(lock_hash())
    return 0


if __name__ == "__main__":
    sys.exit(main())
