"""How the book trains: one runner, :func:`run_experiment`, for every experiment of
:mod:`digitlib.experiments`, with a results cache; and :func:`predict`/:func:`evaluate` for the
trained models.

:func:`fit_experiment` is what a keras.io example does: build, compile, fit, evaluate. Keras'
own callbacks do the bookkeeping: ``BackupAndRestore`` resumes an interrupted run from its last
finished epoch, ``CSVLogger`` keeps the history. :func:`run_experiment` wraps it in the results
cache: everything is saved under ``results/<name>-<hash>/``, the hash covering the experiment,
the profile *and* the network the model builder makes
(:func:`~digitlib.experiments.architecture_fingerprint`), so a chapter that needs a trained model
reuses it, a changed configuration or architecture never reuses a stale result, and two
processes never train into the same folder at once (a file lock).
"""
from __future__ import annotations

import csv
import gc
import json
import math
import os
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .backend import import_keras
from .config import RESULTS_ENV, active_profile, file_lock, results_home as _results_home
from .data.dataset import scale_images, unscale_boxes, validation_count
from .data.feeding import BatchFeeder, EpochOrder
from .data.labels import DIGIT_OUTPUTS, MAX_DIGITS
from .metrics import evaluate_predictions
from .models import build_model, compile_model
from .reproducibility import seed_everything

if TYPE_CHECKING:
    from .experiments import Experiment

keras = import_keras()

#: in-memory training up to this many bytes of uint8 images; larger splits stream from HDF5
IN_MEMORY_LIMIT = 1 << 30


@dataclass
class Predictions:
    """Model outputs decoded: ``digits`` (N, 5) with blank = 10, ``lengths`` (N,), ``boxes``
    (N, 5, 4) xyxy pixels or None, ``confidence`` (N,) the product of the five digit probabilities."""

    digits: np.ndarray
    lengths: np.ndarray
    boxes: np.ndarray | None
    confidence: np.ndarray


@dataclass
class Result:
    """A finished experiment, as saved in its results folder."""

    experiment: dict
    profile: str
    history: dict
    metrics: dict
    params: int
    train_seconds: float
    images_per_second: float
    folder: Path
    data_source: str = ""
    extra: dict = field(default_factory=dict)

    def model(self):
        """The trained Keras model."""
        return keras.models.load_model(self.folder / "model.keras")

    def predictions(self, split: str = "test") -> tuple["Labels", Predictions]:
        """``(truth, predictions)`` of the trained model on ``split`` ("test" or "validation"), as
        saved after training: what :mod:`digitlib.metrics`' interval estimates resample."""
        return load_predictions(self.folder / f"predictions_{split}.npz")


@dataclass
class Labels:
    """The true labels of a split without its images: ``digits`` (N, 5) blank = 10, ``lengths``
    (N,), ``boxes`` (N, 5, 4) xyxy pixels or None, ``image_size`` (height, width)."""

    digits: np.ndarray
    lengths: np.ndarray
    boxes: np.ndarray | None
    image_size: tuple


def save_predictions(path: Path, truth, pred: Predictions) -> None:
    """Write the true labels and the predictions of one split to ``path`` (``.npz``)."""
    arrays = {"true_digits": truth.digits, "true_lengths": truth.lengths, "image_size": truth.images.shape[1:3],
              "digits": pred.digits, "lengths": pred.lengths, "confidence": pred.confidence}
    if truth.boxes is not None and pred.boxes is not None:
        arrays.update(true_boxes=truth.boxes, boxes=pred.boxes)
    np.savez_compressed(path, **arrays)


