"""Autochecks for the exercises: call one with your function after an exercise.

Each check compares your answer with the book's reference implementation on fresh random inputs,
prints a friendly pass/fail message with a hint, and returns True or False. A stub that still
raises ``NotImplementedError`` is reported as "not done yet" rather than as a failure.
"""
from __future__ import annotations

import numpy as np
from scipy.special import softmax

from .data.boxes import box_iou, boxes_in_crop
from .data.labels import BLANK, decode_digits
from .metrics import sequence_accuracy
from .widgets import feature_map


def _report(name: str, ok: bool, hint: str, detail: str = "") -> bool:
    if ok:
        print(f"PASS {name}: matches the reference on fresh random inputs.")
    else:
        print(f"FAIL {name}: {detail}\n     Hint: {hint}")
    return ok


def _run(name, fn, hint, cases, reference, compare):
    try:
        for args in cases:
            got, want = fn(*args), reference(*args)
            if not compare(got, want):
                return _report(name, False, hint, f"for input {args!r} you returned {got!r}, expected {want!r}.")
    except NotImplementedError:
        print(f"TODO {name}: the exercise is not done yet (your function still raises NotImplementedError).")
        return False
    except Exception as err:  # a student's bug: say what happened instead of a traceback
        return _report(name, False, hint, f"your function raised {type(err).__name__}: {err}")
    return _report(name, True, hint)


def _labels(rng, n):
    lengths = rng.integers(1, 6, n)
    digits = np.where(np.arange(5) < lengths[:, None], rng.integers(0, 10, (n, 5)), BLANK)
    return digits


def check_sequence_accuracy(fn) -> bool:
    """``fn(true_digits, pred_digits) -> float`` for (N, 5) labels, blank = 10."""
    rng = np.random.default_rng()
    cases = []
    for _ in range(5):
        t = _labels(rng, 20)
        p = t.copy()
        flip = rng.random(t.shape) < 0.08
        p[flip] = rng.integers(0, 11, flip.sum())
        cases.append((t, p))
    return _run("sequence accuracy", fn, "a number counts only if all five positions match: "
                "np.all(true == pred, axis=1), then the mean.", cases, sequence_accuracy,
                lambda a, b: np.isclose(float(a), b))


def check_decode(fn) -> bool:
    """``fn(digits) -> str`` turning a (5,) label into the number it reads, e.g. [4, 2, 10, 10, 10] -> "42"."""
    rng = np.random.default_rng()
    cases = [(d,) for d in _labels(rng, 10)]
    return _run("decode a label", fn, "skip the positions that hold 10 (blank) and join the rest as text.",
                cases, decode_digits, lambda a, b: str(a) == b)


def check_leading_digit(fn) -> bool:
    """``fn(n) -> int``: the first (most significant) digit of a positive integer."""
    rng = np.random.default_rng()
    cases = [(int(n),) for n in rng.integers(1, 100_000, 12)]
    return _run("leading digit", fn, "str(n)[0] works; so does dividing by 10 until n < 10.",
                cases, lambda n: int(str(n)[0]), lambda a, b: int(a) == b)


def check_conv2d(fn) -> bool:
    """``fn(image, kernel) -> array``: a 'valid' 2-D convolution as Keras computes it (no kernel flip)."""
    rng = np.random.default_rng()
    cases = [(rng.normal(size=(rng.integers(5, 9), rng.integers(5, 9))), rng.normal(size=(k, k))) for k in (1, 2, 3, 3)]
    return _run("2-D convolution", fn, "slide the kernel over every position where it fits completely; "
                "output shape (H - kh + 1, W - kw + 1); multiply element-wise and sum. Keras does not flip the kernel.",
                cases, feature_map, lambda a, b: np.shape(a) == b.shape and np.allclose(a, b))


def check_softmax(fn) -> bool:
    """``fn(z) -> array``: the softmax of a 1-D vector, stable for large values."""
    rng = np.random.default_rng()
    cases = [(rng.normal(size=11) * s,) for s in (1, 5, 100, 1000)]
    return _run("softmax", fn, "exp(z) / sum(exp(z)); subtract max(z) first so that exp never overflows.",
                cases, softmax, lambda a, b: np.allclose(a, b))


def check_iou(fn) -> bool:
    """``fn(box_a, box_b) -> float`` for two boxes ``(x_min, y_min, x_max, y_max)``."""
    rng = np.random.default_rng()
    cases = [(np.array([0, 0, 10, 10.0]), np.array([20, 20, 30, 30.0])), (np.array([0, 0, 10, 10.0]),) * 2]
    for _ in range(10):
        a = np.sort(rng.uniform(0, 50, (2, 2)), axis=0).T.ravel()[[0, 2, 1, 3]]
        b = np.sort(rng.uniform(0, 50, (2, 2)), axis=0).T.ravel()[[0, 2, 1, 3]]
        cases.append((a, b))
    return _run("intersection over union", fn, "the overlap is max(0, min(x_max) - max(x_min)) times the same for y; "
                "the union is area_a + area_b - overlap.", cases, lambda a, b: float(box_iou(a, b)),
                lambda a, b: np.isclose(float(a), b))


def check_scale_box(fn) -> bool:
    """``fn(box, crop, size) -> box``: move an xyxy ``box`` into the frame of ``crop``
    ``(left, top, right, bottom)`` resized to ``size`` x ``size``."""
    rng = np.random.default_rng()
    cases = []
    for _ in range(8):
        left, top = rng.uniform(0, 40, 2)
        right, bottom = left + rng.uniform(10, 60), top + rng.uniform(10, 60)
        x0, y0 = rng.uniform(left, right - 5), rng.uniform(top, bottom - 5)
        box = np.array([x0, y0, rng.uniform(x0 + 1, right), rng.uniform(y0 + 1, bottom)])
        cases.append((box, (left, top, right, bottom), 54))
    return _run("scale a box into the crop", fn, "subtract the crop's left/top, then multiply x by size/width "
                "and y by size/height of the crop.", cases, boxes_in_crop, lambda a, b: np.allclose(a, b))


def check_reduction_cost(fn) -> bool:
    """Exercise 5.1: ``fn(channels) -> (direct, with_1x1)``: the weights (without biases) of a 5x5
    convolution with 64 filters on an input of ``channels`` channels, and of a 1x1 convolution to
    64 channels followed by that 5x5."""
    cases = [(c,) for c in (1, 3, 32, 64, 67, 256, 480)]
    return _run("the cost of a 1x1 reduction", fn, "weights = kernel height x width x input channels x filters, "
                "no biases; after the 1x1 the 5x5 sees its 64 channels, not the input's.", cases,
                lambda c: (5 * 5 * c * 64, c * 64 + 5 * 5 * 64 * 64),
                lambda a, b: tuple(int(v) for v in a) == b)
