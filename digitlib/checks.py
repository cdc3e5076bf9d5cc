"""Autochecks for the exercises: call one with your function after an exercise.

Each check calls your function on inputs of its own (fresh random ones where it can), compares
the answer with the book's reference, prints a friendly pass/fail message with a hint, and returns
True or False. The hint names the mistake when your answer equals a common wrong one (biases
forgotten, the wrong split, ...). A stub that still raises ``NotImplementedError`` is reported as
"not done yet" rather than as a failure.

The exercises that train (7.2, 8.1) train at :data:`SMALL_BUDGET`, baseline and changes alike;
their checks test the returned :class:`~digitlib.training.Result`: it used the settings the
exercise asks for, in the active profile, and its metrics are those of the test set.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
from scipy.special import softmax

from .data.boxes import box_iou, boxes_in_crop
from .data.labels import BLANK, MAX_DIGITS, NUM_CLASSES, decode_digits
from .metrics import sequence_accuracy
from .widgets import feature_map

#: the training budget of the exercises that train (7.2, 8.1): the first 2,000 training images for
#: 2 epochs, 4-9 s per run of the report's house-number network on 2 CPU cores in ``quick``
#: (the longer where the run builds its own training graph; see training.compiled_model)
SMALL_BUDGET = {"train_limit": 2000, "epochs": 2}
#: exercise 8.1: the changes of chapter 8's sections 8.1-8.4, each trained alone on the report's network,
#: as ``{name: Experiment fields}``
ONE_AT_A_TIME = {"cosine schedule": {"lr_schedule": "cosine"}, "random shifts": {"shift": 4},
                 "30% margin": {"margin": 0.3}, "masked box loss": {"box_loss": "masked_mse"}}


class _Wrong(Exception):
    """A wrong answer: ``detail`` says what was returned, ``hint`` (or None: the check's general
    hint) how to fix it."""

    def __init__(self, detail: str, hint: str | None = None):
        super().__init__(detail)
        self.detail, self.hint = detail, hint


def _check(name: str, hint: str, test, passed: str = "matches the reference on fresh random inputs.") -> bool:
    """Run ``test()``, which calls the student's function and raises :class:`_Wrong` for a wrong
    answer, and report: PASS, FAIL with the mistake's hint (else ``hint``), or TODO for a stub."""
    try:
        test()
    except NotImplementedError:
        print(f"TODO {name}: the exercise is not done yet (your function still raises NotImplementedError).")
        return False
    except _Wrong as wrong:
        print(f"FAIL {name}: {wrong.detail}\n     Hint: {wrong.hint or hint}")
        return False
    except Exception as err:  # a student's bug: say what happened instead of a traceback
        print(f"FAIL {name}: your function raised {type(err).__name__}: {err}\n     Hint: {hint}")
        return False
    print(f"PASS {name}: {passed}")
    return True


def _agrees(compare, got, want) -> bool:
    try:
        return bool(compare(got, want))
    except Exception:  # e.g. arrays of different shapes
        return False


def _run(name, fn, hint, cases, reference, compare, mistakes=(), show=repr,
         passed: str = "matches the reference on fresh random inputs.") -> bool:
    """Check ``fn(*args)`` against ``reference(*args)`` for every ``args`` of ``cases``.

    ``mistakes``: ``(wrong_reference, hint)`` pairs, common wrong answers as functions of the same
    arguments: an answer that equals one of them gets that mistake's hint. ``show(args)``: the
    input as the failure message prints it."""
    def test():
        for args in cases:
            got, want = fn(*args), reference(*args)
            if not _agrees(compare, got, want):
                hint = next((h for wrong, h in mistakes if _agrees(compare, got, wrong(*args))), None)
                raise _Wrong(f"for input {show(args)} you returned {got!r}, expected {want!r}.", hint)

    return _check(name, hint, test, passed)


def _labels(rng, n):
    """``(n, 5)`` random labels of 1-5 digits, blank = 10."""
    lengths = rng.integers(1, 6, n)
    return np.where(np.arange(5) < lengths[:, None], rng.integers(0, 10, (n, 5)), BLANK)


# ------------------------------------------------------------------------------ chapters 1-3

def check_sequence_accuracy(fn) -> bool:
    """Exercise 1.1: ``fn(true_digits, pred_digits) -> float`` for (N, 5) labels, blank = 10."""
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
                lambda a, b: np.isclose(float(a), b),
                mistakes=[(lambda t, p: float(np.mean(t == p)), "that is the share of right positions; a number "
                           "counts only when all five of its positions are right: np.all(..., axis=1).")])


