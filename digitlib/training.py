"""One training runner for every experiment in the book, with a results cache.

An :class:`Experiment` names a model, a data set and the training settings (loss weights,
epochs, batch size, learning rate and schedule, random-shift augmentation). :func:`run_experiment`
trains it deterministically and returns a :class:`Result`: the history, the metrics on the
validation set, the test set and, for house numbers, the first 10,000 training samples (the
report's table), the parameter count and the training time.

Everything is saved under ``results/<name>-<hash>/``, the hash covering the experiment, the
profile *and* the network the model builder makes (:func:`architecture_fingerprint`), so a chapter
that needs a trained model reuses it, a changed configuration or architecture never reuses a stale
result, and an interrupted run resumes from its last finished epoch.
"""
from __future__ import annotations

import gc
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .backend import import_keras, native_bfloat16
from .config import RESULTS_ENV, active_profile, file_lock, results_home as _results_home
from .data.dataset import DigitSequences, scale_boxes, scale_images, unscale_boxes
from .data.labels import MAX_DIGITS
from .metrics import evaluate_predictions
from .reproducibility import seed_everything

keras = import_keras()

RESULTS_VERSION = 1
DIGIT_OUTPUTS = [f"digit_{i + 1}" for i in range(MAX_DIGITS)]
#: in-memory training up to this many bytes of uint8 images; larger splits stream from HDF5
IN_MEMORY_LIMIT = 1 << 30
#: Keras dtype policies an experiment may train in (the heads always compute in float32)
PRECISIONS = ("float32", "mixed_bfloat16")


@dataclass(frozen=True)
class Experiment:
    """What to train. Sizes not given here (data, epochs by default) come from the profile."""

    name: str
    model: str
    dataset: str  # "mnist" or "house_numbers"
    epochs: int | None = None  # None: the profile's epochs for this dataset
    batch_size: int | None = None  # None: the profile's batch size
    box_loss_weight: float = 1.0
    learning_rate: float = 1e-3
    lr_schedule: str | None = None  # None or "cosine"
    shift: int = 0  # random-shift augmentation, in pixels (Goodfellow et al.)
    margin: float = 0.0  # house numbers: grow the digit crop (0.3 = 30%)
    box_loss: str = "mse"  # "mse" (the report's) or "masked_mse" (real digits' boxes only)
    #: "float32", "mixed_bfloat16", or "auto": mixed_bfloat16 where the CPU has native bfloat16
    precision: str = "float32"
    train_limit: int | None = None  # train on the first N training samples only
    seed: int | None = None  # None: the profile's seed
    model_kwargs: tuple = ()  # extra builder arguments as sorted (name, value) pairs

    def resolved(self, profile) -> "Experiment":
        """The experiment with the profile's defaults filled in."""
        from dataclasses import replace

        default_epochs = profile.house_numbers_epochs if self.dataset == "house_numbers" else profile.epochs
        precision = self.precision
        if precision == "auto":
            precision = "mixed_bfloat16" if native_bfloat16() else "float32"
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of {PRECISIONS + ('auto',)}")
        return replace(self, epochs=self.epochs or default_epochs, batch_size=self.batch_size or profile.batch_size,
                       seed=profile.seed if self.seed is None else self.seed, precision=precision)

    def key(self, profile) -> str:
        """A hash of the resolved experiment, the profile and the architecture: the name of its
        results folder."""
        payload = {"experiment": asdict(self.resolved(profile)), "profile": profile.as_dict(),
                   "architecture": architecture_fingerprint(self.model, self.dataset, self.model_kwargs),
                   "version": RESULTS_VERSION}
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
        return f"{self.name}-{digest[:12]}"


