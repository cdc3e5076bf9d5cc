"""Command line for the dataset cache.

    python -m digitlib.data fetch mnist                     # full MNIST (profile full)
    python -m digitlib.data fetch svhn --split train        # SVHN format 1: train, test or extra
    python -m digitlib.data prepare svhn --split train      # 54x54 crops into data/svhn/train_54.h5
    python -m digitlib.data synth --split train -n 1000 --out somewhere/   # synthetic format-1 split
"""
from __future__ import annotations

import argparse
import sys

from .errors import DataError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m digitlib.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-home", help="dataset cache folder (default: $DIGITLIB_DATA or data/)")
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download a data set (checksum-verified)")
    fetch.add_argument("dataset", choices=["mnist", "svhn"])
    fetch.add_argument("--split", choices=["train", "test", "extra"], default="train")
    prepare = sub.add_parser("prepare", help="preprocess an SVHN split into its HDF5 cache")
    prepare.add_argument("dataset", choices=["svhn"])
    prepare.add_argument("--split", choices=["train", "test", "extra"], default="train")
    prepare.add_argument("--margin", type=float, default=0.0, help="grow the crop, e.g. 0.3 for 30%%")
    prepare.add_argument("--overwrite", action="store_true", help="rebuild an existing cache")
    synth = sub.add_parser("synth", help="write synthetic house numbers in SVHN format 1")
    synth.add_argument("--split", choices=["train", "test", "extra"], default="train")
    synth.add_argument("-n", type=int, default=1000)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch" and args.dataset == "mnist":
            from .mnist import load_mnist

            (x, _), (xt, _) = load_mnist("keras", data_home=args.data_home, download=True)
            print(f"full MNIST ready: {len(x):,} training and {len(xt):,} test digits")
        elif args.command == "fetch":
            from .svhn import fetch_svhn

            print(f"SVHN {args.split} ready in {fetch_svhn(args.split, args.data_home)}")
        elif args.command == "prepare":
            from .svhn import cache_name, prepare_split, svhn_folder, svhn_split

            folder = svhn_folder(args.split, args.data_home)
            out = folder.parent / cache_name(args.split, args.margin)
            if args.overwrite and (folder / "digitStruct.mat").exists():
                prepare_split(folder, out, margin=args.margin, source_label=f"SVHN format 1 ({args.split})")
            split = svhn_split(args.split, args.margin, args.data_home)
            print(f"{len(split):,} prepared images in {split.path}")
        elif args.command == "synth":
            from .synth import generate_split

            generate_split(args.out, args.n, seed=args.seed)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
