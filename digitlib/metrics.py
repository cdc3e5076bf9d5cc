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
* :func:`length_accuracy`: the length head's accuracy.

Every metric is a ratio of sums over images: on the images ``S``, ``metric = sum(numerator[S]) /
sum(denominator[S])`` (:func:`per_image_terms`). Mean IoU, for example, sums the IoUs of an image's
real digits and counts them, so an image with five digits weighs five times one with one digit.

One test set gives one number per model; the intervals say how far it could be from the number a
larger test set would give, so the chapters judge differences from them, never from the numbers:

* :func:`bootstrap_interval` (and :func:`metric_intervals` for all metrics): percentile bootstrap
  over the test images;
* :func:`paired_bootstrap`: the difference between two models on the *same* resampled images;
* :func:`seed_interval`: Student-t interval over the values of runs with different seeds;
* :func:`compare`: one sentence judging a difference from its :class:`Interval`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .data.boxes import box_iou as iou, clip_boxes
from .data.labels import BLANK

#: the metrics :func:`bootstrap_interval` and :func:`paired_bootstrap` know, by name
METRIC_NAMES = ("position_accuracy", "character_accuracy", "sequence_accuracy", "length_accuracy", "mean_iou")
#: resampled image indices held in memory at once by the bootstrap (int64: 32 MB)
_RESAMPLE_CHUNK = 4_000_000


@dataclass(frozen=True)
class PerImageTerms:
    """A metric split over ``N`` images: float64 ``numerator`` and ``denominator``, shape ``(N,)``.

    On the images ``indices`` the metric is ``numerator[indices].sum() / denominator[indices].sum()``
    (nan where the denominator sums to 0, e.g. IoU of images without real digits).
    """

    numerator: np.ndarray
    denominator: np.ndarray

    def __len__(self) -> int:
        return len(self.numerator)

    def value(self, indices=None):
        """The metric on all images (``indices=None``: a float), on ``indices`` of shape ``(K,)``
        (a float) or on each row of ``(R, K)`` resampled indices (float64 ``(R,)``)."""
        if indices is None:
            indices = np.arange(len(self))
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = self.numerator[indices].sum(axis=-1) / self.denominator[indices].sum(axis=-1)
        return float(ratio) if np.ndim(ratio) == 0 else ratio


def _terms(numerator, denominator) -> PerImageTerms:
    return PerImageTerms(np.asarray(numerator, np.float64), np.asarray(denominator, np.float64))


def _check(true_digits, pred_digits):
    t, p = np.asarray(true_digits), np.asarray(pred_digits)
    if t.shape != p.shape or t.ndim != 2:
        raise ValueError(f"expected two (N, 5) label arrays, got {t.shape} and {p.shape}")
    return t, p


def _position_terms(true_digits, pred_digits) -> PerImageTerms:
    t, p = _check(true_digits, pred_digits)
    return _terms(np.sum(t == p, axis=1), np.full(len(t), t.shape[1]))


def _character_terms(true_digits, pred_digits) -> PerImageTerms:
    t, p = _check(true_digits, pred_digits)
    real = t != BLANK
    return _terms(np.sum((t == p) & real, axis=1), np.sum(real, axis=1))


def _sequence_terms(true_digits, pred_digits) -> PerImageTerms:
    t, p = _check(true_digits, pred_digits)
    return _terms(np.all(t == p, axis=1), np.ones(len(t)))


def _length_terms(true_lengths, pred_lengths) -> PerImageTerms:
    t, p = np.asarray(true_lengths), np.asarray(pred_lengths)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"expected two (N,) length arrays, got {t.shape} and {p.shape}")
    return _terms(t == p, np.ones(len(t)))


def _iou_terms(true_boxes, pred_boxes, true_digits, image_size) -> PerImageTerms:
    true_boxes, pred_boxes, digits = np.asarray(true_boxes), np.asarray(pred_boxes), np.asarray(true_digits)
    if true_boxes.shape != pred_boxes.shape or true_boxes.shape != (*digits.shape, 4):
        raise ValueError(f"expected (N, 5, 4) true and predicted boxes for (N, 5) digits, got "
                         f"{true_boxes.shape}, {pred_boxes.shape} and {digits.shape}")
    real = digits != BLANK
    scores = iou(true_boxes, clip_boxes(pred_boxes, image_size))
    return _terms(np.sum(np.where(real, scores, 0.0), axis=1), np.sum(real, axis=1))