def architecture_fingerprint(model: str, dataset: str, model_kwargs: tuple = ()) -> str:
    """A hash of the network that ``build_model(model, ...)`` makes for ``dataset``'s images.

    It covers every layer's type, settings and weight shapes, in order, but not the layers' names
    (Keras numbers unnamed layers per session), so a changed architecture under the same model name
    gets a new results folder while the same architecture always gets the same one.
    """
    from .models import MNIST_SHAPE, SVHN_SHAPE, build_model

    shape = {"mnist": MNIST_SHAPE, "house_numbers": SVHN_SHAPE}.get(dataset)
    if shape is None:
        raise ValueError(f"unknown dataset {dataset!r}; use 'mnist' or 'house_numbers'")
    network = build_model(model, shape, **dict(model_kwargs))
    layers = [(type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "name"},
               [tuple(w.shape) for w in layer.weights]) for layer in network.layers]
    del network
    return hashlib.sha256(json.dumps(layers, sort_keys=True, default=str).encode()).hexdigest()[:16]


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

    def row(self, split: str = "test") -> dict:
        m = self.metrics[split]
        return {k: m.get(k) for k in ("position_accuracy", "character_accuracy", "sequence_accuracy", "mean_iou")}


# --------------------------------------------------------------------------------------- data feeding

def model_inputs(data: DigitSequences, with_boxes: bool, shift: int = 0, rng=None):
    """``(x, y)`` for Keras from a batch: scaled images and a dict of targets per named output.

    With ``shift > 0`` every image is moved by a random offset of up to ``shift`` pixels in x and
    y (edges repeated), and its boxes move with it: Goodfellow et al.'s random-shift augmentation.
    """
    images, boxes = data.images, data.boxes
    if shift:
        images, boxes = random_shift(images, boxes, shift, rng or np.random.default_rng())
    x = scale_images(images)
    y = {name: data.digits[:, i] for i, name in enumerate(DIGIT_OUTPUTS)}
    y["length"] = data.lengths
    if with_boxes:
        y["boxes"] = scale_boxes(boxes, images.shape[1:3]).reshape(len(images), 4 * MAX_DIGITS)
    return x, y


def random_shift(images: np.ndarray, boxes, shift: int, rng: np.random.Generator):
    """Shift each image by up to ``shift`` pixels (edge-padded) and its non-blank boxes with it."""
    n, h, w = images.shape[:3]
    pad = [(0, 0), (shift, shift), (shift, shift)] + [(0, 0)] * (images.ndim - 3)
    padded = np.pad(images, pad, mode="edge")
    offsets = rng.integers(0, 2 * shift + 1, size=(n, 2))  # where the window starts in the padded image
    out = np.empty_like(images)
    for i, (oy, ox) in enumerate(offsets):
        out[i] = padded[i, oy:oy + h, ox:ox + w]
    if boxes is None:
        return out, None
    moved = boxes.copy()
    real = np.all(boxes >= 0, axis=-1)
    delta = np.stack([shift - offsets[:, 1], shift - offsets[:, 0]] * 2, axis=1)[:, None, :]
    moved = np.where(real[..., None], np.clip(boxes + delta, 0, np.array([w, h, w, h])), boxes)
    return out, moved.astype(np.float32)


class BatchFeeder(keras.utils.PyDataset):
    """Feeds batches from an in-memory :class:`DigitSequences` or a streamed HDF5 split.

    ``indices``: which samples (sorted). In-memory sources are shuffled fully every epoch; HDF5
    sources by blocks of ``batch_size`` consecutive samples (random reads from HDF5 are slow).
    The order depends only on ``seed`` and the epoch, so training is reproducible and resumable.
    """

    def __init__(self, source, indices, batch_size: int, with_boxes: bool, shuffle: bool = False,
                 shift: int = 0, seed: int = 0):
        super().__init__(workers=1, use_multiprocessing=False)
        self.source, self.indices = source, np.asarray(indices)
        self.batch_size, self.with_boxes = batch_size, with_boxes
        self.shuffle, self.shift, self.seed = shuffle, shift, seed
        self.in_memory = isinstance(source, DigitSequences)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        rng = np.random.default_rng([self.seed, epoch])
        if not self.shuffle:
            self.order = self.indices
        elif self.in_memory:
            self.order = rng.permutation(self.indices)
        else:
            blocks = [self.indices[i:i + self.batch_size] for i in range(0, len(self.indices), self.batch_size)]
            self.order = np.concatenate([blocks[j] for j in rng.permutation(len(blocks))])

    def __len__(self) -> int:
        return math.ceil(len(self.indices) / self.batch_size)

    def __getitem__(self, i):
        idx = np.sort(self.order[i * self.batch_size:(i + 1) * self.batch_size])
        batch = self.source.subset(idx) if self.in_memory else self.source.read(idx)
        rng = np.random.default_rng([self.seed, self.epoch, i]) if self.shift else None
        return model_inputs(batch, self.with_boxes, self.shift if self.shuffle else 0, rng)

    def on_epoch_end(self):
        self.set_epoch(self.epoch + 1)


