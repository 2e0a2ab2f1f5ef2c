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
    p.add_argument("--force", action="store_true",
                   help="re-run seeds already tracked in MLflow for the same (submission hash, protocol hash, seed); "
                        "the replaced seed runs are soft-deleted")
    p.add_argument("--no-track", action="store_true",
                   help="do not log to MLflow and do not reuse tracked seeds (default: log to $MLFLOW_TRACKING_URI, "
                        "else ./mlflow.db)")
    p.add_argument("--backend", choices=["local", "docker"], default="local",
                   help="where it runs: in this process (local), or isolated in the pinned image "
                        "(docker; build it with `make image`, see docs/docker.md)")
    d = p.add_argument_group("docker backend (--backend docker)")
    d.add_argument("--image", default=None,
                   help="image to run (default: $CONDENSEBENCH_IMAGE, else condensebench:latest)")
    d.add_argument("--timeout", type=float, default=6 * 3600, metavar="SECONDS",
                   help="wall-clock limit per evaluation; the container is killed after it (default: 21600)")
    d.add_argument("--memory", default="8g", help="memory limit, e.g. 4g (default: 8g)")
    d.add_argument("--cpus", type=float, default=None, help="CPU limit (default: all cores)")
    d.add_argument("--pids-limit", type=int, default=1024, help="process and thread limit (default: 1024)")
    p.set_defaults(func=cmd_evaluate)


def result_path(out: Path, dataset: str, sub_id: str, protocol_name: str, version: int) -> Path:
    return out / dataset / sub_id / f"{protocol_name}@v{version}.json"


def cmd_evaluate(args) -> int:
    protocols = [load_protocol(ref) for ref in args.protocol]
    if args.seeds is not None and args.seeds < 1:
        raise CondenseBenchError("--seeds must be at least 1")
    from ..runner.evaluation import resolve_device

    resolve_device(args.device)  # a missing GPU is one clear message, before any work
    from ..submission import read_submission_yaml

    if args.backend == "docker":
        return cmd_evaluate_docker(args, protocols)
    from types import SimpleNamespace

    from ..runner.evaluation import check_compatible

    tracker = None
    for directory in args.submissions:
        sub = read_submission_yaml(directory)
        for proto in protocols:
            if args.skip_incompatible and (sub.dataset not in proto.datasets or proto.label_regime not in sub.label_regimes):
                continue
            check_compatible(proto, SimpleNamespace(submission=sub))  # before anything is tracked
            seeds = list(range(args.seeds or proto.seeds))
            if not args.no_track and tracker is None:
                from ..tracking import Tracker

                tracker = Tracker()
            if tracker is None:
                result = evaluate(directory, proto, seeds=seeds, device=args.device,
                                  data_root=args.data_root, quiet=args.quiet)
                note = "not tracked (--no-track)"
            else:
                result, note = evaluate_tracked(tracker, directory, sub, proto, seeds, args)
            path = result_path(args.out, sub.dataset, sub.id, proto.name, proto.version)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result.model_dump(mode="json"), indent=1) + "\n")
            print_summary(result, path)
            print(f"  {note}")
    return 0


def cmd_evaluate_docker(args, protocols) -> int:
    """--backend docker: the same evaluation, run by the pinned image (docs/docker.md)."""
    from ..backends.docker_backend import run_in_docker
    from ..result import EvaluationResult
    from ..submission import read_submission_yaml

    tracker = None
    for directory in args.submissions:
        sub = read_submission_yaml(directory)
        for ref, proto in zip(args.protocol, protocols):
            if args.skip_incompatible and (sub.dataset not in proto.datasets or proto.label_regime not in sub.label_regimes):
                continue
            data = run_in_docker(submission_dir=directory, protocol=ref, seeds=args.seeds, device=args.device,
                                 out_dir=args.out, data_root=args.data_root, image=args.image,
                                 timeout_s=args.timeout, memory=args.memory, cpus=args.cpus,
                                 pids_limit=args.pids_limit)
            result = EvaluationResult.model_validate(data)
            print_summary(result, result_path(args.out, sub.dataset, sub.id, proto.name, proto.version))
            env = result.environment
            print(f"  ran in {env.image_id[:19]} on Docker {env.docker_engine} (run log: {args.out / 'docker-runs.jsonl'})")
            if args.no_track:
                print("  not tracked (--no-track)")
            else:  # logged after the container finished: seeds tracked before are kept unless --force
                from ..tracking import Tracker
                from ..tracking.store import display_uri

                tracker = tracker or Tracker()
                run_id = tracker.log_evaluation(result, force=args.force)
                print(f"  tracked in MLflow {display_uri(tracker.uri)}, run {run_id}")
    return 0


def evaluate_tracked(tracker, directory: Path, sub, proto, seeds: list[int], args):
    """Evaluate only the seeds MLflow does not have yet (all of them with --force), log each
    seed as it finishes, and rebuild the result from MLflow when every seed is tracked."""
    from ..environment import describe
    from ..result import SeedRecord
    from ..tracking import EntryContext, combine
    from ..tracking.store import display_uri

    session = tracker.evaluation(EntryContext.from_submission(sub, directory, proto), force=args.force)
    where = f"MLflow {display_uri(tracker.uri)}, experiment {session.experiment_name}"
    todo = list(seeds) if args.force else [s for s in seeds if s not in session.tracked]
    if not todo and session.has_result:
        result = session.reconstruct(seeds)
        session.refresh_metadata()
        return result, f"reused seeds {seeds} from {where}, run {session.parent_id} (--force re-runs them)"
    if not todo:  # every seed tracked, but the parent was never closed: re-run the last one
        session.force, todo = True, [seeds[-1]]
    reused = [s for s in seeds if s not in todo]
    if reused:
        print(f"{sub.id} / {proto.name}@v{proto.version}: seeds {reused} already tracked in MLflow, running {todo}")
    environment = describe(args.device)
    try:  # the parent is created (or marked RUNNING) when the first seed is logged
        fresh = evaluate(directory, proto, seeds=todo, device=args.device, data_root=args.data_root, quiet=args.quiet,
                         on_seed=lambda r: session.log_seed(SeedRecord.model_validate(r.__dict__), environment))
        session.finish(fresh)
    except BaseException:
        session.fail()
        raise
    result = combine(fresh, [session.record(s) for s in seeds])
    note = f"tracked in {where}, run {session.parent_id}"
    return result, note + (f" (seeds {reused} reused)" if reused else "")


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
