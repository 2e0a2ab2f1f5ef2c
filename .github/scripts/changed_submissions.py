#!/usr/bin/env python3
"""Print the submission folders (submissions/<dataset>/<id>) that a diff touches.

    python .github/scripts/changed_submissions.py BASE HEAD

One folder per line, only those that still exist in the working tree with a
submission.yaml (a deleted entry has nothing to validate). Paths directly under
submissions/ or submissions/<dataset>/ are printed as `INVALID:<path>`: a
submission lives in its own folder. Uses git only; reads no file contents.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def changed(base: str, head: str) -> tuple[list[str], list[str]]:
    out = subprocess.run(
        ["git", "diff", "--name-only", "--no-renames", "-z", f"{base}...{head}", "--", "submissions/"],
        check=True, capture_output=True,
    ).stdout.decode("utf-8", "replace")
    folders, invalid = set(), set()
    for path in filter(None, out.split("\0")):
        parts = path.split("/")
        if len(parts) < 4:
            invalid.add(path)
        else:
            folders.add("/".join(parts[:3]))
    existing = sorted(f for f in folders if Path(f).is_dir())
    return existing, sorted(invalid)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    folders, invalid = changed(argv[0], argv[1])
    for f in folders:
        print(f)
    for p in invalid:
        print(f"INVALID:{p}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
