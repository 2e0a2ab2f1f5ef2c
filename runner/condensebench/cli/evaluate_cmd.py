"""`condensebench evaluate`: train fresh students on submissions under protocols."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import CondenseBenchError
from ..protocol import load_protocol
from ..runner.evaluation import evaluate


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="train N fresh students on a condensed set under a protocol and score them on the real test split",
        description=(
            "Trains one fresh student per seed on each submission under each protocol, scores it on the "
            "dataset's real test split after the last epoch (no model selection), prints per-seed and "
            "mean +- std top-1 accuracy, and writes a JSON result per (submission, protocol)."
        ),
    )
    p.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION_DIR",
                   help="folder(s) holding a submission.yaml")
    p.add_argument("--protocol", "-p", action="append", required=True, metavar="NAME",
                   help="protocol NAME, NAME@VERSION or a YAML file; repeat for several")
    p.add_argument("--seeds", type=int, default=None,
                   help="number of seeds, 0..N-1 (default: the protocol's, 3 for the shipped ones)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--data-root", help="where real datasets live (default: $CONDENSEBENCH_DATA)")
    p.add_argument("--out", type=Path, default=Path("results"),
                   help="folder for result JSON files: OUT/<dataset>/<submission id>/<protocol>@v<N>.json (default: results)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars (for scripts)")
    p.add_argument("--skip-incompatible", action="store_true",
                   help="skip (submission, protocol) pairs whose dataset or label regime do not match instead of failing")
    p.set_defaults(func=cmd_evaluate)


def result_path(out: Path, dataset: str, sub_id: str, protocol_name: str, version: int) -> Path:
    return out / dataset / sub_id / f"{protocol_name}@v{version}.json"


def cmd_evaluate(args) -> int:
    protocols = [load_protocol(ref) for ref in args.protocol]
    if args.seeds is not None and args.seeds < 1:
        raise CondenseBenchError("--seeds must be at least 1")
    from ..submission import read_submission_yaml

    for directory in args.submissions:
        sub = read_submission_yaml(directory)
        for proto in protocols:
            if args.skip_incompatible and (sub.dataset not in proto.datasets or proto.label_regime not in sub.label_regimes):
                continue
            n = args.seeds or proto.seeds
            result = evaluate(directory, proto, seeds=list(range(n)), device=args.device,
                              data_root=args.data_root, quiet=args.quiet)
            path = result_path(args.out, sub.dataset, sub.id, proto.name, proto.version)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result.model_dump(mode="json"), indent=1) + "\n")
            print_summary(result, path)
    return 0


def print_summary(result, path: Path, stream=sys.stdout) -> None:
    sub, proto = result.submission, result.protocol
    print(f"{sub.id} ({sub.kind}, {sub.dataset}, IPC {sub.ipc}) under {proto.name}@v{proto.version} "
          f"[{proto.hash[:12]}]", file=stream)
    for s in result.per_seed:
        top5 = f"  top-5 {s.top5:6.2f}%" if s.top5 is not None else ""
        print(f"  seed {s.seed}: top-1 {s.top1:6.2f}%{top5}  train {s.train_seconds:7.1f}s  eval {s.eval_seconds:5.1f}s",
              file=stream)
    print(f"  mean {result.top1_mean:.2f} +- {result.top1_std:.2f} % over {len(result.per_seed)} seeds, "
          f"wall-clock {result.wall_clock_seconds:.1f}s -> {path}", file=stream)
