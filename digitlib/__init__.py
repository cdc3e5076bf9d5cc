"""digitlib: the helper library of the Digit Recognition course book.

The notebooks explain and call; the code lives here, one concern per module:

* :mod:`digitlib.config`: the ``quick``/``full`` profile switch, the data/results folders, file locks
* :mod:`digitlib.reproducibility`: :func:`seed_everything`
* :mod:`digitlib.backend`: a quiet Keras import; does this CPU compute bfloat16 natively?
* :mod:`digitlib.data`: the samples, in these modules:

  * :mod:`~digitlib.data.labels`: label conventions (blank = 10, SVHN's 10 = digit 0), output names
  * :mod:`~digitlib.data.dataset`: :class:`DigitSequences`, the in-memory samples; pixel and box scaling
  * :mod:`~digitlib.data.boxes`: box geometry (conversion, clipping, IoU, crops, shifts)
  * :mod:`~digitlib.data.mnist`: MNIST digits and the 28x140 sequences built from them
  * :mod:`~digitlib.data.digitstruct`: SVHN format 1's ``digitStruct.mat``, read and written
  * :mod:`~digitlib.data.svhn`: SVHN preprocessing to 54x54 crops, the prepared HDF5 split
  * :mod:`~digitlib.data.synth`: synthetic house numbers in SVHN's format (the offline profile)
  * :mod:`~digitlib.data.house_numbers`: the house numbers the active profile uses
  * :mod:`~digitlib.data.download`: checksum-verified downloads, safe archive extraction
  * :mod:`~digitlib.data.parallel`: one parallel map (joblib) for parsing and generating
  * :mod:`~digitlib.data.explore`: statistics of a split (lengths, leading digits, crop shapes)
  * :mod:`~digitlib.data.feeding`: Keras inputs and targets, random shifts, the batch feeder
  * :mod:`~digitlib.data.errors`: the errors, each naming the file and the fix

* :mod:`digitlib.models`: the networks (named outputs), their losses and compilation
* :mod:`digitlib.experiments`: what the book trains (:class:`~digitlib.experiments.Experiment`)
* :mod:`digitlib.training`: how it trains: the runner with its results cache, prediction, evaluation
* :mod:`digitlib.metrics`: sequence, character and position accuracy, IoU
* :mod:`digitlib.plots`, :mod:`digitlib.widgets`, :mod:`digitlib.tables`: figures, sliders, tables
* :mod:`digitlib.report`: the report's published numbers, quoted beside ours
* :mod:`digitlib.checks`, :mod:`digitlib.assignments`, :mod:`digitlib.grading`: exercise autochecks,
  student versions, grading a class
* :mod:`digitlib.bench`: the benchmark tables (``make bench``)
* :mod:`digitlib.execution`: runs notebooks under a watchdog that ends and retries a stalled
  kernel (the book build, the tests)

Label convention everywhere: digit classes 0-9 are the digits themselves and **10 means blank**
(no digit in that position). SVHN's own label 10, which means the digit 0, is mapped to 0 on load.
"""
from __future__ import annotations

import os

# Quieter TensorFlow start-up in notebooks and logs; must happen before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from .config import active_profile, data_home, results_home  # noqa: E402
from .reproducibility import seed_everything  # noqa: E402

__version__ = "0.1.0"

__all__ = ["active_profile", "data_home", "results_home", "seed_everything", "versions", "__version__"]


def versions() -> dict[str, str]:
    """Versions of Python and the main libraries, for the first cell of a notebook."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "digitlib": __version__}
    for name in ["numpy", "keras", "tensorflow", "tensorflow-cpu", "h5py", "pillow", "matplotlib"]:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out