def check_decode(fn) -> bool:
    """Exercise 1.2: ``fn(digits) -> str`` turning a (5,) label into the number it reads, e.g.
    [4, 2, 10, 10, 10] -> "42"."""
    rng = np.random.default_rng()
    cases = [(d,) for d in _labels(rng, 10)]
    return _run("decode a label", fn, "skip the positions that hold 10 (blank) and join the rest as text.",
                cases, decode_digits, lambda a, b: str(a) == b)


def check_leading_digit(fn) -> bool:
    """Exercise 2.1: ``fn(n) -> int``: the first (most significant) digit of a positive integer."""
    rng = np.random.default_rng()
    cases = [(int(n),) for n in rng.integers(1, 100_000, 12)]
    return _run("leading digit", fn, "str(n)[0] works; so does dividing by 10 until n < 10.",
                cases, lambda n: int(str(n)[0]), lambda a, b: int(a) == b,
                mistakes=[(lambda n: n % 10, "n % 10 is the last digit; the leading digit is the first one.")])


def _street_shares(length: int) -> np.ndarray:
    """Shares of the leading digits 1-9 among the house numbers ``1..length``, shape (9,)."""
    powers = 10 ** np.arange(len(str(length)))[:, None]  # (k, 1): 1, 10, 100, ...
    d = np.arange(1, 10)[None, :]
    counts = np.clip(np.minimum(length, (d + 1) * powers - 1) - d * powers + 1, 0, None).sum(axis=0)
    return counts / length


def _leading_digit_shares(street_lengths) -> np.ndarray:
    return np.mean([_street_shares(int(n)) for n in street_lengths], axis=0)


def check_leading_digit_shares(fn) -> bool:
    """Exercise 2.2: ``fn(street_lengths) -> (9,) array``: the shares of the leading digits 1-9 of
    a house drawn the generator's way: a street chosen at random from ``street_lengths`` (every
    street equally likely), then a house uniformly among its numbers ``1..L``. That is the mean,
    over the streets, of each street's shares."""
    rng = np.random.default_rng()
    cases = [([2000],), ([150],), ([9, 99, 999],)]
    cases += [([int(n) for n in np.round(10 ** rng.uniform(0, 3.5, 12))],) for _ in range(2)]
    pooled = lambda lengths: np.bincount([int(str(n)[0]) for L in lengths for n in range(1, L + 1)],
                                         minlength=10)[1:] / sum(lengths)
    return _run("leading-digit shares of streets", fn, "for each street, count the leading digits of 1..L "
                "and divide by L; then average those nine shares over the streets. Return shape (9,): "
                "index 0 is the digit 1.", cases, _leading_digit_shares,
                lambda a, b: np.shape(a) == (9,) and np.allclose(np.asarray(a, float), b),
                mistakes=[(pooled, "you pooled the houses of all streets, so long streets weigh more; the "
                           "generator picks a street first (each equally likely): average the streets' shares."),
                          (lambda lengths: pooled(lengths) * sum(lengths),
                           "return shares (each street's counts divided by its length), not counts.")])


def check_conv2d(fn) -> bool:
    """Exercise 3.1: ``fn(image, kernel) -> array``: a 'valid' 2-D convolution as Keras computes it
    (no kernel flip)."""
    rng = np.random.default_rng()
    cases = [(rng.normal(size=(rng.integers(5, 9), rng.integers(5, 9))), rng.normal(size=(k, k))) for k in (1, 2, 3, 3)]
    return _run("2-D convolution", fn, "slide the kernel over every position where it fits completely; "
                "output shape (H - kh + 1, W - kw + 1); multiply element-wise and sum. Keras does not flip the kernel.",
                cases, feature_map, lambda a, b: np.shape(a) == b.shape and np.allclose(a, b),
                mistakes=[(lambda im, k: feature_map(im, k[::-1, ::-1]), "you flipped the kernel (a convolution in "
                           "the signal-processing sense); Keras' Conv2D does not flip it.")])


def check_softmax(fn) -> bool:
    """Exercise 3.2: ``fn(z) -> array``: the softmax of a 1-D vector, stable for large values."""
    rng = np.random.default_rng()
    cases = [(rng.normal(size=11) * s,) for s in (1, 5, 100, 1000)] + [(np.array([1000.0, 1001.0, 998.0]),)]
    return _run("softmax", fn, "exp(z) / sum(exp(z)); subtract max(z) first so that exp never overflows.",
                cases, softmax, lambda a, b: np.allclose(a, b))


