"""From samples to what Keras trains on: scaled images, one target per named output, random
shifts, and a :class:`BatchFeeder` that serves any sample source in batches.

A sample source is a :class:`~digitlib.data.DigitSequences` (in memory) or a
:class:`~digitlib.data.svhn.PreparedSplit` (streamed from HDF5): both have ``len()``,
``read(indices)`` and ``random_access``. This module imports Keras; the rest of
:mod:`digitlib.data` does not.
"""
from __future__ import annotations

import math
import random
import sys

import numpy as np

from ..backend import import_keras
from .boxes import shift_boxes
from .dataset import DigitSequences, scale_boxes, scale_images
from .labels import DIGIT_OUTPUTS, MAX_DIGITS

keras = import_keras()


def model_inputs(data: DigitSequences, with_boxes: bool, shift: int = 0, rng=None, box_scale: float = 1.0):
    """``(x, y)`` for Keras from a batch: scaled images and a dict of targets per named output.

    ``x``: float32 ``(N, H, W, C)`` (see :func:`~digitlib.data.scale_images`). ``y``: ``digit_1``
    .. ``digit_5`` (N,) classes with blank = 10, ``length`` (N,), and with ``with_boxes``
    ``boxes`` (N, 20): the five boxes in 0..1 of the image, blanks -1, all times ``box_scale``
    (the unit of the targets, :attr:`~digitlib.experiments.Experiment.box_target_scale`). With
    ``shift > 0`` every image first moves by a random offset (:func:`random_shift`).
    """
    images, boxes = data.images, data.boxes
    if shift:
        images, boxes = random_shift(images, boxes, shift, rng or np.random.default_rng())
    x = scale_images(images)
    y = {name: data.digits[:, i] for i, name in enumerate(DIGIT_OUTPUTS)}
    y["length"] = data.lengths
    if with_boxes:
        y["boxes"] = box_scale * scale_boxes(boxes, images.shape[1:3]).reshape(len(images), 4 * MAX_DIGITS)
    return x, y


def random_shift(images: np.ndarray, boxes, shift: int, rng: np.random.Generator):
    """Goodfellow et al.'s augmentation: move each image by up to ``shift`` pixels in x and y
    (edges repeated) and its digit boxes with it.

    ``images``: uint8 ``(N, H, W)`` or ``(N, H, W, 3)``; ``boxes``: ``(N, 5, 4)`` xyxy pixels
    (blanks -1, left as they are) or None. Returns the shifted ``(images, boxes)``.
    """
    n, h, w = images.shape[:3]
    pad = [(0, 0), (shift, shift), (shift, shift)] + [(0, 0)] * (images.ndim - 3)
    padded = np.pad(images, pad, mode="edge")
    offsets = rng.integers(0, 2 * shift + 1, size=(n, 2))  # where the window starts in the padded image
    out = np.empty_like(images)
    for i, (oy, ox) in enumerate(offsets):
        out[i] = padded[i, oy:oy + h, ox:ox + w]
    if boxes is None:
        return out, None
    return out, shift_boxes(boxes, shift - offsets[:, 1], shift - offsets[:, 0], (h, w))


class BatchFeeder(keras.utils.PyDataset):
    """Serves ``(x, y)`` batches (see :func:`model_inputs`) of the samples ``indices`` of a source.

    With ``shuffle``, the order changes every epoch and depends only on ``seed`` and the epoch
    number (set by :meth:`set_epoch`, which :class:`EpochOrder` calls at the start of each epoch),
    so training is reproducible and a resumed run sees the same batches. A random-access source
    is shuffled sample by sample, a streamed one by blocks of ``batch_size`` consecutive samples.
    Random shifts (``shift``) apply only when shuffling, i.e. to training batches. ``box_scale``:
    the unit of the box targets (see :func:`model_inputs`).
    """

    def __init__(self, source, indices, batch_size: int, with_boxes: bool, shuffle: bool = False,
                 shift: int = 0, seed: int = 0, box_scale: float = 1.0):
        super().__init__(workers=1, use_multiprocessing=False)
        self.source, self.indices = source, np.asarray(indices)
        self.batch_size, self.with_boxes, self.box_scale = batch_size, with_boxes, box_scale
        self.shuffle, self.shift, self.seed = shuffle, shift, seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if not self.shuffle:
            self.order = self.indices
            return
        block = 1 if self.source.random_access else self.batch_size
        blocks = [self.indices[i:i + block] for i in range(0, len(self.indices), block)]
        rng = np.random.default_rng([self.seed, epoch])
        self.order = np.concatenate([blocks[j] for j in rng.permutation(len(blocks))])

    def __len__(self) -> int:
        return math.ceil(len(self.indices) / self.batch_size)

    def __getitem__(self, i):
        batch = self.source.read(np.sort(self.order[i * self.batch_size:(i + 1) * self.batch_size]))
        rng = np.random.default_rng([self.seed, self.epoch, i]) if self.shift else None
        return model_inputs(batch, self.with_boxes, self.shift if self.shuffle else 0, rng, self.box_scale)

    def fit_data(self):
        """These batches as a ``tf.data.Dataset``, for ``fit(..., shuffle=False)`` (it shuffles
        itself).

        The dataset serves what Keras serves from the feeder itself, batch for batch: each epoch's
        batches (the epoch is read when its iteration starts), in the order ``fit(shuffle=True)``
        gives a ``PyDataset``'s batches (with a shuffling feeder: Python's ``random.shuffle`` of the
        batch numbers at each epoch's start), so every trained number stays the same. What differs:
        two batches are prefetched by one thread, without tf.data's autotuning. Keras wraps a
        ``PyDataset`` in an autotuned dataset, and freeing the last epoch's iterator then waited
        2-4 s for the iterator's background thread, in about a third of the epochs (the report's
        house-number network on a 2-core Intel Xeon: epochs of 5-11 s instead of 5-8 s)."""
        tf = sys.modules["tensorflow"]  # the backend, imported with Keras
        x, y = self[0]

        def spec(array):
            return tf.TensorSpec((None, *array.shape[1:]), tf.as_dtype(array.dtype))

        def epoch_batches():
            order = list(range(len(self)))
            if self.shuffle:
                random.shuffle(order)
            for i in order:
                yield self[i]

        batches = tf.data.Dataset.from_generator(epoch_batches,
                                                 output_signature=(spec(x), {k: spec(v) for k, v in y.items()}))
        options = tf.data.Options()
        options.autotune.enabled = False
        return batches.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(2).with_options(options)


class EpochOrder(keras.callbacks.Callback):
    """Tells a :class:`BatchFeeder` which epoch starts, also when ``fit`` resumes mid-way."""

    def __init__(self, feeder: BatchFeeder):
        super().__init__()
        self.feeder = feeder

    def on_epoch_begin(self, epoch, logs=None):
        self.feeder.set_epoch(epoch)
