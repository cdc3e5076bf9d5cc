"""Command line for the dataset cache.

    python -m digitlib.data fetch mnist                     # full MNIST (profile full)
    python -m digitlib.data fetch svhn --split train        # SVHN format 1: train, test or extra
    python -m digitlib.data prepare svhn --split train      # 54x54 crops into data/svhn/train_54.h5
    python -m digitlib.data synth --split train -n 1000 --out somewhere/   # synthetic format-1 split

Every failure prints one line, ``error: ...``, and exits with status 1.
"""
from __future__ import annotations

import argparse
import math
import sys

from .errors import DataError

SPLITS = ("train", "test", "extra")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def margin(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0 (0.3 for 30%), got {text}")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m digitlib.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-home", help="dataset cache folder (default: $DIGITLIB_DATA or data/)")
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download a data set (checksum-verified)")
    fetch.add_argument("dataset", choices=["mnist", "svhn"])
    fetch.add_argument("--split", choices=SPLITS, default="train")
    prepare = sub.add_parser("prepare", help="preprocess an SVHN split into its HDF5 cache")
    prepare.add_argument("dataset", choices=["svhn"])
    prepare.add_argument("--split", choices=SPLITS, default="train")
    prepare.add_argument("--margin", type=margin, default=0.0, help="grow the crop, e.g. 0.3 for 30%%")
    prepare.add_argument("--overwrite", action="store_true", help="rebuild an existing cache")
    synth = sub.add_parser("synth", help="write synthetic house numbers in SVHN format 1")
    synth.add_argument("--split", choices=SPLITS, default="train")
    synth.add_argument("-n", type=positive_int, default=1000, help="number of images (at least 1)")
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
            from .svhn import svhn_split

            split = svhn_split(args.split, args.margin, args.data_home, rebuild=args.overwrite)
            print(f"{len(split):,} prepared images in {split.path}")
        elif args.command == "synth":
            from .synth import generate_split

            generate_split(args.out, args.n, seed=args.seed)
    except (DataError, OSError) as err:
        print(f"error: {err}" if isinstance(err, DataError) else f"error: {type(err).__name__}: {err}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
