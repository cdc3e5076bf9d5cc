"""Statistics the exploration chapter shows, for any prepared split (real or synthetic)."""
from __future__ import annotations

import numpy as np

from ..report import REPORT_ASPECT_RATIOS  # noqa: F401  (the report's Fig. 7, on real SVHN)
from .labels import BLANK, MAX_DIGITS, NUM_CLASSES


def benford_expectation() -> np.ndarray:
    """Benford's law for a leading digit: ``P(d) = log10(1 + 1/d)`` for ``d = 1..9``, shape (9,)."""
    d = np.arange(1, 10)
    return np.log10(1 + 1 / d)


def digit_histograms(digits: np.ndarray) -> np.ndarray:
    """Counts of each class per position: int array ``(5, 11)``, column 10 = blank.

    ``digits``: ``(N, 5)`` labels with blank = 10.
    """
    digits = np.asarray(digits)
    return np.stack([np.bincount(digits[:, p], minlength=NUM_CLASSES) for p in range(MAX_DIGITS)])


def leading_digit_frequencies(digits: np.ndarray) -> np.ndarray:
    """Observed frequency of leading digits 1-9 (the first position), shape (9,)."""
    first = np.asarray(digits)[:, 0]
    first = first[(first >= 1) & (first <= 9)]
    counts = np.bincount(first, minlength=10)[1:10]
    return counts / max(counts.sum(), 1)


def length_histogram(lengths: np.ndarray) -> np.ndarray:
    """Counts of sequence lengths 0-5, shape (6,)."""
    return np.bincount(np.asarray(lengths), minlength=MAX_DIGITS + 1)[: MAX_DIGITS + 1]


def mean_aspect_ratio(crop_sizes: np.ndarray) -> float:
    """Mean width-to-height ratio of the cropped digit regions (the report's Fig. 7 statistic)."""
    crop_sizes = np.asarray(crop_sizes, dtype=np.float64)
    return float(np.mean(crop_sizes[:, 0] / crop_sizes[:, 1]))


def blank_fraction(digits: np.ndarray) -> np.ndarray:
    """Fraction of blanks at each of the five positions, shape (5,)."""
    return (np.asarray(digits) == BLANK).mean(axis=0)
