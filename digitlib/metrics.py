"""The book's metrics, each defined once. Labels use blank = 10; boxes are xyxy pixels.

Which of the report's numbers each one corresponds to:

* :func:`position_accuracy`: all five positions, blanks included. The report's "digit accuracy"
  (0.9785 on MNIST, 96.2% on SVHN test) is the mean of its five per-digit Keras accuracies, which
  is this metric.
* :func:`character_accuracy`: real digits only, Goodfellow et al.'s per-character accuracy (97.84%).
* :func:`sequence_accuracy`: every position right, the report's sequence accuracy
  (0.89625 on MNIST, 84.9% on SVHN test; Goodfellow et al.: 96.03%).
* :func:`mean_iou`: mean intersection over union over the real (non-blank) digits, predicted boxes
  clipped to the image (the report's IoU: 0.706 on SVHN test). ``iou`` is
  :func:`digitlib.data.boxes.box_iou`, the IoU of paired boxes.
"""
from __future__ import annotations

import numpy as np

from .data.boxes import box_iou as iou, clip_boxes
from .data.labels import BLANK


def _check(true_digits, pred_digits):
    t, p = np.asarray(true_digits), np.asarray(pred_digits)
    if t.shape != p.shape or t.ndim != 2:
        raise ValueError(f"expected two (N, 5) label arrays, got {t.shape} and {p.shape}")
    return t, p


def position_accuracy(true_digits, pred_digits) -> float:
    """Fraction of all N x 5 positions predicted right, blanks included."""
    t, p = _check(true_digits, pred_digits)
    return float(np.mean(t == p))


def per_position_accuracy(true_digits, pred_digits) -> np.ndarray:
    """Accuracy of each of the five positions, shape (5,)."""
    t, p = _check(true_digits, pred_digits)
    return np.mean(t == p, axis=0)


def character_accuracy(true_digits, pred_digits) -> float:
    """Fraction of the real (non-blank) digits predicted right (Goodfellow et al.'s sense)."""
    t, p = _check(true_digits, pred_digits)
    real = t != BLANK
    return float(np.mean(t[real] == p[real])) if real.any() else float("nan")


def sequence_accuracy(true_digits, pred_digits) -> float:
    """Fraction of images whose five positions are all right: the whole number read correctly.

    The report's equation: (1/N) * sum_i 1[y_i1 = p_i1 and ... and y_i5 = p_i5].
    """
    t, p = _check(true_digits, pred_digits)
    return float(np.mean(np.all(t == p, axis=1)))


def length_accuracy(true_lengths, pred_lengths) -> float:
    """Accuracy of the length head."""
    return float(np.mean(np.asarray(true_lengths) == np.asarray(pred_lengths)))


def mean_iou(true_boxes, pred_boxes, true_digits, image_size=(54, 54)) -> float:
    """Mean IoU over the real digits: ``(N, 5, 4)`` xyxy pixel boxes; blanks (digit 10) skipped.

    Predicted boxes are clipped to the image first, so a box predicted off-image scores 0.
    """
    real = np.asarray(true_digits) != BLANK
    if not real.any():
        return float("nan")
    scores = iou(np.asarray(true_boxes)[real], clip_boxes(np.asarray(pred_boxes)[real], image_size))
    return float(scores.mean())


def evaluate_predictions(true, pred, image_size=None) -> dict:
    """All metrics for a data set and its predictions (both with ``digits``, ``lengths``,
    optionally ``boxes``), as a dict of floats (and ``per_position`` as a list)."""
    out = {
        "position_accuracy": position_accuracy(true.digits, pred.digits),
        "character_accuracy": character_accuracy(true.digits, pred.digits),
        "sequence_accuracy": sequence_accuracy(true.digits, pred.digits),
        "length_accuracy": length_accuracy(true.lengths, pred.lengths),
        "per_position": per_position_accuracy(true.digits, pred.digits).tolist(),
    }
    if getattr(true, "boxes", None) is not None and getattr(pred, "boxes", None) is not None:
        size = image_size or true.images.shape[1:3]
        out["mean_iou"] = mean_iou(true.boxes, pred.boxes, true.digits, size)
    return out