# ------------------------------------------------------------------------------------------ data sets

def experiment_data(exp: Experiment, profile=None):
    """``(train, test, source_label)`` for an experiment: in-memory data or streamed HDF5 splits."""
    profile = profile or active_profile()
    if exp.dataset == "mnist":
        from .data.mnist import mnist_sequences

        train, test = mnist_sequences(profile, seed=exp.seed)
        return train, test, train.source
    if exp.dataset == "house_numbers":
        from .data.house_numbers import house_numbers

        splits = [house_numbers(s, margin=exp.margin, profile=profile) for s in ("train", "test")]
        loaded = [s.load() if len(s) * 54 * 54 * 3 <= IN_MEMORY_LIMIT else s for s in splits]
        label = loaded[0].source if isinstance(loaded[0], DigitSequences) else str(splits[0].attrs.get("source_label"))
        return loaded[0], loaded[1], label
    raise ValueError(f"unknown dataset {exp.dataset!r}; use 'mnist' or 'house_numbers'")


def _read(source, index) -> DigitSequences:
    return source.subset(index) if isinstance(source, DigitSequences) else source.read(index)


def predict(model, source, indices=None, batch_size: int = 32) -> Predictions:
    """Run ``model`` over ``source`` (all samples, or the sorted ``indices``) and decode its outputs.

    Small batches keep memory low: the Inception module's full-resolution activations take about
    1 GB for 256 MNIST sequences.
    """
    indices = np.arange(len(source)) if indices is None else np.asarray(indices)
    digits, lengths, boxes, conf = [], [], [], []
    for start in range(0, len(indices), batch_size):
        batch = _read(source, indices[start:start + batch_size])
        out = model.predict_on_batch(scale_images(batch.images))
        probs = np.stack([np.asarray(out[name]) for name in DIGIT_OUTPUTS], axis=1)  # (n, 5, 11)
        digits.append(probs.argmax(-1))
        conf.append(probs.max(-1).prod(-1))
        lengths.append(np.asarray(out["length"]).argmax(-1))
        if "boxes" in out:
            raw = np.asarray(out["boxes"]).reshape(-1, MAX_DIGITS, 4)
            boxes.append(unscale_boxes(raw, batch.images.shape[1:3]))
    return Predictions(np.concatenate(digits), np.concatenate(lengths),
                       np.concatenate(boxes) if boxes else None, np.concatenate(conf))


def evaluate(model, source, indices=None) -> dict:
    """All metrics of :mod:`digitlib.metrics` for ``model`` on ``source``."""
    indices = np.arange(len(source)) if indices is None else np.asarray(indices)
    truth = _read(source, indices)
    return evaluate_predictions(truth, predict(model, source, indices))


# ---------------------------------------------------------------------------------------- the runner

class _Checkpoint(keras.callbacks.Callback):
    """Saves the model (with optimizer state) and the history after every epoch, atomically."""

    def __init__(self, folder: Path, history: dict, seconds: float):
        super().__init__()
        self.folder, self.history, self.seconds = folder, history, seconds
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds += time.perf_counter() - self._start
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        tmp = self.folder / "checkpoint.tmp.keras"
        self.model.save(tmp)
        tmp.replace(self.folder / "checkpoint.keras")
        _write_json(self.folder / "state.json", {"epoch": epoch + 1, "history": self.history, "seconds": self.seconds})


