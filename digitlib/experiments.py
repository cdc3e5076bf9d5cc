"""The experiments of the book, sized by the profile. Chapters, the summary and the benchmark all
take them from here, so a model trained in one chapter is reused (from the results cache) by the
others."""
from __future__ import annotations

import itertools
from dataclasses import replace

from .config import active_profile
from .training import Experiment, run_experiment


def book_experiments(profile=None) -> dict[str, Experiment]:
    """All experiments by short name.

    * ``mnist_cnn``: the report's MNIST network on the profile's sequences.
    * ``inception_cnn``, ``inception_deeper``: the report's Inception experiments, and
      ``mnist_cnn_subset``, the MNIST network on the same (in ``quick``, smaller) training set with
      the same batch size (16), for a fair comparison.
    * ``box_weight_<w>``: the report's house-number network with box-loss weight ``w`` (its Fig. 15).
      ``svhn_report`` is the weight the report settled on, 10.
    * ``svhn_cosine``, ``svhn_shift``, ``svhn_margin``: the report's future-work items, one at a
      time: a cosine learning-rate schedule, random shifts, a 30% margin around the crop.
    * ``svhn_masked``: the report's network with the box loss on real digits only
      (:func:`~digitlib.training.masked_box_mse`).
    * ``svhn_strong``: the stronger network with the schedule, the shifts and that box loss.
    * ``mnist_strong``: the stronger MNIST network (:func:`~digitlib.models.mnist_strong_cnn`, one
      shared reader for the five digit slots) with a cosine schedule and shifts of up to 2 pixels,
      for at most 10 epochs, in mixed bfloat16 precision where the CPU computes it natively (the
      ``full`` profile's target: 99.5% character and 98% sequence accuracy on the report's 40,000
      sequences, trained in under 15 minutes on 2 CPU cores).
    """
    p = profile or active_profile()
    limit = p.inception_train_sequences
    exps = {
        "mnist_cnn": Experiment("mnist_cnn", "mnist_cnn", "mnist"),
        "mnist_cnn_subset": Experiment("mnist_cnn_subset", "mnist_cnn", "mnist", train_limit=limit, batch_size=16),
        # batches of 16: the module's 256 full-resolution channels would take over 2 GB at 64
        "inception_cnn": Experiment("inception_cnn", "inception_cnn", "mnist", train_limit=limit, batch_size=16),
        "inception_deeper": Experiment("inception_deeper", "inception_deeper", "mnist", train_limit=limit,
                                       batch_size=16),
        # at most 10 epochs, in bfloat16 where the CPU has it: the report's 40,000 sequences in
        # under 15 minutes on 2 cores
        "mnist_strong": Experiment("mnist_strong", "mnist_strong_cnn", "mnist", epochs=min(p.epochs, 10),
                                   lr_schedule="cosine", shift=2, precision="auto"),
    }
    for w in p.box_loss_weights:
        exps[f"box_weight_{w:g}"] = Experiment(f"svhn_localizer_w{w:g}", "svhn_localizer", "house_numbers",
                                               box_loss_weight=w)
    report = Experiment("svhn_localizer_w10", "svhn_localizer", "house_numbers", box_loss_weight=10.0)
    exps["svhn_report"] = report
    exps["svhn_cosine"] = replace(report, name="svhn_cosine", lr_schedule="cosine")
    exps["svhn_shift"] = replace(report, name="svhn_shift", shift=4)
    exps["svhn_margin"] = replace(report, name="svhn_margin", margin=0.3)
    exps["svhn_masked"] = replace(report, name="svhn_masked", box_loss="masked_mse")
    # batches of 32 keep chapter 8's kernel, which trains ten models, under Binder's 2 GB
    exps["svhn_strong"] = Experiment("svhn_strong", "strong_cnn", "house_numbers", box_loss_weight=10.0,
                                     lr_schedule="cosine", shift=4, batch_size=32, box_loss="masked_mse")
    return exps


