"""`condensebench protocols list|show|lock`."""
from __future__ import annotations

import json

from ..errors import CondenseBenchError
from ..protocol import list_protocols, load_protocol, protocol_hash
from ..protocol.store import compute_lock, lock_path


def register(sub) -> None:
    p = sub.add_parser("protocols", help="list and show the frozen evaluation protocols")
    psub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = psub.add_parser("list", help="one line per protocol: name, version, regime, model, epochs, hash")
    ls.set_defaults(func=cmd_list)
    show = psub.add_parser("show", help="the resolved protocol (every default filled in) with its hash")
    show.add_argument("name", help="NAME (latest version), NAME@VERSION, or a YAML file")
    show.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    show.set_defaults(func=cmd_show)
    lock = psub.add_parser("lock", help="check (or --write) protocols/LOCK.json, the hash of every released version")
    lock.add_argument("--write", action="store_true", help="record hashes of new versions (never changes existing ones)")
    lock.set_defaults(func=cmd_lock)


def cmd_list(args) -> int:
    rows = []
    for name, versions in list_protocols().items():
        proto = load_protocol(name)
        datasets = ",".join(proto.datasets)
        rows.append((f"{name}@{max(versions)}", proto.label_regime, proto.model.arch, str(proto.epochs), protocol_hash(proto)[:12], datasets))
    header = ("PROTOCOL", "LABELS", "MODEL", "EPOCHS", "HASH", "DATASETS")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(5)]
    for r in [header] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[5])
    return 0


def cmd_show(args) -> int:
    proto = load_protocol(args.name)
    data = {"hash": protocol_hash(proto), **proto.model_dump(mode="json")}
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        import yaml

        print(yaml.safe_dump(data, sort_keys=False, width=100), end="")
    return 0


def cmd_lock(args) -> int:
    path = lock_path()
    current = compute_lock()
    recorded = json.loads(path.read_text()) if path.is_file() else {}
    changed = [k for k in recorded if k in current and recorded[k] != current[k]]
    removed = [k for k in recorded if k not in current]
    added = [k for k in current if k not in recorded]
    if changed or removed:
        raise CondenseBenchError(
            "released protocol versions were edited or removed: "
            + ", ".join(changed + removed)
            + ". A protocol is frozen: restore the file and add a new version instead."
        )
    if added and not args.write:
        raise CondenseBenchError(f"new protocol versions not in {path.name}: {', '.join(added)} (run with --write)")
    if added:
        recorded.update({k: current[k] for k in added})
        path.write_text(json.dumps(dict(sorted(recorded.items())), indent=2) + "\n")
        print(f"recorded {', '.join(added)} in {path}")
    else:
        print(f"{len(current)} protocol versions match {path.name}")
    return 0