class _EpochLine(keras.callbacks.Callback):
    """One short progress line per epoch, readable in JupyterLab, the rendered book and CI logs."""

    def __init__(self, name: str, epochs: int):
        super().__init__()
        self.name, self.epochs, self._start = name, epochs, None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = [f"loss {logs.get('loss', float('nan')):.3f}", f"val_loss {logs.get('val_loss', float('nan')):.3f}",
                 f"val first-digit acc {logs.get('val_digit_1_accuracy', float('nan')):.3f}"]
        if "val_boxes_mse" in logs:
            parts.append(f"val box MSE {logs['val_boxes_mse']:.4f}")
        print(f"{self.name} epoch {epoch + 1}/{self.epochs} ({time.perf_counter() - self._start:.0f} s): "
              + ", ".join(parts), flush=True)


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=float))
    tmp.replace(path)


@keras.saving.register_keras_serializable(package="digitlib")
def masked_box_mse(y_true, y_pred):
    """Box loss over the real digits only: the squared errors of blank positions (target -1, see
    :func:`~digitlib.data.scale_boxes`) count as zero; the sum is divided by all 20 outputs, as in
    the MSE. The box head then spends its capacity on *where* digits are, and leaves *whether* a
    position holds a digit to the digit heads. Shapes ``(batch, 20)``; returns ``(batch,)``."""
    ops = keras.ops
    real = ops.cast(y_true > -0.5, y_pred.dtype)
    return ops.mean(real * ops.square(y_true - y_pred), axis=-1)


BOX_LOSSES = {"mse": "mse", "masked_mse": masked_box_mse}


def compile_model(model, box_loss_weight: float, optimizer, box_loss: str = "mse") -> None:
    """Cross-entropy for the digit and length heads, ``box_loss`` for the box head (``"mse"``, the
    report's, or ``"masked_mse"``, :func:`masked_box_mse`) weighted by ``box_loss_weight`` (the
    report's Fig. 15 study); accuracy per digit head and, for boxes, the MSE over all 20 outputs
    (``boxes_mse`` in the history; a model trained with ``masked_mse`` is not trained to put
    blanks at -1, so its ``boxes_mse`` also counts errors its loss ignores)."""
    if box_loss not in BOX_LOSSES:
        raise ValueError(f"unknown box_loss {box_loss!r}; choose one of {sorted(BOX_LOSSES)}")
    names = model.output_names
    loss = {n: (BOX_LOSSES[box_loss] if n == "boxes" else "sparse_categorical_crossentropy") for n in names}
    weights = {n: (box_loss_weight if n == "boxes" else 1.0) for n in names}
    metrics = {n: (["mse"] if n == "boxes" else ["accuracy"]) for n in names}
    model.compile(optimizer=optimizer, loss=loss, loss_weights=weights, metrics=metrics)


def _load_result(folder: Path) -> Result:
    data = json.loads((folder / "result.json").read_text())
    data["folder"] = folder
    return Result(**data)


def run_experiment(exp: Experiment, profile=None, results_home=None, verbose: int = 1, data=None) -> Result:
    """Train ``exp`` (or reuse its cached result) and return the :class:`Result`.

    ``data``: optional ``(train, test, source_label)`` already loaded by :func:`experiment_data`.
    ``verbose``: 0 silent, otherwise one progress line per epoch.
    The last 10% of the training samples (in their stored, already random order) are held out for
    validation, as in the report. Two processes running the same experiment take turns (a file
    lock, ``<results>/<key>.lock``): the second waits, then reuses the first one's result.
    """
    profile = profile or active_profile()
    exp = exp.resolved(profile)
    folder = _results_home(results_home) / exp.key(profile)
    if not (folder / "result.json").exists():  # a finished result is read without the lock
        with file_lock(folder.with_name(folder.name + ".lock"), f"to train {exp.name} into {folder}",
                       progress=bool(verbose), env=RESULTS_ENV):
            if not (folder / "result.json").exists():  # else another process finished it meanwhile
                return _train(exp, profile, folder, verbose, data)
    if verbose:
        print(f"{exp.name}: reusing the trained result in {folder}")
    return _load_result(folder)


