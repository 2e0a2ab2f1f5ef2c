"""`condensebench leaderboard build`: the static site from the tracking store."""
from __future__ import annotations

from pathlib import Path

from ..errors import CondenseBenchError


def register(sub) -> None:
    p = sub.add_parser("leaderboard", help="build the static leaderboard site from the MLflow tracking store")
    psub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = psub.add_parser(
        "build", help="render the site (tables, entry pages, plots, data/leaderboard.json) into --out",
        description=(
            "Reads every finished evaluation from MLflow ($MLFLOW_TRACKING_URI, else ./mlflow.db) and renders a "
            "static site that works from file:// and any static host. Fails when the store has no evaluations, "
            "when a protocol has no finished ones, or when an evaluation has fewer seeds than its protocol requires."
        ),
    )
    b.add_argument("--out", type=Path, default=Path("site"), help="output folder, replaced on each build (default: site)")
    b.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///./mlflow.db)")
    b.add_argument("--protocol", "-p", action="append", metavar="NAME[@VERSION]",
                   help="only these protocols (repeatable); each must have an experiment")
    b.add_argument("--allow-incomplete", action="store_true",
                   help="show evaluations with fewer seeds than the protocol requires, unranked and marked, instead of failing")
    b.add_argument("--include-variants", action="store_true",
                   help="also show evaluations under local protocol files that are not a released protocol "
                        "(experiments condensebench/<name>@v<N>~<hash>); they are marked on the site")
    b.add_argument("--mlflow-url", help="base URL of an MLflow UI for links to runs (default: the tracking URI when it is http(s))")
    b.add_argument("--no-curves", action="store_true", help="skip the training-curve plots (no artifact reads)")
    b.set_defaults(func=cmd_build)


def cmd_build(args) -> int:
    from ..leaderboard import build

    if args.mlflow_url and not args.mlflow_url.startswith(("http://", "https://")):
        raise CondenseBenchError("--mlflow-url must be an http(s) URL")
    info = build(args.out, uri=args.tracking_uri, protocols=args.protocol, allow_incomplete=args.allow_incomplete,
                 include_variants=args.include_variants,
                 mlflow_ui=args.mlflow_url.rstrip("/") if args.mlflow_url else None, curves=not args.no_curves)
    board = info["board"]
    print(f"{info['entries']} entries in {info['groups']} tables from {board.source} -> {args.out}/index.html "
          f"(read {info['collect_seconds']:.1f}s, render {info['render_seconds']:.1f}s)")
    missing = [g for g in board.groups if g.baseline is None]
    if missing:
        print(f"  {len(missing)} table(s) without a random baseline: "
              + ", ".join(f"{g.dataset} IPC {g.ipc} {g.label_regime} {g.protocol_label}" for g in missing[:5]))
    return 0