def position_accuracy(true_digits, pred_digits) -> float:
    """Fraction of all N x 5 positions predicted right, blanks included."""
    return _position_terms(true_digits, pred_digits).value()


def per_position_accuracy(true_digits, pred_digits) -> np.ndarray:
    """Accuracy of each of the five positions, shape (5,)."""
    t, p = _check(true_digits, pred_digits)
    return np.mean(t == p, axis=0)


def character_accuracy(true_digits, pred_digits) -> float:
    """Fraction of the real (non-blank) digits predicted right (Goodfellow et al.'s sense); nan without any."""
    return _character_terms(true_digits, pred_digits).value()


def sequence_accuracy(true_digits, pred_digits) -> float:
    """Fraction of images whose five positions are all right: the whole number read correctly.

    The report's equation: (1/N) * sum_i 1[y_i1 = p_i1 and ... and y_i5 = p_i5].
    """
    return _sequence_terms(true_digits, pred_digits).value()


def length_accuracy(true_lengths, pred_lengths) -> float:
    """Accuracy of the length head: ``(N,)`` true and predicted lengths."""
    return _length_terms(true_lengths, pred_lengths).value()


def mean_iou(true_boxes, pred_boxes, true_digits, image_size=(54, 54)) -> float:
    """Mean IoU over the real digits: ``(N, 5, 4)`` xyxy pixel boxes; blanks (digit 10) skipped.

    Predicted boxes are clipped to the image ``(height, width)`` first, so a box predicted off-image
    scores 0. Each real digit counts once (images with more digits weigh more); nan without any.
    """
    return _iou_terms(true_boxes, pred_boxes, true_digits, image_size).value()


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
        out["mean_iou"] = mean_iou(true.boxes, pred.boxes, true.digits, image_size or _image_size(true))
    return out


# ------------------------------------------------------------------------------------------ intervals

