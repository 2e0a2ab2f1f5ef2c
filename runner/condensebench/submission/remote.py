"""Large sets by reference: data files listed with a `url` are fetched into a
content-addressed cache, verified against the listed sha256 and size, and
refused on any mismatch.

Cache layout: `<cache_dir>/blobs/sha256/<first two hex digits>/<sha256>`. A
blob is only ever moved into place after its bytes hashed to its name, so a
cached blob is trusted by name (the loader re-hashes every file it reads all
the same). A local file in the submission folder always wins over the URL:
`url` only says where to get a file that is not there.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ..errors import CondenseBenchError
from ..paths import cache_dir
from .schema import DataFile, Submission

ALLOWED_SCHEMES = ("https", "http")  # integrity comes from the sha256, not the transport
TIMEOUT_S = 60.0
CHUNK = 1 << 20


def _cache_root() -> Path:
    """The cache folder, without creating it (looking must not write; see paths.cache_dir)."""
    env = os.environ.get("CONDENSEBENCH_CACHE")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "condensebench" / "cache").resolve()


def blob_path(sha256: str, root: Path | None = None) -> Path:
    root = root or _cache_root()
    return root / "blobs" / "sha256" / sha256[:2] / sha256


def cached(entry: DataFile, root: Path | None = None) -> Path | None:
    """The cached blob for a listed file, if present with the listed size."""
    path = blob_path(entry.sha256, root)
    try:
        if path.is_file() and not path.is_symlink() and path.stat().st_size == entry.size:
            return path
    except OSError:
        return None
    return None


def check_url(url: str, where: str) -> None:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ALLOWED_SCHEMES or not parsed.netloc:
        raise CondenseBenchError(f"{where}: url {url!r} must be an http(s) URL")


def fetch(entry: DataFile, *, root: Path | None = None, where: str = "", quiet: bool = True, timeout: float = TIMEOUT_S) -> Path:
    """Download `entry.url` into the cache (or reuse the cached blob); verify size and sha256."""
    where = where or entry.path
    hit = cached(entry, root)
    if hit is not None:
        return hit
    if not entry.url:
        raise CondenseBenchError(f"{where}: {entry.path!r} is not in the submission folder and has no url")
    check_url(entry.url, where)
    target = blob_path(entry.sha256, root or cache_dir())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    h = hashlib.sha256()
    got = 0
    try:
        request = urllib.request.Request(entry.url, headers={"User-Agent": "condensebench"})
        host = urllib.parse.urlparse(entry.url).hostname or ""
        # loopback (tests, a local mirror) never goes through a proxy
        opener = (urllib.request.build_opener(urllib.request.ProxyHandler({}))
                  if host in ("127.0.0.1", "localhost", "::1") else urllib.request.build_opener())
        with opener.open(request, timeout=timeout) as response, open(tmp, "wb") as out:
            final = response.geturl()
            if urllib.parse.urlparse(final).scheme not in ALLOWED_SCHEMES:
                raise CondenseBenchError(f"{where}: {entry.url} redirected to a non-http(s) URL; refused")
            while block := response.read(CHUNK):
                got += len(block)
                if got > entry.size:
                    raise CondenseBenchError(
                        f"{where}: {entry.url} sent more than the listed {entry.size} bytes; refused (mismatch)"
                    )
                h.update(block)
                out.write(block)
        if got != entry.size:
            raise CondenseBenchError(f"{where}: {entry.url} sent {got} bytes, listed size {entry.size}; refused (mismatch)")
        digest = h.hexdigest()
        if digest != entry.sha256:
            raise CondenseBenchError(
                f"{where}: {entry.url}: sha256 {digest[:12]}... does not match the listed {entry.sha256[:12]}...; "
                "refused (mismatch), nothing cached"
            )
        tmp.replace(target)
    except urllib.error.URLError as exc:
        raise CondenseBenchError(f"{where}: cannot fetch {entry.url} ({getattr(exc, 'reason', exc)})") from None
    except (OSError, ValueError) as exc:
        raise CondenseBenchError(f"{where}: cannot fetch {entry.url} ({exc})") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    if not quiet:
        print(f"fetched {entry.path} ({entry.size} bytes) from {entry.url}")
    return target


def locate_files(directory: Path, sub: Submission, *, fetch_missing: bool = True, quiet: bool = True) -> dict[str, Path]:
    """Where each listed file's bytes are: in the folder, or (for a `url` file absent
    from it) in the cache, fetched first when `fetch_missing`."""
    located: dict[str, Path] = {}
    for i, f in enumerate(sub.files):
        local = Path(directory) / f.path
        if os.path.lexists(local) or not f.url:
            located[f.path] = local
            continue
        where = f"{directory}/submission.yaml: files[{i}]"
        hit = cached(f)
        if hit is None and fetch_missing:
            hit = fetch(f, where=where, quiet=quiet)
        if hit is None:
            raise CondenseBenchError(f"{where} {f.path}: not in the folder and not fetched yet (url {f.url})")
        located[f.path] = hit
    return located
