"""Autochecks: a right answer passes, a wrong one fails with a hint, a stub says 'not done yet'."""
import numpy as np
import pytest

from digitlib import checks
from digitlib.data import decode_digits
from digitlib.metrics import iou, sequence_accuracy

RIGHT = {
    "check_sequence_accuracy": sequence_accuracy,
    "check_decode": decode_digits,
    "check_leading_digit": lambda n: int(str(n)[0]),
    "check_conv2d": checks._conv2d_valid,
    "check_softmax": checks._softmax,
    "check_iou": lambda a, b: float(iou(a, b)),
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
