"""`condensebench datasets list|show|prepare|fingerprint`."""
from __future__ import annotations

import json
from pathlib import Path

from ..datasets import list_cards, load_card, load_split
from ..datasets.prepare import prepare_from_archive
from ..paths import data_root


def register(sub) -> None:
    p = sub.add_parser("datasets", help="the dataset cards, and preparing local copies")
    dsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    dsub.add_parser("list", help="one line per dataset card").set_defaults(func=cmd_list)
    show = dsub.add_parser("show", help="a dataset card, validated")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)
    prep = dsub.add_parser("prepare", help="unpack a dataset archive into the data root (paths checked)")
    prep.add_argument("name")
    prep.add_argument("--archive", required=True, type=Path, help="a .tar or .tar.gz of the ImageFolder tree")
    prep.add_argument("--data-root", help="where datasets live (default: $CONDENSEBENCH_DATA)")
    prep.add_argument("--quiet", action="store_true")
    prep.set_defaults(func=cmd_prepare)
    fp = dsub.add_parser("fingerprint", help="decode a split and print its sha256 fingerprint (to pin in the card)")
    fp.add_argument("name")
    fp.add_argument("--split", choices=["test", "train"], default="test")
    fp.add_argument("--data-root")
    fp.add_argument("--quiet", action="store_true")
    fp.set_defaults(func=cmd_fingerprint)


def cmd_list(args) -> int:
    for name in list_cards():
        card = load_card(name)
        pinned = "pinned" if card.test_fingerprint else "unpinned"
        where = "embedded" if card.embedded else card.source.kind
        print(f"{name:14s} {card.num_classes:5d} classes  {card.image_size:4d}px  "
              f"train {card.train_size:>9,}  test {card.test_size:>6,}  {where:22s} test split {pinned}")
    return 0


def cmd_show(args) -> int:
    card = load_card(args.name)
    if args.json:
        print(json.dumps(card.model_dump(mode="json"), indent=2))
    else:
        import yaml

        print(yaml.safe_dump(card.model_dump(mode="json"), sort_keys=False, width=100), end="")
    return 0


def cmd_prepare(args) -> int:
    card = load_card(args.name)
    target = prepare_from_archive(card, args.archive, data_root(args.data_root), quiet=args.quiet)
    print(f"{card.name}: unpacked into {target}")
    return 0


def cmd_fingerprint(args) -> int:
    card = load_card(args.name)
    split = load_split(card, args.split, args.data_root, quiet=args.quiet)
    print(split.fingerprint)
    return 0
