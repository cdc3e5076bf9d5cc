"""Label conventions shared by every dataset in the book.

* Digit classes 0-9 are the digits themselves; ``BLANK = 10`` marks a position with no digit.
* Every sample has ``digits``: an int array of shape ``(MAX_DIGITS,) == (5,)``, left-aligned, padded
  with ``BLANK``; and ``length``: how many real digits it holds (0-5).
* SVHN's native label 10 means the digit **0**; :func:`from_svhn_label` maps it to 0 on load.
* House numbers also have ``boxes``: float32 array of shape ``(5, 4)`` holding
  ``(x_min, y_min, x_max, y_max)`` in pixels of the image the sample belongs to. Blank positions hold
  ``BLANK_BOX`` (all -1: outside the image), the report's negative coordinates that teach the box
  head to put missing digits out of view.
"""
from __future__ import annotations

import numpy as np

BLANK = 10
MAX_DIGITS = 5
NUM_CLASSES = 11  # 0-9 and blank
BLANK_BOX = np.array([-1.0, -1.0, -1.0, -1.0], dtype=np.float32)
#: the names of the models' outputs (and of the training targets): one 11-way head per position,
#: then ``length`` (0-5 digits) and, for house numbers, ``boxes`` (20 numbers)
DIGIT_OUTPUTS = tuple(f"digit_{i + 1}" for i in range(MAX_DIGITS))


def from_svhn_label(label):
    """Map SVHN's label (1-10, where 10 means the digit 0) to the book's digit class (0-9)."""
    label = np.asarray(label).astype(np.int64)
    if np.any((label < 0) | (label > 10)):
        raise ValueError(f"SVHN labels are 1-10 (10 = digit 0); got {np.unique(label).tolist()}")
    return np.where(label == 10, 0, label)


def encode_number(digits) -> np.ndarray:
    """Turn a sequence of digits (``[4, 2]`` or ``"42"``) into the shape-(5,) label, blanks = 10."""
    values = [int(d) for d in str(digits)] if isinstance(digits, (str, int)) else [int(d) for d in digits]
    if len(values) > MAX_DIGITS:
        raise ValueError(f"at most {MAX_DIGITS} digits, got {len(values)}: {values}")
    if any(not 0 <= v <= 9 for v in values):
        raise ValueError(f"digits must be 0-9, got {values}")
    out = np.full(MAX_DIGITS, BLANK, dtype=np.int64)
    out[: len(values)] = values
    return out


def decode_digits(digits) -> str:
    """Turn a shape-(5,) label back into a string, skipping blanks: ``[4, 2, 10, 10, 10] -> "42"``."""
    return "".join(str(int(d)) for d in np.asarray(digits) if int(d) != BLANK)


def blank_past_length(digits, lengths) -> np.ndarray:
    """Decode with the length head: positions at or past the predicted length become blank (10).

    ``digits``: int ``(N, 5)``, each position's own prediction (argmax of its head); ``lengths``:
    int ``(N,)``, the length head's prediction. Returns a new ``(N, 5)`` array; positions before the
    length keep their digit, even a predicted blank (the length does not invent digits).
    """
    digits, lengths = np.asarray(digits), np.asarray(lengths)
    if digits.ndim != 2 or digits.shape[1] != MAX_DIGITS or lengths.shape != digits.shape[:1]:
        raise ValueError(f"expected digits (N, {MAX_DIGITS}) and lengths (N,), got {digits.shape} and {lengths.shape}")
    return np.where(np.arange(MAX_DIGITS) < lengths[:, None], digits, BLANK)