def run(name: str, profile=None, verbose: int = 1):
    """Train (or reuse) the book experiment ``name`` and return its :class:`~digitlib.training.Result`."""
    exps = book_experiments(profile)
    if name not in exps:
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(exps)}")
    return run_experiment(exps[name], profile, verbose=verbose)


def search_grid(profile=None) -> dict[str, list]:
    """The small hyperparameter grid of the "beyond the report" chapter."""
    return {"learning_rate": [5e-4, 2e-3], "batch_size": [32, 64]}


def grid_search(base: str = "svhn_report", grid: dict | None = None, profile=None, verbose: int = 0):
    """Train ``base`` with every combination of ``grid`` for the profile's ``search_epochs``.

    Returns a list of ``(settings, result)`` sorted best first by *validation* sequence accuracy
    (the test set is not looked at to choose).
    """
    p = profile or active_profile()
    grid = grid or search_grid(p)
    base_exp = book_experiments(p)[base]
    runs = []
    for values in itertools.product(*grid.values()):
        settings = dict(zip(grid, values))
        exp = replace(base_exp, name=f"search_{base}", epochs=p.search_epochs, **settings)
        runs.append((settings, run_experiment(exp, p, verbose=verbose)))
    return sorted(runs, key=lambda r: -r[1].metrics["validation"]["sequence_accuracy"])


#: the experiments each chapter trains (or reuses), for the assignment guide's time table
CHAPTER_EXPERIMENTS = {
    "4 Reading MNIST sequences": ["mnist_cnn", "mnist_strong"],
    "5 An Inception experiment": ["mnist_cnn_subset", "inception_cnn", "inception_deeper"],
    "6 House numbers with boxes": ["svhn_report"],
    "7 Weighing the losses": ["box_weight_1", "box_weight_2", "box_weight_20", "box_weight_50"],
    "8 Beyond the report": ["svhn_cosine", "svhn_shift", "svhn_margin", "svhn_masked", "svhn_strong",
                             "grid search"],
}


def _full_training_images(exp: Experiment, full) -> int:
    """Images a run of ``exp`` sees in the ``full`` profile (training samples x epochs)."""
    exp = exp.resolved(full)
    if exp.dataset == "mnist":
        n = full.mnist_train_sequences if exp.train_limit is None else min(exp.train_limit, full.mnist_train_sequences)
    else:
        n = full.synth_images["train"]  # SVHN train has 33,402 images
    return int(n * (1 - full.validation_fraction)) * exp.epochs


def chapter_training_times(profile=None):
    """Per chapter: CPU training seconds measured in this build, and an estimate for ``full``
    (the ``full`` profile's training images divided by the images/s measured here).

    Call it after the chapters have run: it reuses their cached results (and trains any missing).
    """
    import pandas as pd

    from .config import PROFILES

    p = profile or active_profile()
    exps, full = book_experiments(p), PROFILES["full"]
    full_exps = book_experiments(full)  # full-size settings (epochs, Inception's training set)
    rows = []
    for chapter, names in CHAPTER_EXPERIMENTS.items():
        measured, estimate = 0.0, 0.0
        for name in names:
            if name == "grid search":
                grid = search_grid(p)
                runs = [replace(exps["svhn_report"], name="search_svhn_report", epochs=p.search_epochs, **dict(zip(grid, v)))
                        for v in itertools.product(*grid.values())]
            else:
                runs = [exps[name]]
            for exp in runs:
                result = run_experiment(exp, p, verbose=0)
                measured += result.train_seconds
                full_exp = replace(exp, epochs=full.search_epochs) if name == "grid search" else full_exps[name]
                estimate += _full_training_images(full_exp, full) / result.images_per_second
        rows.append({"chapter": chapter, "runs": ", ".join(names),
                     f"measured here ({p.name}), minutes": round(measured / 60, 1),
                     "estimated for full, hours": round(estimate / 3600, 1)})
    return pd.DataFrame(rows).set_index("chapter")
