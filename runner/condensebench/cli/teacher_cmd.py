"""`condensebench teacher train`: the small teachers the digits kd protocol pins."""
from __future__ import annotations

from pathlib import Path

from ..runner.teacher_training import train_teacher


def register(sub) -> None:
    p = sub.add_parser("teacher", help="train a small teacher on a dataset's full train split")
    tsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    t = tsub.add_parser("train", help="train and save a teacher (safetensors); prints its sha256 to pin in a protocol")
    t.add_argument("dataset", help="dataset card name (small datasets: digits)")
    t.add_argument("--protocol", required=True, help="protocol whose teacher model is trained (e.g. digits-kd)")
    t.add_argument("--out", type=Path, required=True, help="output .safetensors file")
    t.add_argument("--epochs", type=int, default=60)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--data-root")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    digest, acc = train_teacher(args.dataset, args.protocol, args.out, epochs=args.epochs, seed=args.seed,
                                data_root=args.data_root, quiet=args.quiet)
    print(f"teacher test accuracy {acc:.2f}%  sha256 {digest}  -> {args.out}")
    return 0
