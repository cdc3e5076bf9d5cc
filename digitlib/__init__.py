"""digitlib: the helper library of the Digit Recognition course book.

The notebooks explain and call; the code lives here:

* :mod:`digitlib.config`: the ``quick``/``full`` profile switch and the data/results folders
* :mod:`digitlib.reproducibility`: :func:`seed_everything`
* :mod:`digitlib.data`: MNIST sequences, the SVHN format-1 pipeline, synthetic house numbers
* :mod:`digitlib.plots`: the figures the chapters draw
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
