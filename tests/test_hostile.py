"""Hostile submissions: each is refused with a message naming the file and the problem,
nothing from it is executed, and nothing is written anywhere."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from condensebench.cli import main
from condensebench.errors import CondenseBenchError
from condensebench.submission import load_submission
from condensebench.submission.validate import validate_submission

from . import hostile
from .conftest import REPO


def snapshot(*roots: Path) -> dict[str, tuple]:
    """Every entry under the roots (links not followed) with its type, size and mtime."""
    out = {}
    for root in roots:
        if not root.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            for name in dirnames + filenames:
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                out[p] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def watched(tmp_path):
    """The roots that must not change: the case's folder and its parent, the cache, submissions/."""
    cache = Path(os.environ["CONDENSEBENCH_CACHE"])
    return [tmp_path, cache, REPO / "submissions"]


@pytest.mark.parametrize("build", hostile.BUILDERS, ids=lambda b: b.__name__)
def test_hostile_submission_is_refused_without_a_trace(build, tmp_path, watched, capsys):
    case = build(tmp_path / "corpus")
    before = snapshot(*watched)

    report = validate_submission(case.directory, submissions_root=REPO / "submissions")
    assert not report.ok, report.summary()
    import re

    hits = [p for p in report.errors if case.file in f"{p.file} {p.message}" and re.search(case.phrase, str(p), re.I)]
    assert hits, f"no error naming {case.file!r} with /{case.phrase}/:\n{report.summary()}"

    # the CLI says the same, exits 1, and prints no traceback
    code = main(["validate", str(case.directory), "--submissions-root", str(REPO / "submissions")])
    out, err = capsys.readouterr()
    assert code == 1
    assert case.file in out and "Traceback" not in out + err

    # the loader (what evaluate uses) refuses it too, where the problem is one it checks
    if case.loader_phrase is not None or case.name not in ("test-copy", "fifo", "archive"):
        with pytest.raises(CondenseBenchError, match=case.loader_phrase or case.phrase):
            load_submission(case.directory)

    assert snapshot(*watched) == before, "validation or loading wrote or changed files"
    if case.marker is not None:
        assert not case.marker.exists(), "the payload ran"
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path.parent / "escape.txt").exists()


def test_malicious_torch_file_is_refused_by_the_importer(tmp_path, watched):
    case = hostile.torch_code(tmp_path / "corpus")
    out = tmp_path / "imported"
    before = snapshot(*watched)
    with pytest.raises(CondenseBenchError, match=r"posix\.system|allow-list"):
        main_or_raise(["import", "torch-pair", str(case.directory), "--dataset", "digits", "--out", str(out),
                       "--images", "images.pt", "--labels", "labels.pt"])
    assert not case.marker.exists(), "the payload ran"
    assert not out.exists()
    assert snapshot(*watched) == before


def test_torch_load_alone_would_also_refuse_the_payload(tmp_path):
    """The second guard: torch.load(weights_only=True) refuses it even without the opcode scan."""
    import torch

    case = hostile.torch_code(tmp_path / "corpus")
    with pytest.raises(Exception):
        torch.load(case.directory / "images.pt", weights_only=True)
    assert not case.marker.exists()


def test_raw_pickle_given_to_the_importer_is_refused(tmp_path):
    case = hostile.pickle_code(tmp_path / "corpus")
    src = tmp_path / "pair"
    src.mkdir()
    (src / "images.pt").write_bytes((case.directory / "data.pkl").read_bytes())
    (src / "labels.pt").write_bytes((case.directory / "data.pkl").read_bytes())
    with pytest.raises(CondenseBenchError, match="raw pickle"):
        main_or_raise(["import", "torch-pair", str(src), "--dataset", "digits", "--out", str(tmp_path / "o")])
    assert not case.marker.exists()


def test_archive_with_traversal_is_refused_by_the_image_folder_importer(tmp_path):
    import io
    import tarfile

    bad = tmp_path / "set.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        info = tarfile.TarInfo("../escape.png")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(CondenseBenchError, match="unsafe member path"):
        main_or_raise(["import", "image-folder", str(bad), "--dataset", "digits", "--out", str(tmp_path / "o")])
    assert not (tmp_path / "escape.png").exists()
    assert not (tmp_path / "o").exists()


def main_or_raise(argv: list[str]) -> int:
    """Run the CLI's command function directly so the CondenseBenchError surfaces."""
    from condensebench.cli import build_parser

    args = build_parser().parse_args(argv)
    return args.func(args)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_pickle_scan_reads_globals_without_running_them(tmp_path, protocol):
    """GLOBAL (protocols 0-3) and STACK_GLOBAL (4-5) are both resolved statically."""
    import collections
    import pickle

    from condensebench.submission.safe_torch import scan_pickle

    assert scan_pickle(pickle.dumps(collections.OrderedDict(a=1), protocol=protocol), "ok") == {("collections", "OrderedDict")}
    marker = tmp_path / "PWNED"
    blob = pickle.dumps([1, hostile.Payload(marker)], protocol=protocol)
    with pytest.raises(CondenseBenchError, match=r"posix\.system|opcode"):
        scan_pickle(blob, "evil")
    assert not marker.exists()
