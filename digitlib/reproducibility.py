"""Seeds and deterministic execution. Every notebook calls :func:`seed_everything` first."""
from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int | None = None, deterministic_ops: bool = True) -> int:
    """Seed Python, NumPy and Keras/TensorFlow, and ask TensorFlow for deterministic kernels.

    Parameters
    ----------
    seed:
        The seed; ``None`` uses the active profile's seed.
    deterministic_ops:
        Enable ``tf.config.experimental.enable_op_determinism`` (slightly slower, but the same
        profile and seed give the same numbers on the same machine).

    Returns the seed that was used.
    """
    if seed is None:
        from .config import active_profile

        seed = active_profile().seed
    seed = int(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    from .backend import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(seed)  # seeds python, numpy and the backend
    if deterministic_ops and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    return seed
