"""What the book trains: an :class:`Experiment` names a model, a data set and the training
settings, and :func:`book_experiments` defines every experiment of the chapters, sized by the
profile. Chapters, the summary and the benchmark all take them from here and train them with
:func:`digitlib.training.run_experiment`, so a model trained in one chapter is reused (from the
results cache) by the others.

An experiment in the book reads like this (chapter 8's improvements are a few fields each)::

    Experiment("svhn_masked", model="svhn_localizer", dataset="house_numbers",
               box_loss_weight=1.0, box_loss="masked_mse")
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, fields, replace

from .backend import auto_precision
from .config import active_profile
from .training import run_experiment

#: the data sets an experiment trains on, and the input shape of their images
DATASETS = ("mnist", "house_numbers")
#: Keras dtype policies an experiment may train in (the heads always compute in float32)
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
LR_SCHEDULES = (None, "cosine")
#: version of the results folder's layout; a new version retrains every experiment once
RESULTS_VERSION = 3


@dataclass(frozen=True, repr=False)
class Experiment:
    """What to train. Sizes not given here (epochs, batch size, seed) come from the profile.

    Every option is checked when the experiment is created: a typo fails at once, with the valid
    choices, not after minutes of training.
    """

    name: str
    model: str  # a name of digitlib.models.MODELS
    dataset: str  # "mnist" or "house_numbers"
    epochs: int | None = None  # None: the profile's epochs for this dataset
    batch_size: int | None = None  # None: the profile's batch size for this data set
    box_loss_weight: float = 1.0
    learning_rate: float = 1e-3
    lr_schedule: str | None = None  # None (constant) or "cosine"
    shift: int = 0  # random-shift augmentation, in pixels (Goodfellow et al.)
    margin: float = 0.0  # house numbers: grow the digit crop (0.3 = 30%)
    box_loss: str = "mse"  # "mse" (the report's) or "masked_mse" (real digits' boxes only)
    #: the unit of the box targets: they (and the blanks' -1) are multiplied by this. 1: fractions of
    #: the image, 0..1 (the book's); 54: pixels of a 54x54 crop. The box loss grows with its square
    box_target_scale: float = 1.0
    #: raise the box-loss weight from 1 to ``box_loss_weight`` over the epochs
    #: (:class:`~digitlib.training.BoxWeightWarmup`); None: the profile's ``box_weight_warmup``
    box_weight_warmup: bool | None = None
    #: "float32", "mixed_bfloat16", "mixed_float16", or "auto" (the default, see
    #: :func:`~digitlib.backend.auto_precision`): mixed_float16 on a GPU, mixed_bfloat16 where the CPU
    #: computes bfloat16 natively (heads in float32; 1.5-2x faster there), float32 elsewhere
    precision: str = "auto"
    train_limit: int | None = None  # train on the first N training samples only
    seed: int | None = None  # None: the profile's seed
    model_kwargs: tuple = ()  # extra builder arguments as sorted (name, value) pairs

    def __post_init__(self):
        from .models import BOX_LOSSES, MODELS

        def choose(field, value, choices):
            if value not in choices:
                raise ValueError(f"experiment {self.name!r}: unknown {field} {value!r}; choose one of {list(choices)}")

        choose("model", self.model, sorted(MODELS))
        choose("dataset", self.dataset, DATASETS)
        choose("precision", self.precision, PRECISIONS + ("auto",))
        choose("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        choose("box_loss", self.box_loss, sorted(BOX_LOSSES))
        if self.box_weight_warmup not in (None, True, False):
            raise ValueError(f"experiment {self.name!r}: box_weight_warmup must be True, False or None (the "
                             f"profile's), got {self.box_weight_warmup!r}")
        for field in ("epochs", "batch_size", "train_limit"):
            value = getattr(self, field)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"experiment {self.name!r}: {field} must be a whole number >= 1 or None, got {value!r}")
        if not (self.learning_rate > 0 and self.box_target_scale > 0 and self.box_loss_weight >= 0
                and self.margin >= 0 and isinstance(self.shift, int) and self.shift >= 0):
            raise ValueError(f"experiment {self.name!r}: learning_rate and box_target_scale must be > 0 and "
                             f"box_loss_weight, margin and shift (whole pixels) >= 0; got {self.learning_rate!r}, "
                             f"{self.box_target_scale!r}, {self.box_loss_weight!r}, {self.margin!r}, {self.shift!r}")

    def __repr__(self) -> str:
        """The experiment as one would write it: name, model, data set and the settings that
        differ from the defaults, e.g. ``Experiment('svhn_cosine', model='svhn_localizer',
        dataset='house_numbers', box_loss_weight=10.0, lr_schedule='cosine')``."""
        changed = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)[3:]
                   if getattr(self, f.name) != f.default]
        return f"Experiment({', '.join([repr(self.name), f'model={self.model!r}', f'dataset={self.dataset!r}'] + changed)})"

    @property
    def with_boxes(self) -> bool:
        """Whether the model has a box head and the targets include boxes (house numbers)."""
        return self.dataset == "house_numbers"

    @property
    def input_shape(self) -> tuple:
        """``(H, W, C)`` of the scaled images the model reads."""
        from .models import MNIST_SHAPE, SVHN_SHAPE

        return SVHN_SHAPE if self.with_boxes else MNIST_SHAPE

    def resolved(self, profile) -> "Experiment":
        """The experiment with the profile's defaults filled in (and ``precision="auto"`` decided)."""
        default_epochs = profile.house_numbers_epochs if self.with_boxes else profile.epochs
        default_batch = profile.house_numbers_batch_size if self.with_boxes else profile.batch_size
        precision = auto_precision() if self.precision == "auto" else self.precision
        warmup = (self.with_boxes and profile.box_weight_warmup) if self.box_weight_warmup is None \
            else self.box_weight_warmup
        return replace(self, epochs=self.epochs or default_epochs, batch_size=self.batch_size or default_batch,
                       seed=profile.seed if self.seed is None else self.seed, precision=precision,
                       box_weight_warmup=warmup)

    def key(self, profile) -> str:
        """The name of its results folder: the model's name and a hash of the resolved settings
        (all but the experiment's own name), the profile, the architecture and, for synthetic
        house numbers, the generator's version. Two experiments with the same settings are the
        same run, whatever they are called: chapter 8's grid over the box-loss weight reuses
        chapter 7's runs."""
        settings = {k: v for k, v in asdict(self.resolved(profile)).items() if k != "name"}
        payload = {"experiment": settings, "profile": profile.as_dict(),
                   "architecture": architecture_fingerprint(self.model, self.input_shape, self.model_kwargs),
                   "version": RESULTS_VERSION}
        if self.dataset == "house_numbers" and profile.house_numbers_source == "synthetic":
            from .data.synth import GENERATOR_VERSION

            payload["synthetic_images"] = GENERATOR_VERSION  # other images, another run
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
        return f"{self.model}-{digest[:12]}"


