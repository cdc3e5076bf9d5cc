"""Autochecks: a right answer passes, a wrong one fails with a hint, a stub says 'not done yet'."""
import numpy as np
import pytest

from digitlib import checks
from digitlib.data import decode_digits
from digitlib.metrics import sequence_accuracy


def _conv2d(image, kernel):
    """A student's loop version of the 'valid' cross-correlation."""
    kh, kw = kernel.shape
    return np.array([[np.sum(image[i:i + kh, j:j + kw] * kernel) for j in range(image.shape[1] - kw + 1)]
                     for i in range(image.shape[0] - kh + 1)])


def _softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def _iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


RIGHT = {
    "check_sequence_accuracy": sequence_accuracy,
    "check_decode": decode_digits,
    "check_leading_digit": lambda n: int(str(n)[0]),
    "check_conv2d": _conv2d,
    "check_softmax": _softmax,
    "check_iou": _iou,
    "check_scale_box": lambda box, crop, size: (np.asarray(box) - np.array([crop[0], crop[1]] * 2))
    * np.array([size / (crop[2] - crop[0]), size / (crop[3] - crop[1])] * 2),
}
WRONG = {
    "check_sequence_accuracy": lambda t, p: float(np.mean(t == p)),  # position accuracy instead
    "check_decode": lambda d: "".join(map(str, d)),  # forgets the blanks
    "check_leading_digit": lambda n: n % 10,  # the last digit
    "check_conv2d": lambda im, k: np.zeros_like(im),  # wrong shape
    "check_softmax": lambda z: np.exp(z) / np.exp(z).sum(),  # overflows for large z
    "check_iou": lambda a, b: 0.5,
    "check_scale_box": lambda box, crop, size: np.asarray(box),
}


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_right_answer_passes(name, capsys):
    assert getattr(checks, name)(RIGHT[name]) is True
    assert capsys.readouterr().out.startswith("PASS")


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_answer_fails_with_a_hint(name, capsys):
    with np.errstate(all="ignore"):
        assert getattr(checks, name)(WRONG[name]) is False
    out = capsys.readouterr().out
    assert out.startswith("FAIL") and "Hint:" in out


def test_stub_is_reported_as_not_done(capsys):
    def stub(*args):
        raise NotImplementedError("Exercise 1.1")

    assert checks.check_iou(stub) is False
    assert capsys.readouterr().out.startswith("TODO")


def test_reduction_cost_check_accepts_the_solution_and_rejects_typical_mistakes(capsys):
    from digitlib.checks import check_reduction_cost

    assert check_reduction_cost(lambda c: (25 * c * 64, c * 64 + 25 * 64 * 64))
    assert not check_reduction_cost(lambda c: (25 * c * 64 + 64, c * 64 + 64 + 25 * 64 * 64 + 64))  # biases counted
    assert not check_reduction_cost(lambda c: (25 * c * 64, c * 64 + 25 * c * 64))  # 5x5 on the input's channels
    assert "FAIL" in capsys.readouterr().out

    def stub(c):
        raise NotImplementedError("Exercise 5.1: not done yet")

    assert not check_reduction_cost(stub)
    assert capsys.readouterr().out.startswith("TODO")
