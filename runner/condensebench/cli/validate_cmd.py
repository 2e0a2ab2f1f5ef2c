"""`condensebench validate`: deep checks of submission folders, every problem at once."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from ..errors import CondenseBenchError


def register(sub) -> None:
    p = sub.add_parser(
        "validate",
        help="check submission folders deeply (schema, hashes, files, pixels, balance, leakage) and list every problem",
        description=(
            "Checks each submission folder and reports every problem at once, each naming the file and field: "
            "the schema of submission.yaml (known dataset, IPC, label regimes), every file listed with the right "
            "sha256 and size and nothing unlisted, no links or device files, the image count and class balance, "
            "decoding, resolution, channels and pixel space, finite tensors, soft labels, storage bytes, "
            "near-duplicates of test images, and copies of existing submissions. Nothing from the submission is "
            "executed or unpickled, and nothing is written except the --out report. Exit status: 0 valid, "
            "1 when any error is found (or a warning, with --strict), 2 for bad usage."
        ),
    )
    p.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION_DIR", help="folder(s) holding a submission.yaml")
    p.add_argument("--json", action="store_true", help="print the machine-readable report (a JSON list) instead of text")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="also write DIR/<dataset>__<id>.validation.json per submission (the only thing written)")
    p.add_argument("--strict", action="store_true",
                   help="warnings count as errors (unfinished FILL-IN placeholders, suspicious pixel ranges); the CI uses it")
    p.add_argument("--data-root", help="where real datasets live, for the class-balance and leakage checks "
                   "(default: $CONDENSEBENCH_DATA)")
    p.add_argument("--no-leakage", action="store_true", help="skip the test-split near-duplicate search")
    p.add_argument("--require-data", action="store_true",
                   help="a dataset whose files are missing (balance or leakage not checkable) is an error, not a note")
    p.add_argument("--fetch", action="store_true",
                   help="download files listed by url into the content-addressed cache (verified) to check them")
    p.add_argument("--submissions-root", type=Path, default=None,
                   help="where existing submissions live, for the copy check (default: the checkout's submissions/)")
    p.set_defaults(func=cmd_validate)


def _report_name(report) -> str:
    name = f"{report.dataset or 'unknown'}__{report.submission_id or Path(report.path).name}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name) + ".validation.json"


def cmd_validate(args) -> int:
    from ..submission.validate import validate_submission

    if args.out is not None:
        if args.out.exists() and not args.out.is_dir():
            raise CondenseBenchError(f"--out {args.out} is not a folder")
    reports = []
    for directory in args.submissions:
        report = validate_submission(directory, data_root=args.data_root, leakage=not args.no_leakage,
                                     submissions_root=args.submissions_root, fetch=args.fetch, strict=args.strict,
                                     require_data=args.require_data)
        reports.append(report)
        if not args.json:
            print(report.summary())
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / _report_name(report)).write_text(report.to_json() + "\n")
    if args.json:
        json.dump([r.to_dict() for r in reports], sys.stdout, indent=1)
        print()
    return 0 if all(r.ok for r in reports) else 1
