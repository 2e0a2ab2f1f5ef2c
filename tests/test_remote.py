"""Large sets by reference: files listed with a url are fetched into a content-addressed
cache, verified, and refused on mismatch. The server is local, on 127.0.0.1 only."""
from __future__ import annotations

import functools
import http.server
import shutil
import threading

import pytest

from condensebench.errors import CondenseBenchError
from condensebench.submission import load_submission, read_submission_yaml
from condensebench.submission.remote import blob_path, check_url
from condensebench.submission.validate import validate_submission

from .helpers import digits_subset, make_tensor_submission


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """Serves tmp_path/www on 127.0.0.1 (an ephemeral port); yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("CONDENSEBENCH_CACHE", str(path))
    return path


def remote_submission(tmp_path, www, base: str, name: str = "remote"):
    """A tensor submission whose data file lives only on the server, listed by url."""
    _, images, labels = digits_subset(ipc=5)
    d = make_tensor_submission(tmp_path / name, images, labels, sub_id=name)
    shutil.move(d / "data.safetensors", www / f"{name}.safetensors")
    text = (d / "submission.yaml").read_text()
    text = text.replace("  size:", f"  url: {base}/{name}.safetensors\n  size:")
    (d / "submission.yaml").write_text(text)
    return d


def test_evaluate_path_fetches_verifies_and_caches(tmp_path, server, cache):
    base, www = server
    d = remote_submission(tmp_path, www, base)
    sub = read_submission_yaml(d)
    entry = sub.files[0]
    assert entry.url and not (d / "data.safetensors").exists()
    cset = load_submission(d)  # what evaluate calls
    assert cset.images.shape == (50, 1, 8, 8)
    blob = blob_path(entry.sha256)
    assert blob.is_file() and blob.stat().st_size == entry.size and blob.is_relative_to(cache)
    # the cache is used from now on: the server may disappear
    (www / "remote.safetensors").unlink()
    assert load_submission(d).images.shape == (50, 1, 8, 8)


def test_mismatching_bytes_are_refused_and_not_cached(tmp_path, server, cache):
    base, www = server
    d = remote_submission(tmp_path, www, base)
    blob = bytearray((www / "remote.safetensors").read_bytes())
    blob[-1] ^= 0xFF  # same size, other bytes
    (www / "remote.safetensors").write_bytes(bytes(blob))
    with pytest.raises(CondenseBenchError, match=r"sha256 .* does not match .*mismatch"):
        load_submission(d)
    (www / "remote.safetensors").write_bytes(bytes(blob) + b"extra")
    with pytest.raises(CondenseBenchError, match="more than the listed"):
        load_submission(d)
    sub = read_submission_yaml(d)
    assert not blob_path(sub.files[0].sha256).exists()
    assert not any(p.name.endswith(".part") for p in cache.rglob("*"))


def test_missing_url_is_a_clear_error(tmp_path, server, cache):
    base, www = server
    d = remote_submission(tmp_path, www, base)
    (www / "remote.safetensors").unlink()
    with pytest.raises(CondenseBenchError, match="cannot fetch .*remote.safetensors"):
        load_submission(d)


def test_validate_fetches_only_when_asked(tmp_path, server, cache):
    base, www = server
    d = remote_submission(tmp_path, www, base)
    lazy = validate_submission(d)
    assert lazy.ok and any("not fetched" in p.message for p in lazy.warnings), lazy.summary()
    assert not cache.exists() or not any(cache.rglob("*.safetensors"))
    full = validate_submission(d, fetch=True)
    assert full.ok and not full.warnings and full.n_images == 50, full.summary()


def test_only_http_urls(tmp_path):
    with pytest.raises(CondenseBenchError, match="http"):
        check_url("file:///etc/passwd", "files[0].url")
    _, images, labels = digits_subset(ipc=5)
    d = make_tensor_submission(tmp_path / "f", images, labels)
    (d / "data.safetensors").unlink()
    text = (d / "submission.yaml").read_text().replace("  size:", "  url: file:///etc/passwd\n  size:")
    (d / "submission.yaml").write_text(text)
    report = validate_submission(d)
    assert any(p.field == "files[0].url" for p in report.errors), report.summary()
    with pytest.raises(CondenseBenchError, match="http"):
        load_submission(d)
