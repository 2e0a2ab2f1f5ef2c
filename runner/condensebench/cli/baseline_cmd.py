"""`condensebench baseline METHOD --dataset D --ipc N`: the project's own baselines."""
from __future__ import annotations

from pathlib import Path

from ..errors import CondenseBenchError


def register(sub) -> None:
    p = sub.add_parser(
        "baseline",
        help="build a baseline submission (random, herding, kcenter, el2n, forgetting, aum, ccs, dm)",
        description=(
            "Runs one baseline method on a dataset's train split and writes a canonical submission of kind "
            "'baseline' (coresets: indices; dm: images) with its measured construction cost. "
            "`condensebench baseline list` lists the methods."
        ),
    )
    p.add_argument("method", metavar="METHOD", help="method name, or `list`")
    p.add_argument("--dataset", "-d", help="dataset card name (e.g. digits, cifar10-jpeg)")
    p.add_argument("--ipc", type=int, help="images per class")
    p.add_argument("--seed", type=int, default=0, help="selection seed (default 0; other seeds add -s<seed> to the id)")
    p.add_argument("--out", type=Path, help="output folder (default: submissions/<dataset>/<method>-ipc<N>[-s<seed>]/)")
    p.add_argument("--data-root", help="where real datasets live (default: $CONDENSEBENCH_DATA)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--force", action="store_true", help="replace an existing submission folder")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    opts = p.add_argument_group("method options (refused by methods that do not take them)")
    opts.add_argument("--features", help="herding, kcenter: feature space (pixels, random_convnet)")
    opts.add_argument("--recipe", help="el2n, forgetting, aum, ccs, dm: recipe name in baselines/recipes/ or a YAML path")
    opts.add_argument("--order", choices=["easy", "hard"], help="el2n, forgetting, aum: keep the easiest (default) or hardest")
    opts.add_argument("--score", choices=["aum", "el2n", "forgetting"], help="ccs: the score (default aum)")
    opts.add_argument("--prune-fraction", type=float, help="ccs: hardest fraction pruned first (default 0.5)")
    opts.add_argument("--strata", type=int, help="ccs: number of score strata (default 50)")
    opts.add_argument("--iterations", type=int, help="dm: iterations (default: the recipe's)")
    p.set_defaults(func=cmd_baseline)


OPTION_FLAGS = ("features", "recipe", "order", "score", "prune_fraction", "strata", "iterations")


def cmd_baseline(args) -> int:
    from ..baselines import METHODS
    from ..baselines.runner import make_baseline
    from ..runner.evaluation import resolve_device

    if args.method == "list":
        for name in METHODS.names():
            cls = METHODS.get(name)
            print(f"{name:12s} {cls.produces:8s} {cls.summary}")
        return 0
    METHODS.get(args.method)  # unknown names: one error with suggestions
    if not args.dataset or args.ipc is None:
        raise CondenseBenchError("baseline needs --dataset and --ipc")
    options = {k: getattr(args, k) for k in OPTION_FLAGS if getattr(args, k) is not None}
    outcome = make_baseline(args.method, dataset=args.dataset, ipc=args.ipc, seed=args.seed, out=args.out,
                            data_root=args.data_root, device=resolve_device(args.device), options=options,
                            force=args.force, quiet=args.quiet)
    cost = outcome.submission.construction_cost
    scoring = f", scoring {cost.scoring_model_hours * 3600:.1f}s" if cost.scoring_model_hours else ""
    print(f"{outcome.submission.id} ({args.method}, {args.dataset}, IPC {args.ipc}): {outcome.seconds:.1f}s{scoring}, "
          f"peak memory {cost.peak_memory_gb:.2f} GB -> {outcome.directory}")
    return 0