def _train(exp: Experiment, profile, folder: Path, verbose: int, data) -> Result:
    """Train the resolved ``exp`` into ``folder``, resuming from its checkpoint; the caller holds
    the folder's lock."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "experiment.json", {"experiment": asdict(exp), "profile": profile.as_dict()})
    train, test, source_label = data or experiment_data(exp, profile)
    n_train = len(train) if exp.train_limit is None else min(exp.train_limit, len(train))
    n_val = max(1, int(round(profile.validation_fraction * n_train)))
    fit_idx, val_idx = np.arange(n_train - n_val), np.arange(n_train - n_val, n_train)
    with_boxes = exp.dataset == "house_numbers"
    seed_everything(exp.seed)
    state = json.loads((folder / "state.json").read_text()) if (folder / "state.json").exists() else None
    if state and (folder / "checkpoint.keras").exists():
        model = keras.models.load_model(folder / "checkpoint.keras")
        history, seconds, initial_epoch = state["history"], state["seconds"], state["epoch"]
        if verbose:
            print(f"{exp.name}: resuming from the checkpoint after epoch {initial_epoch}")
    else:
        from .models import build_model

        shape = _read(train, [0]).images.shape[1:] + ((1,) if exp.dataset == "mnist" else ())
        default_policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy(exp.precision)  # the layers keep the policy they were built with
        try:
            model = build_model(exp.model, shape, **dict(exp.model_kwargs))
        finally:
            keras.config.set_dtype_policy(default_policy)
        steps = math.ceil(len(fit_idx) / exp.batch_size) * exp.epochs
        lr = (keras.optimizers.schedules.CosineDecay(exp.learning_rate, steps) if exp.lr_schedule == "cosine"
              else exp.learning_rate)
        if exp.lr_schedule not in (None, "cosine"):
            raise ValueError(f"unknown lr_schedule {exp.lr_schedule!r}; use None or 'cosine'")
        compile_model(model, exp.box_loss_weight, keras.optimizers.Adam(lr), exp.box_loss)
        history, seconds, initial_epoch = {}, 0.0, 0
    feeder = BatchFeeder(train, fit_idx, exp.batch_size, with_boxes, shuffle=True, shift=exp.shift, seed=exp.seed)
    feeder.set_epoch(initial_epoch)
    val = BatchFeeder(train, val_idx, exp.batch_size, with_boxes)
    checkpoint = _Checkpoint(folder, history, seconds)
    if initial_epoch < exp.epochs:
        callbacks = [checkpoint] + ([_EpochLine(exp.name, exp.epochs)] if verbose else [])
        model.fit(feeder, validation_data=val, epochs=exp.epochs, initial_epoch=initial_epoch,
                  callbacks=callbacks, verbose=0)
    model.save(folder / "model.keras")
    metrics = {"validation": evaluate(model, train, val_idx), "test": evaluate(model, test)}
    if with_boxes:  # the report's table for house numbers also scores the first 10,000 training samples
        metrics["train_first_10000"] = evaluate(model, train, np.arange(min(10_000, n_train)))
    result = Result(experiment=asdict(exp), profile=profile.name, history=checkpoint.history, metrics=metrics,
                    params=int(model.count_params()), train_seconds=checkpoint.seconds,
                    images_per_second=len(fit_idx) * exp.epochs / max(checkpoint.seconds, 1e-9),
                    folder=folder, data_source=source_label,
                    extra={"train_samples": int(len(fit_idx)), "validation_samples": int(len(val_idx)),
                           "test_samples": int(len(test))})
    _write_json(folder / "result.json", {k: v for k, v in asdict(result).items() if k != "folder"})
    (folder / "checkpoint.keras").unlink(missing_ok=True)
    # free this run's graph and tensors, so a chapter training many models stays under Binder's 2 GB
    del model, feeder, val
    keras.backend.clear_session()
    gc.collect()
    return result