def architecture_fingerprint(model: str, input_shape, model_kwargs: tuple = ()) -> str:
    """A hash of the network that ``build_model(model, input_shape, ...)`` makes.

    It covers every layer's type, settings and weight shapes, in order, but not the layers' names
    (Keras numbers unnamed layers per session), so a changed architecture under the same model name
    gets a new results folder while the same architecture always gets the same one.
    """
    from .models import build_model

    network = build_model(model, input_shape, **dict(model_kwargs))
    layers = [(type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "name"},
               [tuple(w.shape) for w in layer.weights]) for layer in network.layers]
    del network
    return hashlib.sha256(json.dumps(layers, sort_keys=True, default=str).encode()).hexdigest()[:16]


def book_experiments(profile=None) -> dict[str, Experiment]:
    """All experiments by short name.

    * ``mnist_cnn``: the report's MNIST network on the profile's sequences.
    * ``inception_cnn``, ``inception_deeper``: the report's Inception experiments, and
      ``mnist_cnn_subset``, the MNIST network on the same (in ``quick``, smaller) training set with
      the same batch size (16), for a fair comparison.
    * ``box_weight_<w>``: the report's house-number network with box-loss weight ``w`` (its Fig. 15;
      ``w = 0``, the box head not trained, stands for the report's first house-number network, which
      had none). ``svhn_report`` is the weight this book uses, the profile's ``box_loss_weight``
      (10: the report's table shows it as a good trade-off on real SVHN but does not state its
      final weight). In ``quick`` every house-number run warms its weight up from 1 to ``w`` over
      its epochs (the profile's ``box_weight_warmup``, :class:`~digitlib.training.BoxWeightWarmup`).
    * ``svhn_report_pixels``: ``svhn_report`` with its box targets in pixels of the 54x54 crop
      instead of fractions (``box_target_scale=54``): the same weight, another unit.
    * ``svhn_strong``: the stronger network with a cosine learning-rate schedule, random shifts and
      the box loss on real digits only (:func:`~digitlib.models.masked_box_mse`). The changes one
      at a time on the report's network (a cosine schedule, random shifts, a wider crop, that box
      loss) are exercise 8.1: ``replace(exps["svhn_report"], lr_schedule="cosine")``, ``shift=4``,
      ``margin=0.3``, ``box_loss="masked_mse"``.
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
        # batches of 16: the module's 192 full-resolution channels would take over 2 GB at 64
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
    w = p.box_loss_weight
    report = Experiment(f"svhn_localizer_w{w:g}", "svhn_localizer", "house_numbers", box_loss_weight=w)
    exps["svhn_report"] = report
    exps["svhn_report_pixels"] = replace(report, name=f"svhn_localizer_w{w:g}_pixels",
                                         box_target_scale=float(report.input_shape[0]))
    exps["svhn_strong"] = Experiment("svhn_strong", "strong_cnn", "house_numbers", box_loss_weight=w,
                                     lr_schedule="cosine", shift=4, box_loss="masked_mse")
    return exps


def run(name: str, profile=None, verbose: int = 1):
    """Train (or reuse) the book experiment ``name`` and return its :class:`~digitlib.training.Result`."""
    exps = book_experiments(profile)
    if name not in exps:
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(exps)}")
    return run_experiment(exps[name], profile, verbose=verbose)


def grid_experiments(base: str, grid: dict[str, list], profile=None):
    """``[(settings, Experiment), ...]``: the book experiment ``base`` with every combination of
    ``grid`` (``{field: [values]}``), at ``base``'s budget. A combination that equals another
    experiment's settings is that experiment's run (:meth:`Experiment.key`), so it is reused."""
    base_exp = book_experiments(profile)[base]
    return [(dict(zip(grid, values)), replace(base_exp, **dict(zip(grid, values))))
            for values in itertools.product(*grid.values())]


def grid_search(base: str, grid: dict[str, list], profile=None, verbose: int = 0, n_jobs: int | None = None):
    """Train (or reuse) every run of :func:`grid_experiments`.

    Returns a list of ``(settings, result)`` sorted best first by *validation* sequence accuracy
    (the test set is not looked at to choose). ``n_jobs``: train the runs in that many worker
    processes with :func:`digitlib.sweeps.run_all` (None: one after another in this process).
    """
    runs = grid_experiments(base, grid, profile)
    if n_jobs is None:
        runs = [(settings, run_experiment(exp, profile, verbose=verbose)) for settings, exp in runs]
    else:
        from .sweeps import run_all

        results = run_all([exp for _, exp in runs], profile, n_jobs=n_jobs, verbose=verbose)
        runs = [(settings, result) for (settings, _), result in zip(runs, results)]
    return sorted(runs, key=lambda r: -r[1].metrics["validation"]["sequence_accuracy"])


def chapter_experiments(profile=None) -> dict[str, list[str]]:
    """The experiments each chapter trains first (later chapters reuse them), for the time table of
    chapter 9 and the assignment guide. Chapter 6 trains ``w = 0`` and the profile's weight (also
    with its box targets in pixels), so chapter 7 trains the study's other weights."""
    p = profile or active_profile()
    study = [f"box_weight_{w:g}" for w in p.box_loss_weights if w not in (0.0, p.box_loss_weight)]
    return {
        "4 Reading MNIST sequences": ["mnist_cnn", "mnist_strong"],
        "5 An Inception experiment": ["mnist_cnn_subset", "inception_cnn", "inception_deeper"],
        "6 House numbers with boxes": ["box_weight_0", "svhn_report", "svhn_report_pixels"],
        "7 Weighing the losses": study,
        "8 Beyond the report": ["svhn_strong"],
    }


def training_images(exp: Experiment, profile) -> int:
    """Images a run of ``exp`` trains on in ``profile``: the samples it fits on (the training set
    less the last :func:`~digitlib.data.dataset.validation_count` held out, at most
    ``train_limit``, as the runner takes them) times its epochs there. For house numbers the
    training set is the profile's ``synth_images["train"]`` (in ``full``, SVHN train's 33,402)."""
    from .data.dataset import validation_count

    exp = exp.resolved(profile)
    n = profile.mnist_train_sequences if exp.dataset == "mnist" else profile.synth_images["train"]
    fit = n - validation_count(n, profile.validation_fraction)
    return (fit if exp.train_limit is None else min(exp.train_limit, fit)) * exp.epochs


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
    for chapter, names in chapter_experiments(p).items():
        measured, estimate = 0.0, 0.0
        for name in names:
            result = run_experiment(exps[name], p, verbose=0)
            measured += result.train_seconds
            estimate += training_images(full_exps[name], full) / result.images_per_second
        rows.append({"chapter": chapter, "runs": ", ".join(names),
                     f"measured here ({p.name}), minutes": round(measured / 60, 1),
                     "estimated for full, hours": round(estimate / 3600, 1)})
    return pd.DataFrame(rows).set_index("chapter")