def load_predictions(path: Path) -> tuple[Labels, Predictions]:
    """``(truth, predictions)`` saved by :func:`save_predictions`."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: this result was trained before predictions were kept; "
                                f"delete {path.parent} and run the experiment again")
    with np.load(path) as f:
        boxes = "boxes" in f
        truth = Labels(f["true_digits"], f["true_lengths"], f["true_boxes"] if boxes else None,
                       tuple(int(v) for v in f["image_size"]))
        return truth, Predictions(f["digits"], f["lengths"], f["boxes"] if boxes else None, f["confidence"])


# ------------------------------------------------------------------------------------------ data sets

def experiment_data(exp: Experiment, profile=None):
    """``(train, test, source_label)`` for an experiment: sample sources (in memory when the images
    fit in :data:`IN_MEMORY_LIMIT` bytes, else streamed from their HDF5 file)."""
    profile = profile or active_profile()
    if exp.dataset == "mnist":
        from .data.mnist import mnist_sequences

        train, test = mnist_sequences(profile, seed=exp.seed)
    else:
        from .data.house_numbers import house_numbers

        train, test = (_in_memory(house_numbers(s, margin=exp.margin, profile=profile)) for s in ("train", "test"))
    return train, test, train.source


#: the prepared splits last loaded into memory: ``{file: (modification time, samples)}``, at most
#: :data:`_LOADED_SPLITS`. Runs in one process (a chapter's) share the arrays instead of loading
#: their own copies, which the allocator does not give back between runs (it cost a chapter with
#: eight runs about 90 MB each)
_LOADED: OrderedDict = OrderedDict()
_LOADED_SPLITS = 2


def _in_memory(split):
    """The prepared ``split`` loaded into memory (shared with earlier calls while its file is
    unchanged), or the split itself, streamed, when it is larger than :data:`IN_MEMORY_LIMIT`."""
    if split.nbytes > IN_MEMORY_LIMIT:
        return split
    stamp = split.path.stat().st_mtime_ns
    if split.path not in _LOADED or _LOADED[split.path][0] != stamp:
        _LOADED[split.path] = (stamp, split.load())
    _LOADED.move_to_end(split.path)
    while len(_LOADED) > _LOADED_SPLITS:
        _LOADED.popitem(last=False)
    return _LOADED[split.path][1]


def predict(model, source, indices=None, batch_size: int = 32, box_scale: float = 1.0) -> Predictions:
    """Run ``model`` over a sample source (all samples, or the sorted ``indices``) and decode its
    outputs, ``batch_size`` samples at a time: larger batches are faster, and take more memory
    (the Inception module's full-resolution activations, 28 x 140 x 192 per sequence).
    ``box_scale``: the unit the model's boxes were trained in (its experiment's
    ``box_target_scale``); the decoded boxes are pixels whatever it is."""
    indices = np.arange(len(source)) if indices is None else np.asarray(indices)
    digits, lengths, boxes, conf = [], [], [], []
    for start in range(0, len(indices), batch_size):
        batch = source.read(indices[start:start + batch_size])
        out = model.predict_on_batch(scale_images(batch.images))
        probs = np.stack([np.asarray(out[name]) for name in DIGIT_OUTPUTS], axis=1)  # (n, 5, 11)
        digits.append(probs.argmax(-1))
        conf.append(probs.max(-1).prod(-1))
        lengths.append(np.asarray(out["length"]).argmax(-1))
        if "boxes" in out:
            raw = np.asarray(out["boxes"]).reshape(-1, MAX_DIGITS, 4)
            boxes.append(unscale_boxes(raw / box_scale, batch.images.shape[1:3]))
    return Predictions(np.concatenate(digits), np.concatenate(lengths),
                       np.concatenate(boxes) if boxes else None, np.concatenate(conf))


def evaluate(model, source, indices=None) -> dict:
    """All metrics of :mod:`digitlib.metrics` for ``model`` on a sample source."""
    indices = np.arange(len(source)) if indices is None else np.asarray(indices)
    return evaluate_predictions(source.read(indices), predict(model, source, indices))


# ----------------------------------------------------------------------------------------- callbacks

class EpochSeconds(keras.callbacks.Callback):
    """Adds ``seconds`` (the epoch's training time) to the logs, so ``CSVLogger`` records it."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["seconds"] = time.perf_counter() - self._start


class BoxWeightWarmup(keras.callbacks.Callback):
    """Raises the box loss's weight linearly over the epochs, from ``min(1, weight)`` (the weight of
    every other loss) in the first epoch to ``weight`` in the last, by setting ``scale`` (the
    variable :func:`~digitlib.models.compile_model` multiplies the box loss with, on top of
    ``weight``) at each epoch's start. Six epochs at weight 10: 1, 2.8, 4.6, 6.4, 8.2, 10.

    The idea: in a short training, let the shared layers learn to read before a heavy box loss
    pulls them towards the boxes (the README records what it changed on one machine; chapter 7
    says how to measure it). A resumed run sets the weight of the epoch it resumes at."""

    def __init__(self, weight: float, epochs: int, scale=None):
        super().__init__()
        self.weight, self.epochs = float(weight), int(epochs)
        self.scale = scale if scale is not None else keras.Variable(1.0, trainable=False, dtype="float32",
                                                                    name="box_loss_scale")
        self.scale.assign(self.weight_at(0) / self.weight)

    def weight_at(self, epoch: int) -> float:
        """The box loss's weight in epoch ``epoch`` (0-based)."""
        start = min(1.0, self.weight)
        return start + (self.weight - start) * (epoch / (self.epochs - 1) if self.epochs > 1 else 1.0)

    def on_epoch_begin(self, epoch, logs=None):
        self.scale.assign(self.weight_at(epoch) / self.weight)


def box_weight_warmup(exp: Experiment, scale=None) -> BoxWeightWarmup | None:
    """The warm-up callback of the resolved ``exp`` (setting ``scale``, the model's box-loss scale
    variable; None: a new one), or None where it would not change the weight (no warm-up asked, or
    a weight of at most 1): the scale then stays 1."""
    return BoxWeightWarmup(exp.box_loss_weight, exp.epochs, scale) \
        if exp.box_weight_warmup and exp.box_loss_weight > 1 else None


class EpochLine(keras.callbacks.Callback):
    """One short progress line per epoch, readable in JupyterLab, the rendered book and CI logs."""

    def __init__(self, name: str, epochs: int):
        super().__init__()
        self.name, self.epochs = name, epochs

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = [f"loss {logs.get('loss', float('nan')):.3f}", f"val_loss {logs.get('val_loss', float('nan')):.3f}",
                 f"val first-digit acc {logs.get('val_digit_1_accuracy', float('nan')):.3f}"]
        if "val_boxes_mse" in logs:
            parts.append(f"val box MSE {logs['val_boxes_mse']:.4f}")
        print(f"{self.name} epoch {epoch + 1}/{self.epochs} ({logs.get('seconds', float('nan')):.0f} s): "
              + ", ".join(parts), flush=True)


def read_history(path: Path) -> dict[str, list[float]]:
    """The ``CSVLogger`` file as ``{metric: [one value per epoch]}``. An epoch recorded twice (the
    run was interrupted between logging it and backing it up, then repeated it) counts once."""
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        rows = {int(row["epoch"]): row for row in csv.DictReader(f)}
    keys = [k for k in next(iter(rows.values()), {}) if k != "epoch"]
    return {k: [float(rows[e][k]) for e in sorted(rows)] for k in keys}


# ---------------------------------------------------------------------------------------- the runner

def run_experiment(exp: Experiment, profile=None, results_home=None, verbose: int = 1, data=None,
                   strategy=None) -> Result:
    """Train ``exp`` (or reuse its cached result) and return the :class:`Result`.

    The same as :func:`fit_experiment`, plus the results cache: a finished result is loaded, not
    trained again; an interrupted one resumes; two processes running the same experiment take
    turns (a file lock, ``<results>/<key>.lock``), the second reusing the first one's result.
    ``strategy``: a ``tf.distribute`` strategy to train under (default:
    :func:`distribution_strategy`).
    """
    profile = profile or active_profile()
    exp = exp.resolved(profile)
    folder = _results_home(results_home) / exp.key(profile)
    if not (folder / "result.json").exists():  # a finished result is read without the lock
        with file_lock(folder.with_name(folder.name + ".lock"), f"to train {exp.name} into {folder}",
                       progress=bool(verbose), env=RESULTS_ENV):
            if not (folder / "result.json").exists():  # else another process finished it meanwhile
                return fit_experiment(exp, profile, folder, verbose, data, strategy)
    if verbose:
        print(f"{exp.name}: reusing the trained result in {folder}")
    return load_result(folder)


def distribution_strategy():
    """The ``tf.distribute`` strategy the runner trains under by default:
    ``MultiWorkerMirroredStrategy`` when ``$TF_CONFIG`` describes a cluster of machines (set it
    before Python starts, on every machine; see the README), ``MirroredStrategy`` over all GPUs when
    this machine has several, else TensorFlow's default strategy (one device: a CPU's cores are
    already used by each operation)."""
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


@dataclass
class _CompiledModel:
    """A compiled model kept after its run for the next one with the same graph."""

    key: str | None  # graph_key (None: never reused)
    strategy: object  # the tf.distribute strategy it was built under
    model: keras.Model
    box_weight: keras.Variable | None  # the box loss's weight: a variable, so one graph serves every weight
    box_scale: keras.Variable | None  # what BoxWeightWarmup sets (1: no warm-up)
    optimizer_start: list  # the optimizer's variables before its first step
    finished: bool = False  # its run ended normally (an interrupted fit may leave state behind)


_kept: _CompiledModel | None = None  # one at a time: the last run's


def graph_key(exp: Experiment, steps: int, strategy) -> str | None:
    """What the compiled training graph of the resolved ``exp`` depends on: the network the builder
    makes now (:func:`~digitlib.experiments.architecture_fingerprint`) and every setting but the
    name, seed, epochs, box-loss weight and warm-up (values of variables in the graph) and the
    data's (how many samples, shifts, margin, box unit); a cosine schedule adds its ``steps``.
    None where the graph is not kept (several replicas)."""
    from .experiments import architecture_fingerprint

    if strategy.num_replicas_in_sync > 1:
        return None
    same_graph = {"name", "seed", "epochs", "train_limit", "shift", "margin", "box_target_scale",
                  "box_loss_weight", "box_weight_warmup"}
    settings = {k: v for k, v in asdict(exp).items() if k not in same_graph}
    settings["network"] = architecture_fingerprint(exp.model, exp.input_shape, exp.model_kwargs)
    if exp.lr_schedule == "cosine":
        settings["decay_steps"] = steps
    return json.dumps(settings, sort_keys=True, default=str)


def compiled_model(exp: Experiment, steps: int, strategy) -> tuple:
    """The network of the resolved ``exp`` with the starting weights of its seed, compiled with
    ``exp.box_loss_weight`` under ``strategy``, and the box loss's scale (the ``keras.Variable``
    that :class:`BoxWeightWarmup` sets, 1 until then; None without boxes). ``steps``: the run's
    training steps.

    Tracing and optimising the training graph costs every run its first seconds (about 8 s for
    the report's network on 2 CPU cores, and 2,100 operations per step), so the last run's
    compiled model is kept: when this run's graph is the same (:func:`graph_key`, and the same
    strategy; chapter 7's runs differ only in the weight), it is restarted with this run's
    starting weights and a fresh optimizer state, and trains exactly as a new one would.
    Otherwise, or when its run did not finish (:func:`finish_compiled_model`), it is freed."""
    global _kept
    key = graph_key(exp, steps, strategy)
    if _kept is not None and not (key is not None and _kept.key == key and _kept.strategy is strategy
                                  and _kept.finished):
        free_compiled_model()
    seed_everything(exp.seed)
    with strategy.scope():
        model = build_model(exp.model, exp.input_shape, dtype_policy=exp.precision, **dict(exp.model_kwargs))
        if _kept is not None:
            _kept.finished = False  # until this run ends
            for kept, start in zip(_kept.model.variables, model.variables, strict=True):
                kept.assign(start)  # weights, batch-normalisation statistics, dropout's random state
            for variable, start in zip(_kept.model.optimizer.variables, _kept.optimizer_start, strict=True):
                variable.assign(start)
            if _kept.box_weight is not None:
                _kept.box_weight.assign(exp.box_loss_weight)
                _kept.box_scale.assign(1.0)
            _kept.model._initial_epoch = None  # Keras' BackupAndRestore leaves a resumed run's epoch there
            return _kept.model, _kept.box_scale
        learning_rate = (keras.optimizers.schedules.CosineDecay(exp.learning_rate, steps)
                         if exp.lr_schedule == "cosine" else exp.learning_rate)
        box_weight, box_scale = (keras.Variable(value, trainable=False, dtype="float32", name=name) for value, name
                                 in ((exp.box_loss_weight, "box_loss_weight"), (1.0, "box_loss_scale"))) \
            if exp.with_boxes else (None, None)
        # several steps per graph call fail under several replicas in Keras 3.15: one step there
        compile_model(model, keras.optimizers.Adam(learning_rate), box_weight if exp.with_boxes else 1.0,
                      exp.box_loss, box_loss_scale=box_scale,
                      **({"steps_per_execution": 1} if strategy.num_replicas_in_sync > 1 else {}))
        model.optimizer.build(model.trainable_variables)
    _kept = _CompiledModel(key, strategy, model, box_weight, box_scale,
                           [np.array(v) for v in model.optimizer.variables])
    return model, box_scale


def finish_compiled_model() -> None:
    """Mark the run that :func:`compiled_model` last served as finished, so that the next run
    with the same graph may train on its compiled model."""
    if _kept is not None:
        _kept.finished = True


def free_compiled_model() -> None:
    """Free the kept compiled model (:func:`compiled_model`) and Keras' global state, so a chapter
    training many models stays under Binder's 2 GB. Not inside a ``strategy.scope()``."""
    global _kept
    _kept = None
    keras.backend.clear_session()


def fit_experiment(exp: Experiment, profile, folder: Path, verbose: int = 1, data=None, strategy=None) -> Result:
    """Build, compile, fit and evaluate the resolved ``exp``; save everything into ``folder``.

    ``data``: optional ``(train, test, source_label)`` as :func:`experiment_data` returns it. The
    last 10% of the training samples (:func:`~digitlib.data.dataset.validation_count`, in their
    stored, already random order) are held out for validation, as in the report, also when
    ``exp.train_limit`` trains on the first N samples only (so every run of a data set is
    validated on the same samples, which MNIST sequences build from digit images of their own).
    After an interruption, the next call resumes from the last finished epoch (``folder/backup``:
    weights and optimizer state) with the batches it would have seen; only dropout's random state
    starts afresh (Keras does not back it up). ``strategy``: see :func:`run_experiment`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    train, test, source_label = data or experiment_data(exp, profile)
    n_val = validation_count(len(train), profile.validation_fraction)
    n_fit = len(train) - n_val if exp.train_limit is None else min(exp.train_limit, len(train) - n_val)
    fit_idx, val_idx = np.arange(n_fit), np.arange(len(train) - n_val, len(train))

    strategy = strategy or distribution_strategy()
    steps = math.ceil(len(fit_idx) / exp.batch_size) * exp.epochs
    # the network with this run's seeded starting weights, compiled (on the last run's compiled
    # training graph where it is the same: see compiled_model)
    model, box_scale = compiled_model(exp, steps, strategy)
    with strategy.scope():  # a batch is split across the replicas, the gradients summed
        warmup = box_weight_warmup(exp, box_scale)

        feeder = BatchFeeder(train, fit_idx, exp.batch_size, exp.with_boxes, shuffle=True, shift=exp.shift,
                             seed=exp.seed, box_scale=exp.box_target_scale)
        if verbose and (folder / "backup").exists():
            print(f"{exp.name}: resuming from the backup of its last finished epoch in {folder / 'backup'}")
        validation = BatchFeeder(train, val_idx, exp.batch_size, exp.with_boxes, box_scale=exp.box_target_scale)
        model.fit(feeder.fit_data(), validation_data=validation.fit_data(), shuffle=False,
                  epochs=exp.epochs, verbose=0, callbacks=[
                      EpochOrder(feeder), EpochSeconds(), *([warmup] if warmup else []),
                      keras.callbacks.CSVLogger(folder / "history.csv", append=True),
                      keras.callbacks.BackupAndRestore(folder / "backup", double_checkpoint=True),
                  ] + ([EpochLine(exp.name, exp.epochs)] if verbose else []))
        model.save(folder / "model.keras")
    if strategy.num_replicas_in_sync > 1:  # evaluate the saved model on one device
        model = keras.models.load_model(folder / "model.keras")

    splits = {"validation": (train, val_idx), "test": (test, np.arange(len(test)))}
    if exp.with_boxes:  # the report's table for house numbers also scores the first 10,000 training samples
        splits["train_first_10000"] = (train, np.arange(min(10_000, n_fit)))
    metrics = {}
    for split, (source, indices) in splits.items():
        truth = source.read(indices)
        pred = predict(model, source, indices, batch_size=exp.batch_size, box_scale=exp.box_target_scale)
        metrics[split] = evaluate_predictions(truth, pred)
        if split != "train_first_10000":  # kept for interval estimates (digitlib.metrics)
            save_predictions(folder / f"predictions_{split}.npz", truth, pred)
    history = read_history(folder / "history.csv")
    seconds = history.pop("seconds", [])
    result = Result(experiment=asdict(exp), profile=profile.name, history=history, metrics=metrics,
                    params=int(model.count_params()), train_seconds=float(sum(seconds)),
                    images_per_second=n_fit * len(seconds) / max(sum(seconds), 1e-9),
                    folder=folder, data_source=source_label,
                    extra={"train_samples": int(n_fit), "validation_samples": int(len(val_idx)),
                           "test_samples": int(len(test))})
    save_result(result)
    del model, feeder
    finish_compiled_model()  # the next run with the same graph may train on it (compiled_model)
    gc.collect()
    return result


def save_result(result: Result) -> None:
    """Write ``result.json`` into the result's folder (atomically: it marks the run as finished)."""
    path = result.folder / "result.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({k: v for k, v in asdict(result).items() if k != "folder"}, indent=1, default=float))
    tmp.replace(path)


def load_result(folder: Path) -> Result:
    """The :class:`Result` saved in ``folder``."""
    data = json.loads((folder / "result.json").read_text())
    return Result(**data, folder=folder)
