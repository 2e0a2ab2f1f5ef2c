#!/usr/bin/env python3
"""CPU smoke evaluation of submission folders: load each one exactly as `evaluate`
does and train a fresh student for a couple of epochs under a shortened copy of
the first compatible protocol, then score it on the real test split.

    python .github/scripts/smoke_evaluate.py [--data-root ROOT] [--epochs 2] DIR...

It proves that the entry loads, trains and scores; the accuracy means nothing.
A dataset whose files are not on this runner is skipped with a notice (the full
evaluation on the GPU runner has them). Exit status 1 when any entry fails.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml


def shortened(protocol_path: Path, epochs: int, folder: Path) -> Path:
    data = yaml.safe_load(protocol_path.read_text())
    data["epochs"] = min(int(data["epochs"]), epochs)
    sched = data.get("schedule") or {}
    if "milestones" in sched:
        sched["milestones"] = [m for m in sched["milestones"] if 0 < m <= data["epochs"]]
    if data.get("warmup"):
        data["warmup"] = None
    data["name"] = f"{data['name']}-smoke"
    out = folder / f"{data['name']}.yaml"
    out.write_text(yaml.safe_dump(data))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", nargs="+", type=Path)
    parser.add_argument("--data-root")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    from condensebench.errors import CondenseBenchError, DataMissingError
    from condensebench.protocol import load_protocol
    from condensebench.protocol.store import list_protocols, load_protocol_file, resolve_protocol_path
    from condensebench.runner.evaluation import evaluate
    from condensebench.submission import read_submission_yaml

    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for directory in args.submissions:
            try:
                sub = read_submission_yaml(directory)
                names = sorted(list_protocols())
                compatible = [n for n in names if sub.dataset in load_protocol(n).datasets
                              and load_protocol(n).label_regime in sub.label_regimes]
                # hard labels first: they need no teacher weights
                compatible.sort(key=lambda n: load_protocol(n).label_regime != "hard")
                if not compatible:
                    print(f"::notice::{directory}: no protocol evaluates {sub.dataset} in {sub.label_regimes}; smoke skipped")
                    continue
                proto = load_protocol_file(shortened(resolve_protocol_path(compatible[0]), args.epochs, Path(tmp)))
                result = evaluate(directory, proto, seeds=[0], data_root=args.data_root, quiet=True)
                print(f"{directory}: {compatible[0]} shortened to {proto.epochs} epoch(s): top-1 "
                      f"{result.per_seed[0].top1:.2f}% (smoke run, not a result), {result.wall_clock_seconds:.1f}s")
            except DataMissingError as exc:
                print(f"::notice::{directory}: dataset not on this runner, smoke skipped ({exc})")
            except CondenseBenchError as exc:
                failed += 1
                print(f"::error::{directory}: {exc}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
