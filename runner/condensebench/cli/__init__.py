"""The `condensebench` command line: one module per subcommand."""
from __future__ import annotations

import argparse
import sys

from ..errors import CondenseBenchError
from . import baseline_cmd, datasets_cmd, evaluate_cmd, import_cmd, leaderboard_cmd, protocols_cmd, teacher_cmd, validate_cmd

# Each module has register(subparsers) and sets `func` on its parser.
COMMANDS = [evaluate_cmd, protocols_cmd, datasets_cmd, teacher_cmd, baseline_cmd, leaderboard_cmd, validate_cmd, import_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="condensebench",
        description=(
            "Evaluate condensed training sets (distilled sets and coresets) under frozen, "
            "versioned protocols, so that entries are comparable."
        ),
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"condensebench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CondenseBenchError as exc:
        print(f"condensebench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("condensebench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
