import random

import numpy as np

import digitlib


def _draws():
    from digitlib.backend import import_keras

    keras = import_keras()

    layer = keras.layers.Dense(4)
    layer.build((None, 3))
    return random.random(), np.random.rand(), np.asarray(layer.kernel).copy()


def test_same_seed_same_numbers():
    assert digitlib.seed_everything(7) == 7
    a = _draws()
    digitlib.seed_everything(7)
    b = _draws()
    assert a[0] == b[0] and a[1] == b[1]
    np.testing.assert_array_equal(a[2], b[2])


def test_other_seed_other_numbers():
    digitlib.seed_everything(7)
    a = _draws()
    digitlib.seed_everything(8)
    b = _draws()
    assert a[0] != b[0]
    assert not np.array_equal(a[2], b[2])


def test_default_seed_comes_from_the_profile(quick_profile):
    assert digitlib.seed_everything() == digitlib.active_profile().seed


def test_versions_lists_the_main_libraries():
    v = digitlib.versions()
    assert {"python", "digitlib", "numpy", "keras"} <= set(v)


def test_keras_imports_without_tensorflow_startup_noise():
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", "import digitlib.backend as b; b.import_keras()"],
                         capture_output=True, text=True)
    assert run.returncode == 0
    assert "oneDNN" not in run.stderr and "absl" not in run.stderr