def _stroke(kind: str, size: int = 9) -> np.ndarray:
    """A ``(size, size)`` black image with a one-pixel white stroke across it: ``"horizontal"``,
    ``"vertical"``, ``"/"`` (bottom left to top right) or ``"\\"``; ``"bright"``: all white."""
    image, i = np.zeros((size, size)), np.arange(size)
    if kind == "horizontal":
        image[size // 2] = 1
    elif kind == "vertical":
        image[:, size // 2] = 1
    elif kind == "/":
        image[size - 1 - i, i] = 1
    elif kind == "\\":
        image[i, i] = 1
    else:
        image[:] = 1
    return image


def check_diagonal_kernel(fn) -> bool:
    """Exercise 3.3: ``fn() -> (3, 3) kernel`` that detects strokes running from bottom left to top
    right ("/"). Its strongest response after ReLU (``max(0, feature_map(image, kernel))``) on a
    one-pixel "/" stroke must be positive and at least twice its strongest response on a
    horizontal, a vertical and a "\\" stroke, and on an all-bright image."""
    others = {"horizontal": "negative weights beside the diagonal cancel horizontal strokes.",
              "vertical": "negative weights beside the diagonal cancel vertical strokes.",
              "\\": "your kernel prefers the other diagonal ('\\'): flip it left to right (np.fliplr).",
              "bright": "your kernel lights up on any bright area, not only on strokes: make its weights sum to 0."}

    def test():
        kernel = np.asarray(fn(), dtype=float)
        if kernel.shape != (3, 3):
            raise _Wrong(f"your kernel has shape {kernel.shape}.", "return a 3x3 array.")
        peak = {kind: float(np.max(np.maximum(feature_map(_stroke(kind), kernel), 0))) for kind in ["/", *others]}
        if peak["/"] <= 0:
            raise _Wrong("your kernel does not respond to a '/' stroke at all.",
                         "put positive weights on the diagonal from bottom left to top right.")
        for kind, hint in others.items():
            if peak[kind] > peak["/"] / 2:
                raise _Wrong(f"its strongest response to a '/' stroke is {peak['/']:.2g}, to a "
                             f"{kind} {'image' if kind == 'bright' else 'stroke'} {peak[kind]:.2g} (more than half).", hint)

    return _check("a kernel for diagonal strokes", "positive weights along the '/' diagonal, negative ones "
                  "beside it, summing to 0.", test,
                  passed="it answers a '/' stroke at least twice as strongly as horizontal, vertical and '\\' "
                         "strokes and a bright area.")


# ------------------------------------------------------------------------------ chapters 4-5

def _blank_shares(min_digits, max_digits=MAX_DIGITS) -> np.ndarray:
    lengths = np.arange(min_digits, max_digits + 1)
    return np.array([np.mean(lengths < position) for position in range(1, MAX_DIGITS + 1)])


def check_blank_shares(fn) -> bool:
    """Exercise 4.1: ``fn(min_digits, max_digits) -> (5,) array``: the expected share of blanks at
    each of the five positions when a sequence's length is uniform on ``min_digits..max_digits``
    (as :func:`~digitlib.data.make_sequences` draws it)."""
    cases = [(3, 5), (1, 5), (0, 5), (2, 4), (5, 5), (1, 1)]
    return _run("share of blanks per position", fn, "position i (1-5) is blank when the length is below i; "
                "each length from min_digits to max_digits is equally likely.", cases, _blank_shares,
                lambda a, b: np.shape(a) == (5,) and np.allclose(np.asarray(a, float), b),
                mistakes=[(lambda lo, hi: np.array([np.mean(np.arange(lo, hi + 1) <= p) for p in range(1, 6)]),
                           "off by one: position i holds a digit when the length is at least i, so it is blank "
                           "only when the length is below i."),
                          (lambda lo, hi: 1 - _blank_shares(lo, hi), "that is the share of digits; the exercise "
                           "asks for the share of blanks.")], passed="matches the reference for six length ranges.")


def check_conv_parameters(fn) -> bool:
    """Exercise 4.2: ``fn(kernel_size, channels, filters) -> int``: the parameters of a Conv2D layer
    with square ``kernel_size`` kernels on ``channels`` input channels, with one bias per filter."""
    rng = np.random.default_rng()
    cases = [(3, 30, 15), (5, 1, 30)] + [tuple(int(v) for v in rng.integers(1, 65, 3)) for _ in range(4)]
    return _run("parameters of a convolution", fn, "kernel height x width x input channels x filters, plus one "
                "bias per filter.", cases, lambda k, c, f: k * k * c * f + f, lambda a, b: int(a) == b,
                mistakes=[(lambda k, c, f: k * k * c * f, "you left out the biases: one per filter."),
                          (lambda k, c, f: k * c * f + f, "a kernel is k x k: square the kernel size."),
                          (lambda k, c, f: k * k * c * f + c, "there is one bias per filter (output channel), "
                           "not per input channel.")])


def _reader_parameters(cell, channels, units, slots=MAX_DIGITS):
    shared = cell * cell * channels * units + units + units * NUM_CLASSES + NUM_CLASSES
    return shared, slots * shared


def check_reader_parameters(fn) -> bool:
    """Exercise 4.3: ``fn(cell, channels, units, slots) -> (shared, separate)``: the parameters of
    ``mnist_strong_cnn``'s reader, a ``cell`` x ``cell`` convolution from ``channels`` channels to
    ``units`` units (``slot_dense``) then a dense softmax to 11 classes (``slot_digit``), both with
    biases: once for all slots (``shared``), and with a copy per slot (``separate``)."""
    rng = np.random.default_rng()
    cases = [(7, 32, 256, 5), (7, 32, 256, 3)] + [(int(rng.integers(1, 9)), int(rng.integers(1, 65)),
                                                    int(rng.integers(8, 300)), 5) for _ in range(3)]
    return _run("parameters of the shared reader", fn, "slot_dense: cell x cell x channels x units + units; "
                "slot_digit: units x 11 + 11; separate readers: one copy per slot.", cases, _reader_parameters,
                lambda a, b: tuple(int(v) for v in a) == b,
                mistakes=[(lambda k, c, u, s: (k * k * c * u + u * NUM_CLASSES, s * (k * k * c * u + u * NUM_CLASSES)),
                           "you left out the biases: one per unit of slot_dense and one per class of slot_digit."),
                          (lambda k, c, u, s: (k * k * c * u + u, s * (k * k * c * u + u)),
                           "the reader is slot_dense and slot_digit: add slot_digit's units x 11 + 11."),
                          (lambda k, c, u, s: (_reader_parameters(k, c, u)[0],) * 2,
                           "separate readers are one copy per slot: multiply by slots.")])


def check_reduction_cost(fn) -> bool:
    """Exercise 5.1: ``fn(channels) -> (direct, with_1x1)``: the weights (without biases) of a 5x5
    convolution with 64 filters on an input of ``channels`` channels, and of a 1x1 convolution to
    64 channels followed by that 5x5."""
    cases = [(c,) for c in (1, 3, 32, 64, 67, 256, 480)]
    return _run("the cost of a 1x1 reduction", fn, "weights = kernel height x width x input channels x filters, "
                "no biases; after the 1x1 the 5x5 sees its 64 channels, not the input's.", cases,
                lambda c: (5 * 5 * c * 64, c * 64 + 5 * 5 * 64 * 64),
                lambda a, b: tuple(int(v) for v in a) == b,
                mistakes=[(lambda c: (25 * c * 64 + 64, c * 64 + 64 + 25 * 64 * 64 + 64),
                           "count weights only, without the biases."),
                          (lambda c: (25 * c * 64, c * 64 + 25 * c * 64),
                           "after the 1x1 the 5x5 sees the 1x1's 64 channels, not the input's.")],
                passed="matches the reference from 1 to 480 input channels.")


def _fake_result(folder: Path, experiment: dict | None = None, train_samples: int = 0, epochs: int = 1,
                 images_per_second: float = 1.0):
    """A :class:`~digitlib.training.Result` without a trained model, for the checks' own inputs."""
    from .training import Result

    seconds = train_samples * epochs / images_per_second
    return Result(experiment=experiment or {"epochs": epochs}, profile="", history={}, metrics={}, params=0,
                  train_seconds=seconds, images_per_second=images_per_second, folder=folder,
                  extra={"train_samples": train_samples})


def _equal_time_epochs(reference, other) -> float:
    return reference.train_seconds * other.images_per_second / other.extra["train_samples"]


def check_equal_time_epochs(fn) -> bool:
    """Exercise 5.2: ``fn(reference, other) -> float``: how many epochs the run ``other`` would
    train in the CPU time the run ``reference`` took (two :class:`~digitlib.training.Result`:
    ``train_seconds``, ``images_per_second``, ``extra["train_samples"]`` per epoch)."""
    rng = np.random.default_rng()
    cases = []
    for _ in range(5):
        ref = _fake_result(Path("."), train_samples=int(rng.integers(200, 6000)), epochs=int(rng.integers(2, 20)),
                           images_per_second=float(rng.uniform(300, 2000)))
        other = _fake_result(Path("."), train_samples=int(rng.integers(200, 6000)), epochs=int(rng.integers(2, 20)),
                             images_per_second=float(rng.uniform(20, 300)))
        cases.append((ref, other))
    return _run("epochs in the same time", fn, "images other trains in reference's time = reference.train_seconds x "
                "other.images_per_second; divide by other's images per epoch, other.extra['train_samples'].",
                cases, _equal_time_epochs, lambda a, b: np.isclose(float(a), b, rtol=1e-6),
                mistakes=[(lambda r, o: r.train_seconds * o.images_per_second,
                           "that is a number of images: divide by the images of one epoch."),
                          (lambda r, o: r.train_seconds * r.images_per_second / o.extra["train_samples"],
                           "use the speed of the network that would train (other.images_per_second)."),
                          (lambda r, o: o.train_seconds * r.images_per_second / r.extra["train_samples"],
                           "the other way round: other trains, in the time reference took.")],
                show=lambda args: "reference: {:.0f} s; other: {:.0f} images/s, {} images per epoch".format(
                    args[0].train_seconds, args[1].images_per_second, args[1].extra["train_samples"]))


# ------------------------------------------------------------------------------ chapter 6

def check_iou(fn) -> bool:
    """Exercise 6.1: ``fn(box_a, box_b) -> float`` for two boxes ``(x_min, y_min, x_max, y_max)``."""
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
    """Exercise 6.2: ``fn(box, crop, size) -> box``: move an xyxy ``box`` into the frame of ``crop``
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


# ------------------------------------------------------------------------------ chapter 7

def _balancing_weight(losses: dict, box_scale: float = 1.0) -> float:
    classification = sum(v for k, v in losses.items() if k != "boxes")
    return classification / (losses["boxes"] * box_scale ** 2)


def check_balancing_weight(fn) -> bool:
    """Exercise 7.1: ``fn(losses, box_scale) -> float``: the box-loss weight that makes the weighted
    box loss as large as all classification losses together. ``losses``: unweighted losses by
    output name (``digit_1`` .. ``digit_5``, ``length``, ``boxes``) as the history records them for
    box targets in the book's units (fractions of the crop); ``box_scale``: how many book units one
    unit of the targets is (54: pixels of the 54 x 54 crop), which multiplies every box error by
    ``box_scale`` and the box loss, a mean squared error, by ``box_scale ** 2``."""
    rng = np.random.default_rng()
    names = [f"digit_{i}" for i in range(1, MAX_DIGITS + 1)] + ["length"]
    cases = []
    for scale in (1.0, 54.0, 1.0, 2.5):
        losses = {name: float(v) for name, v in zip(names, rng.uniform(0.05, 2.5, len(names)))}
        losses["boxes"] = float(rng.uniform(0.01, 0.3))
        cases.append((losses, scale))
    digits_only = lambda losses, s: sum(losses[f"digit_{i}"] for i in range(1, 6)) / (losses["boxes"] * s ** 2)
    return _run("a balancing weight", fn, "w x box loss x box_scale**2 = the sum of the six classification losses "
                "(five digits and the length); solve for w.", cases, _balancing_weight,
                lambda a, b: np.isclose(float(a), b, rtol=1e-6),
                mistakes=[(lambda losses, s: 1 / _balancing_weight(losses, s),
                           "upside down: the weight multiplies the box loss, so it is classification / box loss."),
                          (digits_only, "the length head's loss is a classification loss too: add it."),
                          (lambda losses, s: _balancing_weight(losses) / s,
                           "the box loss is a mean *squared* error: scaling the targets by s scales it by s**2."),
                          (lambda losses, s: _balancing_weight(losses),
                           "the targets' unit changes the box loss: divide by box_scale**2.")])


def _normalised(settings: dict) -> dict:
    """Experiment settings as ``result.json`` stores them (tuples as lists), without the name."""
    return {k: v for k, v in json.loads(json.dumps(settings, default=float)).items() if k != "name"}


def _check_run(result, expected, asked: str) -> None:
    """Raise :class:`_Wrong` unless ``result`` is a :class:`~digitlib.training.Result` of the
    :class:`~digitlib.experiments.Experiment` ``expected`` (every setting but its name), trained in
    the active profile, with test metrics computed from its saved test predictions (the test split,
    ``result.extra["test_samples"]`` images). ``asked`` says how the exercise builds ``expected``."""
    from .config import active_profile
    from .metrics import mean_iou
    from .training import Result

    if not isinstance(result, Result):
        raise _Wrong(f"your function returned a {type(result).__name__}, not a Result.",
                     "return what digitlib.training.run_experiment returns.")
    profile = active_profile()
    want, got = _normalised(asdict(expected.resolved(profile))), _normalised(result.experiment)
    differ = [f"{k}={got.get(k)!r} (asked: {v!r})" for k, v in want.items() if got.get(k) != v]
    if differ or result.profile != profile.name:
        what = ", ".join(differ) if differ else f"the profile {result.profile!r} (asked: {profile.name!r})"
        raise _Wrong(f"your run has {what}.", f"{asked}; train it with run_experiment in the active profile.")
    test = result.metrics.get("test", {})
    if not {"sequence_accuracy", "mean_iou"} <= set(test):
        raise _Wrong("your result has no test-set sequence accuracy and mean IoU (result.metrics['test']).",
                     "let run_experiment evaluate the model: it scores the test set and saves its predictions.")
    try:
        truth, pred = result.predictions("test")
    except FileNotFoundError:
        raise _Wrong(f"{result.folder} holds no test predictions (predictions_test.npz).",
                     "let run_experiment evaluate the model: it saves the test predictions.") from None
    scored = {"sequence_accuracy": sequence_accuracy(truth.digits, pred.digits),
              "mean_iou": mean_iou(truth.boxes, pred.boxes, truth.digits, truth.image_size)}
    if len(truth.digits) != result.extra.get("test_samples") or not all(
            np.isclose(test[k], v) for k, v in scored.items()):
        raise _Wrong(f"result.metrics['test'] ({test['sequence_accuracy']:.3f} sequence accuracy) is not what "
                     f"the saved test predictions ({len(truth.digits)} images) score "
                     f"({scored['sequence_accuracy']:.3f}).",
                     "the test metrics must come from the test set: use the Result run_experiment returns.")


def _small_run(**changes):
    """The report's house-number network, the book's ``svhn_report`` with ``changes``, at
    :data:`SMALL_BUDGET`."""
    from dataclasses import replace

    from .experiments import book_experiments

    return replace(book_experiments()["svhn_report"], **changes, **SMALL_BUDGET)


_RUN_PASSED = "the run used the exercise's settings, and its metrics are the test set's."


def check_weight_run(fn) -> bool:
    """Exercise 7.2: ``fn(weight) -> Result``: the report's network (``svhn_report``) trained with
    box-loss weight ``weight`` at :data:`SMALL_BUDGET`. Calls ``fn`` for 5 and for the book's
    weight (both are in the results cache after the exercise has run)."""
    from .config import active_profile

    def test():
        for weight in (5.0, active_profile().box_loss_weight):
            _check_run(fn(weight), _small_run(box_loss_weight=weight),
                       f"for weight {weight:g}: replace(book_experiments()['svhn_report'], box_loss_weight={weight:g}, "
                       "**SMALL_BUDGET)")

    return _check("a run with another weight", "replace(experiments.book_experiments()['svhn_report'], "
                  "box_loss_weight=weight, **SMALL_BUDGET), trained with run_experiment.", test, passed=_RUN_PASSED)


# ------------------------------------------------------------------------------ chapter 8

def check_one_change_run(fn) -> bool:
    """Exercise 8.1: ``fn(changes) -> Result``: the report's network (``svhn_report``) with
    ``changes`` (Experiment fields; ``{}`` for the baseline) at :data:`SMALL_BUDGET`. Calls ``fn``
    for the baseline and every change of :data:`ONE_AT_A_TIME` (in the results cache after the
    exercise has run)."""
    def test():
        for changes in [{}, *ONE_AT_A_TIME.values()]:
            _check_run(fn(changes), _small_run(**changes),
                       f"for {changes or 'the baseline'}: replace(book_experiments()['svhn_report'], **changes, "
                       "**SMALL_BUDGET), nothing else changed")

    return _check("one change at a time", "replace(experiments.book_experiments()['svhn_report'], **changes, "
                  "**SMALL_BUDGET), trained with run_experiment.", test, passed=_RUN_PASSED)


def _predictions_file(path: Path, truth_digits, right_digits, right_lengths) -> None:
    """Save predictions (no boxes) that are right exactly where the boolean ``(N,)`` masks say."""
    lengths = np.sum(truth_digits != BLANK, axis=1)
    wrong = truth_digits.copy()
    wrong[:, 0] = (truth_digits[:, 0] + 1) % 10  # position 1 always holds a digit
    np.savez_compressed(path, true_digits=truth_digits, true_lengths=lengths, image_size=(54, 54),
                        digits=np.where(right_digits[:, None], truth_digits, wrong),
                        lengths=np.where(right_lengths, lengths, lengths % MAX_DIGITS + 1),
                        confidence=np.ones(len(lengths)))


#: the made-up runs of :func:`check_best_change`: for the test and the validation split, the
#: images (of 400) whose digits, then whose length, each run gets right
_MADE_UP_RUNS = {
    "baseline": {"test": ((0, 200), (0, 200)), "validation": ((0, 200), (0, 200))},
    "steady": {"test": ((0, 220), (0, 200)), "validation": ((0, 200), (0, 200))},  # +5 points, resolved
    "noisy": {"test": ((168, 400), (0, 200)), "validation": ((0, 200), (0, 200))},  # +8, not resolved
    "worse": {"test": ((0, 120), (0, 200)), "validation": ((0, 200), (0, 200))},  # -20, resolved
    "overfit": {"test": ((0, 200), (0, 200)), "validation": ((0, 320), (0, 200))},  # helps validation only
    "lengths": {"test": ((0, 200), (0, 360)), "validation": ((0, 200), (0, 200))},  # lengths only
}


def _made_up_runs(folder: Path) -> dict:
    """The runs of :data:`_MADE_UP_RUNS` as Results with saved predictions (and the metrics they
    score) under ``folder``."""
    from .metrics import evaluate_predictions
    from .training import load_predictions

    rng = np.random.default_rng(0)
    truth = {split: _labels(rng, 400) for split in ("test", "validation")}
    index = np.arange(400)
    runs = {}
    for name, splits in _MADE_UP_RUNS.items():
        (folder / name).mkdir()
        runs[name] = _fake_result(folder / name)
        for split, ((d0, d1), (l0, l1)) in splits.items():
            path = folder / name / f"predictions_{split}.npz"
            _predictions_file(path, truth[split], (index >= d0) & (index < d1), (index >= l0) & (index < l1))
            runs[name].metrics[split] = evaluate_predictions(*load_predictions(path))
    return runs


def _best_change(baseline, runs: dict, metric: str):
    from .tables import paired_difference

    helped = {name: d.estimate for name, run in runs.items()
              if (d := paired_difference(baseline, run, metric, "test")).low > 0}
    return max(helped, key=helped.get, default=None)


def check_best_change(fn) -> bool:
    """Exercise 8.2: ``fn(baseline, runs, metric) -> str | None``: of ``runs`` (``{name: Result}``),
    the one that raised ``metric`` most over ``baseline`` on the test set, counting only paired
    differences whose 95% interval lies above 0 (:func:`~digitlib.tables.paired_difference`);
    None when none did. Tried on made-up runs whose predictions are saved like a trained run's."""
    mistakes = {"noisy": "its difference has the largest estimate, but its 95% interval includes 0: count only "
                         "differences whose interval lies above 0 (interval.low > 0).",
                "worse": "a difference whose interval lies below 0 means the change hurt: count only intervals "
                         "above 0.",
                "overfit": "that change helped on the validation set only: judge on the test set "
                           "(paired_difference(..., split='test'), the default)."}

    def test():
        with tempfile.TemporaryDirectory(prefix="digitlib-check-") as tmp:
            made_up = _made_up_runs(Path(tmp))
            baseline = made_up.pop("baseline")
            cases = [(made_up, "sequence_accuracy"), (made_up, "length_accuracy"),
                     ({k: made_up[k] for k in ("noisy", "overfit")}, "sequence_accuracy")]
            for runs, metric in cases:
                got, want = fn(baseline, dict(runs), metric), _best_change(baseline, runs, metric)
                if got != want:
                    hint = mistakes.get(got)
                    if want is None and got is not None:
                        hint = hint or "return None when no change's interval lies above 0."
                    elif metric != "sequence_accuracy":
                        hint = hint or "pass metric on to paired_difference: which change helped depends on the metric."
                    raise _Wrong(f"for made-up runs {sorted(runs)} and {metric!r} you returned {got!r}, "
                                 f"expected {want!r}.", hint)

    return _check("the best change", "for each run, d = paired_difference(baseline, run, metric); keep the runs "
                  "with d.low > 0 and return the name with the largest d.estimate, or None.", test,
                  passed="matches the reference on made-up runs.")


# ------------------------------------------------------------------------------ chapter 9

def _quoted_accuracies(text: str) -> list[float]:
    """Every accuracy the text quotes, as a fraction: ``51%`` and ``51.3 %`` as 0.51 and 0.513,
    ``0.513`` as it is."""
    import re

    percents = [float(v) / 100 for v in re.findall(r"(\d{1,3}(?:\.\d+)?)\s*%", text)]
    fractions = [float(v) for v in re.findall(r"(?<![\d.])0\.\d{2,3}(?!\d)", text)]
    return percents + fractions


def check_reader_page(fn, result, profile) -> bool:
    """Exercise 9.1: ``fn() -> str``, a paragraph for a newcomer about chapter 6's network. Its
    properties are checked, its prose is read by a person: between 60 and 250 words, it names the
    profile that produced its numbers (``profile.name``) and quotes the test sequence accuracy of
    ``result`` (chapter 6's run) as a percentage or a fraction, rounded as you like."""
    want = result.metrics["test"]["sequence_accuracy"]

    def test():
        text = fn()
        if not isinstance(text, str):
            raise _Wrong(f"your function returned {type(text).__name__}, not the paragraph as a str.")
        words = len(text.split())
        if not 60 <= words <= 250:
            raise _Wrong(f"the paragraph has {words} words; write 60 to 250.")
        if profile.name not in text:
            raise _Wrong(f"the paragraph does not name the profile {profile.name!r} that produced its numbers.",
                         "a newcomer must know which data and budget the numbers come from: say the profile.")
        if not any(abs(q - want) < 0.006 for q in _quoted_accuracies(text)):
            raise _Wrong(f"the paragraph does not quote this build's test sequence accuracy ({want:.1%}).",
                         "quote result.metrics['test']['sequence_accuracy'] with an f-string, e.g. {value:.0%}, "
                         "rather than typing a number: the next build's number will differ.")

    return _check("a page for a reader", "build the paragraph from the run's metrics with an f-string.", test,
                  "names the profile and quotes this build's numbers; a person reads the rest.")


def _full_run_hours(name: str, images_per_second: float, epochs_of=None) -> float:
    from dataclasses import replace

    from .config import PROFILES
    from .experiments import book_experiments, training_images

    full = PROFILES["full"]
    exp = book_experiments(full)[name]
    return training_images(exp if epochs_of is None else replace(exp, epochs=epochs_of), full) / images_per_second / 3600


def check_full_run_hours(fn) -> bool:
    """Exercise 9.2: ``fn(name, images_per_second) -> float``: the hours one run of the book
    experiment ``name`` takes in the ``full`` profile at ``images_per_second``: its training
    images (the ``full`` profile's training set less the 10% held out for validation, or
    ``train_limit``) times its epochs there, divided by the speed."""
    from .config import PROFILES

    rng = np.random.default_rng()
    names = ["mnist_cnn", "mnist_strong", "inception_cnn", "svhn_report", "svhn_strong"]
    cases = [(name, float(rng.uniform(30, 2000))) for name in names]
    full = PROFILES["full"]
    return _run("hours of a full run", fn, "PROFILES['full']: training samples (mnist_train_sequences, or "
                "synth_images['train'] for house numbers) less validation_count(...), times the experiment's "
                "epochs in full (book_experiments(full)[name].resolved(full).epochs), over the speed, over 3600.",
                cases, _full_run_hours, lambda a, b: np.isclose(float(a), b, rtol=2e-3),
                mistakes=[(lambda n, s: 3600 * _full_run_hours(n, s), "that is seconds: divide by 3600 for hours."),
                          (lambda n, s: _full_run_hours(n, s) / (1 - full.validation_fraction),
                           "the last 10% of the training set is held out for validation: it is not trained on."),
                          (lambda n, s: _full_run_hours(n, s, epochs_of=full.epochs),
                           "take the experiment's own epochs in full: mnist_strong trains at most 10."),
                          (lambda n, s: _full_run_hours(n, s, epochs_of=PROFILES["quick"].epochs),
                           "those are the quick profile's epochs; use the full profile's.")])