@dataclass(frozen=True)
class Interval:
    """A point ``estimate`` with its ``confidence`` (e.g. 0.95) interval ``low``..``high``.

    ``method`` says how it was computed, e.g. ``"bootstrap over 800 test images, 2000 resamples"``
    or ``"5 seeds, t-interval"``. ``str(interval)`` reads ``0.443 [0.409, 0.478]``.
    """

    estimate: float
    low: float
    high: float
    confidence: float
    method: str

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the interval (ends included)."""
        return bool(self.low <= value <= self.high)

    @property
    def resolved(self) -> bool:
        """For a difference between two models: whether the interval lies wholly above or below 0,
        i.e. tells which model is ahead (False for an interval with nan ends)."""
        return bool(self.low > 0 or self.high < 0)

    def format(self, digits: int = 3) -> str:
        """``estimate [low, high]`` with ``digits`` decimals."""
        return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"

    def __str__(self) -> str:
        return self.format()


def per_image_terms(metric: str, true, pred, image_size=None) -> PerImageTerms:
    """``metric`` (one of :data:`METRIC_NAMES`) split over the images of ``true`` and ``pred``.

    ``true``/``pred`` have ``digits`` int ``(N, 5)`` (blank = 10), ``lengths`` int ``(N,)`` and, for
    ``"mean_iou"``, ``boxes`` float ``(N, 5, 4)`` xyxy pixels, as :func:`evaluate_predictions` takes
    them (a :class:`~digitlib.data.DigitSequences` and a :class:`~digitlib.training.Predictions`).
    ``image_size`` ``(height, width)`` clips the predicted boxes (default: ``true.images``' size).
    ``per_image_terms(m, true, pred).value()`` equals the metric on all images.
    """
    if metric not in METRIC_NAMES:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRIC_NAMES)}")
    n_true, n_pred = len(np.asarray(true.digits)), len(np.asarray(pred.digits))
    if n_true != n_pred:
        raise ValueError(f"true and pred hold different numbers of images: {n_true} and {n_pred}")
    if metric == "position_accuracy":
        return _position_terms(true.digits, pred.digits)
    if metric == "character_accuracy":
        return _character_terms(true.digits, pred.digits)
    if metric == "sequence_accuracy":
        return _sequence_terms(true.digits, pred.digits)
    if metric == "length_accuracy":
        return _length_terms(true.lengths, pred.lengths)
    if getattr(true, "boxes", None) is None or getattr(pred, "boxes", None) is None:
        raise ValueError("mean_iou needs boxes on both true and pred")
    size = image_size or _image_size(true)
    return _iou_terms(true.boxes, pred.boxes, true.digits, size)


def _image_size(true) -> tuple:
    """``(height, width)`` of the images behind ``true``: its ``images``, or the ``image_size`` that
    saved labels (:class:`~digitlib.training.Labels`) carry."""
    if getattr(true, "images", None) is not None:
        return true.images.shape[1:3]
    if getattr(true, "image_size", None) is not None:
        return tuple(true.image_size)
    raise ValueError("mean_iou needs image_size=(height, width) when true has no images")


def _resampled_values(terms: PerImageTerms, n_resamples: int, seed: int) -> np.ndarray:
    """The metric on ``n_resamples`` bootstrap resamples of the images (drawn with replacement,
    ``N`` each, seeded), float64 ``(n_resamples,)``; in chunks to bound memory."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    n = len(terms)
    if n == 0:
        raise ValueError("cannot bootstrap over 0 images")
    rng = np.random.default_rng(seed)
    rows = max(1, _RESAMPLE_CHUNK // n)
    return np.concatenate([terms.value(rng.integers(0, n, size=(min(rows, n_resamples - done), n)))
                           for done in range(0, n_resamples, rows)])


def _percentile_interval(estimate: float, values: np.ndarray, confidence: float, method: str) -> Interval:
    tail = (1 - confidence) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return Interval(float(estimate), float(low), float(high), confidence, method)


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")


def bootstrap_interval(metric: str, true, pred, n_resamples: int = 2000, confidence: float = 0.95,
                       seed: int = 0, image_size=None) -> Interval:
    """Percentile-bootstrap interval of ``metric`` over the test images.

    Resamples the ``N`` images with replacement ``n_resamples`` times (seeded: the same interval for
    the same ``seed``) and recomputes the metric as a ratio of sums on each resample (mean IoU:
    IoU sum over digit count). ``true``, ``pred``, ``image_size``: as :func:`per_image_terms`.
    ``print(bootstrap_interval("sequence_accuracy", test, predictions))`` prints ``estimate [low, high]``.
    """
    _check_confidence(confidence)
    terms = per_image_terms(metric, true, pred, image_size)
    method = f"bootstrap over {len(terms)} test images, {n_resamples} resamples"
    return _percentile_interval(terms.value(), _resampled_values(terms, n_resamples, seed), confidence, method)


def paired_bootstrap(metric: str, true, pred_a, pred_b, n_resamples: int = 2000, confidence: float = 0.95,
                     seed: int = 0, image_size=None) -> Interval:
    """Interval of the difference ``metric(pred_b) - metric(pred_a)`` on the same test images.

    Both models are scored on the *same* resampled images (a paired bootstrap), so the interval
    reflects how differently they do on the images, not how hard the images happen to be.
    ``interval.resolved`` says whether it excludes 0. Arguments as :func:`bootstrap_interval`.
    """
    _check_confidence(confidence)
    terms_a = per_image_terms(metric, true, pred_a, image_size)
    terms_b = per_image_terms(metric, true, pred_b, image_size)
    # the denominators come from ``true`` alone, so the difference is one ratio of sums
    difference = PerImageTerms(terms_b.numerator - terms_a.numerator, terms_a.denominator)
    method = f"paired bootstrap over {len(difference)} test images, {n_resamples} resamples"
    return _percentile_interval(difference.value(), _resampled_values(difference, n_resamples, seed),
                                confidence, method)


def metric_intervals(true, pred, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0,
                     image_size=None) -> dict[str, Interval]:
    """:func:`bootstrap_interval` of every metric that applies (``mean_iou`` only when both have boxes),
    keyed by metric name in :data:`METRIC_NAMES` order."""
    with_boxes = getattr(true, "boxes", None) is not None and getattr(pred, "boxes", None) is not None
    return {name: bootstrap_interval(name, true, pred, n_resamples, confidence, seed, image_size)
            for name in METRIC_NAMES if name != "mean_iou" or with_boxes}


def seed_interval(values, confidence: float = 0.95) -> Interval:
    """Mean and Student-t interval of one metric over runs with different seeds (one value each).

    ``mean +- t_{(1+confidence)/2, k-1} * s / sqrt(k)`` for ``k`` values with sample standard
    deviation ``s``. Raises ``ValueError`` for fewer than 2 values or non-finite ones.
    """
    _check_confidence(confidence)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(f"seed_interval needs at least 2 per-seed values (a 1-D sequence), got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"seed_interval needs finite values, got {values.tolist()}")
    k = len(values)
    half_width = stats.t.ppf((1 + confidence) / 2, k - 1) * values.std(ddof=1) / np.sqrt(k)
    mean = float(values.mean())
    return Interval(mean, mean - half_width, mean + half_width, confidence, f"{k} seeds, t-interval")


def _signed(value: float, as_points: bool) -> str:
    """``+4.1`` / ``−1.5`` (accuracy in percent points) or ``+0.012`` (plain units), with a true minus sign."""
    text = f"{100 * value:+.1f}" if as_points else f"{value:+.3f}"
    return text.replace("-", "\u2212")


def compare(name_a: str, name_b: str, diff: Interval, metric_label: str, higher_is_better: bool = True,
            as_points: bool = True) -> str:
    """One sentence judging ``diff``, the interval of ``metric(b) - metric(a)`` (e.g. from
    :func:`paired_bootstrap` or :func:`seed_interval` of per-seed differences).

    ``metric_label`` names the metric in the sentence ("sequence accuracy"). ``as_points``: the
    metric is an accuracy, written in percent points; ``False`` (IoU) writes plain units. The
    sentence names a better model only when the interval excludes 0::

        B is ahead of A in sequence accuracy by 4.1 points (95% interval of B − A: +1.2 to +7.0 points).
        The difference in sequence accuracy between A and B is not resolved: the 95% interval of
        B − A, −1.5 to +3.2 points, includes 0, so it could be either way.
    """
    unit = " points" if as_points else ""
    span = f"{_signed(diff.low, as_points)} to {_signed(diff.high, as_points)}{unit}"
    level = f"{100 * diff.confidence:g}%"
    if not diff.resolved:
        return (f"The difference in {metric_label} between {name_a} and {name_b} is not resolved: the {level} "
                f"interval of {name_b} \u2212 {name_a}, {span}, includes 0, so it could be either way.")
    b_is_better = (diff.low > 0) == higher_is_better
    winner, loser = (name_b, name_a) if b_is_better else (name_a, name_b)
    amount = _signed(abs(diff.estimate), as_points).lstrip("+")
    return (f"{winner} is ahead of {loser} in {metric_label} by {amount}{unit} "
            f"({level} interval of {name_b} \u2212 {name_a}: {span}).")


def coverage_curve(true_digits, pred_digits, confidence) -> tuple[np.ndarray, np.ndarray]:
    """Sequence accuracy when the reader answers only for its most confident images.

    Sort the N images by ``confidence`` (highest first; e.g. the product of the five positions'
    probabilities, :class:`~digitlib.training.Predictions`) and, for k = 1..N, keep the first k.
    Returns ``(coverage, accuracy)``, both float ``(N,)``: coverage = k / N, accuracy = sequence
    accuracy on those k images. A reader of house numbers deployed this way rejects the least
    confident reads and sends them to a person.
    """
    t, p = _check(true_digits, pred_digits)
    confidence = np.asarray(confidence, dtype=float)
    if confidence.shape != (len(t),):
        raise ValueError(f"expected one confidence per image, shape ({len(t)},), got {confidence.shape}")
    order = np.argsort(-confidence, kind="stable")
    right = np.all(t[order] == p[order], axis=1)
    k = np.arange(1, len(t) + 1)
    return k / len(t), np.cumsum(right) / k

