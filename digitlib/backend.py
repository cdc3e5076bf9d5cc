"""Import Keras (TensorFlow backend) without TensorFlow's start-up chatter in notebooks and logs.

TensorFlow's C++ start-up messages ("oneDNN custom operations are on", ...) go straight to file
descriptor 2 and ignore ``TF_CPP_MIN_LOG_LEVEL``, so they would clutter every executed notebook.
:func:`import_keras` silences that descriptor only while TensorFlow loads; errors still raise.
"""
from __future__ import annotations

import importlib
import os
import sys


def import_keras():
    """Return the ``keras`` module, importing TensorFlow quietly first when it is the backend."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow" and "tensorflow" not in sys.modules:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            importlib.import_module("tensorflow")
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    return importlib.import_module("keras")
