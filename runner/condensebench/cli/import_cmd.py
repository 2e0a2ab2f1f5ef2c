"""`condensebench import`: turn a published artifact into a canonical submission folder."""
from __future__ import annotations

from pathlib import Path

from ..submission.importers import FORMATS


def register(sub) -> None:
    p = sub.add_parser(
        "import",
        help="convert a published condensed set (torch files, npz, image folder, index list) into a submission folder",
        description=(
            "Reads a published artifact without running code from it (PyTorch files through an allow-listed "
            "torch.load(weights_only=True), npz without pickles, PNG/JPEG with a pixel limit, archives unpacked "
            "with path checks) and writes a canonical submission: PNG folder or safetensors data, the declared "
            "pixel space, every file's sha256 and size, and a submission.yaml whose FILL-IN placeholders you complete "
            "before `condensebench validate --strict` accepts it."
        ),
        epilog=(
            "examples:\n"
            "  condensebench import torch-pair artifacts/dc-cifar10-ipc1 --dataset cifar10-jpeg --out my-dc-ipc1 \\\n"
            "      --normalized-mean 0.4914 0.4822 0.4465 --normalized-std 0.2023 0.1994 0.2010\n"
            "  condensebench import npz mtt.npz --dataset cifar10 --out my-mtt --pixel-space zca --zca-params zca.npz\n"
            "  condensebench import image-folder rded.tar.gz --dataset imagenette --out my-rded\n"
            "  condensebench import coreset-indices herding.npy --dataset cifar10-jpeg --out my-herding --data-root ~/data\n"
        ),
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    p.add_argument("format", choices=FORMATS, help="the artifact's format")
    p.add_argument("src", type=Path, metavar="SRC",
                   help="torch-pair: a folder with an images .pt and a labels .pt (or one .pt holding both); "
                   "npz: the .npz; image-folder: a folder or a .tar(.gz)/.zip of <class>/<image>; "
                   "coreset-indices: a text or .npy list of train indices")
    p.add_argument("--dataset", required=True, help="dataset card name (see `condensebench datasets list`)")
    p.add_argument("--out", required=True, type=Path, help="the submission folder to write (new or empty)")
    p.add_argument("--id", dest="sub_id", help="entry id (default: the --out folder's name)")
    p.add_argument("--ipc", type=int, help="images per class (default: inferred from the labels)")
    p.add_argument("--force", action="store_true", help="replace the contents of a non-empty --out")
    g = p.add_argument_group("pixel space (torch-pair, npz)")
    g.add_argument("--pixel-space", choices=["uint8", "unit", "normalized", "zca"],
                   help="how the images were saved: uint8 (or floats in [0, 1], 'unit'), normalised, ZCA-whitened")
    g.add_argument("--normalized-mean", type=float, nargs="+", metavar="M", help="per-channel mean the set was normalised with")
    g.add_argument("--normalized-std", type=float, nargs="+", metavar="S", help="per-channel std the set was normalised with")
    g.add_argument("--zca-params", type=Path, metavar="FILE",
                   help="npz/safetensors with the whitening 'mean' (D,) and 'matrix' (D, D): whitened = (x - mean) @ matrix")
    g.add_argument("--zca-input", choices=["unit", "normalized"], default="unit",
                   help="what x was when whitened: unit [0, 1] pixels (default) or normalised pixels")
    g.add_argument("--zca-input-mean", type=float, nargs="+", metavar="M")
    g.add_argument("--zca-input-std", type=float, nargs="+", metavar="S")
    k = p.add_argument_group("tensor names")
    k.add_argument("--images", metavar="FILE", help="torch-pair: the images file inside SRC")
    k.add_argument("--labels", metavar="FILE", help="torch-pair: the labels file inside SRC")
    k.add_argument("--images-key", help="name of the images tensor/array (default: guessed, 'images' for npz)")
    k.add_argument("--labels-key", help="name of the labels tensor/array (default: guessed, 'labels' for npz)")
    k.add_argument("--soft-labels-key", default="soft_labels", help="npz: name of the soft labels array (default soft_labels)")
    k.add_argument("--soft-kind", choices=["logits", "probabilities"], default="logits", help="what the soft labels are")
    p.add_argument("--data-root", help="coreset-indices: where the dataset lives, to infer the IPC and check balance")
    p.set_defaults(func=cmd_import)


def cmd_import(args) -> int:
    from ..submission.importers import import_artifact
    from ..submission.loader import load_submission

    common = dict(dataset=args.dataset, out=args.out, sub_id=args.sub_id, ipc=args.ipc, force=args.force)
    tensor = dict(pixel_space=args.pixel_space, normalized_mean=args.normalized_mean, normalized_std=args.normalized_std,
                  soft_kind=args.soft_kind, zca_input=args.zca_input, zca_input_mean=args.zca_input_mean,
                  zca_input_std=args.zca_input_std)
    if args.format == "torch-pair":
        if args.zca_params is not None:
            tensor["zca"] = _zca_params(args.zca_params)
        kwargs = dict(common, **tensor, images=args.images, labels=args.labels, images_key=args.images_key,
                      labels_key=args.labels_key)
    elif args.format == "npz":
        kwargs = dict(common, **tensor, images_key=args.images_key or "images", labels_key=args.labels_key or "labels",
                      soft_labels_key=args.soft_labels_key, zca_params=args.zca_params)
    elif args.format == "coreset-indices":
        kwargs = dict(common, data_root=args.data_root)
    else:
        kwargs = common
    out = import_artifact(args.format, args.src, **kwargs)
    # the written folder must load as the runner will load it
    cset = load_submission(out, args.data_root) if args.format != "coreset-indices" or args.data_root else None
    sub = cset.submission if cset else None
    what = (f"{len(cset.labels)} images, IPC {sub.ipc}, {sub.data.format}"
            f"{', pixel space ' + sub.data.pixel_space.kind if hasattr(sub.data, 'pixel_space') else ''}") if cset else "indices"
    print(f"wrote {out}: {what}")
    print(f"next: fill in the FILL-IN fields of {out / 'submission.yaml'}, then `condensebench validate {out}`")
    return 0


def _zca_params(path: Path):
    from ..submission.importers import _read_params
    from ..errors import CondenseBenchError

    params = _read_params(path)
    if "mean" not in params or "matrix" not in params:
        raise CondenseBenchError(f"{path}: needs arrays 'mean' and 'matrix'")
    return params["mean"], params["matrix"]
