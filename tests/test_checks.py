"""Autochecks: a right answer passes, a typical wrong one fails with a hint, a stub says 'not done yet'."""
from dataclasses import asdict

import numpy as np
import pytest

from digitlib import checks
from digitlib.data import decode_digits
from digitlib.metrics import evaluate_predictions, sequence_accuracy


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


def _leading_digit(n):
    while n >= 10:
        n //= 10
    return n


def _street_shares(lengths):
    """A student's version: every street's shares, then their mean."""
    return np.mean([np.bincount([_leading_digit(n) for n in range(1, length + 1)], minlength=10)[1:] / length
                    for length in lengths], axis=0)


def _balancing_weight(losses, box_scale=1.0):
    return sum(v for k, v in losses.items() if k != "boxes") / (losses["boxes"] * box_scale ** 2)


def _reader(cell, channels, units, slots=5):
    shared = cell * cell * channels * units + units + units * 11 + 11
    return shared, slots * shared


def _full_run_hours(name, images_per_second):
    """A student's version, from the profile's sizes."""
    from digitlib.config import PROFILES
    from digitlib.experiments import book_experiments

    full = PROFILES["full"]
    exp = book_experiments(full)[name]
    samples = full.mnist_train_sequences if exp.dataset == "mnist" else full.synth_images["train"]
    return int(samples * 0.9) * (exp.epochs or full.epochs) / images_per_second / 3600


def _best_change(baseline, runs, metric):
    from digitlib.tables import paired_difference

    helped = {name: paired_difference(baseline, run, metric).estimate for name, run in runs.items()
              if paired_difference(baseline, run, metric).low > 0}
    return max(helped, key=helped.get) if helped else None


RIGHT = {
    "check_sequence_accuracy": sequence_accuracy,
    "check_decode": decode_digits,
    "check_leading_digit": lambda n: int(str(n)[0]),
    "check_leading_digit_shares": _street_shares,
    "check_conv2d": _conv2d,
    "check_softmax": _softmax,
    "check_diagonal_kernel": lambda: np.array([[-1, -1, 2], [-1, 2, -1], [2, -1, -1]]),
    "check_blank_shares": lambda lo, hi: np.array([np.mean(np.arange(lo, hi + 1) < p) for p in range(1, 6)]),
    "check_conv_parameters": lambda k, c, f: k * k * c * f + f,
    "check_reader_parameters": _reader,
    "check_reduction_cost": lambda c: (25 * c * 64, c * 64 + 25 * 64 * 64),
    "check_equal_time_epochs": lambda ref, other: ref.train_seconds / (other.train_seconds / other.experiment["epochs"]),
    "check_iou": _iou,
    "check_scale_box": lambda box, crop, size: (np.asarray(box) - np.array([crop[0], crop[1]] * 2))
    * np.array([size / (crop[2] - crop[0]), size / (crop[3] - crop[1])] * 2),
    "check_balancing_weight": _balancing_weight,
    "check_best_change": _best_change,
    "check_full_run_hours": _full_run_hours,
}
WRONG = {
    "check_sequence_accuracy": lambda t, p: float(np.mean(t == p)),  # position accuracy instead
    "check_decode": lambda d: "".join(map(str, d)),  # forgets the blanks
    "check_leading_digit": lambda n: n % 10,  # the last digit
    "check_leading_digit_shares": lambda lengths: np.bincount(  # pools the houses of all streets
        [_leading_digit(n) for length in lengths for n in range(1, length + 1)], minlength=10)[1:] / sum(lengths),
    "check_conv2d": lambda im, k: np.zeros_like(im),  # wrong shape
    "check_softmax": lambda z: np.exp(z) / np.exp(z).sum(),  # overflows for large z
    "check_diagonal_kernel": lambda: np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]]),  # lights up on bright areas
    "check_blank_shares": lambda lo, hi: np.array([np.mean(np.arange(lo, hi + 1) <= p) for p in range(1, 6)]),
    "check_conv_parameters": lambda k, c, f: k * k * c * f,  # no biases
    "check_reader_parameters": lambda cell, c, u, slots=5: (_reader(cell, c, u)[0],) * 2,  # no copies
    "check_reduction_cost": lambda c: (25 * c * 64, c * 64 + 25 * c * 64),  # 5x5 on the input's channels
    "check_equal_time_epochs": lambda ref, other: ref.train_seconds * other.images_per_second,  # images
    "check_iou": lambda a, b: 0.5,
    "check_scale_box": lambda box, crop, size: np.asarray(box),
    "check_balancing_weight": lambda losses, box_scale=1.0: _balancing_weight(losses) / box_scale,  # not squared
    "check_best_change": lambda baseline, runs, metric: max(  # the largest estimate, resolved or not
        runs, key=lambda name: runs[name].metrics["test"][metric] - baseline.metrics["test"][metric]),
    "check_full_run_hours": lambda name, ips: 3600 * _full_run_hours(name, ips),  # seconds
}


def test_every_check_has_a_right_and_a_wrong_answer():
    from digitlib.grading import check_names

    assert set(check_names()) == set(RIGHT) | {"check_weight_run", "check_one_change_run", "check_reader_page"}
    assert set(WRONG) == set(RIGHT)


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


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_stub_is_reported_as_not_done(name, capsys):
    def stub(*args):
        raise NotImplementedError("Exercise: not done yet")

    assert getattr(checks, name)(stub) is False
    assert capsys.readouterr().out.startswith("TODO")


@pytest.mark.parametrize("wrong, hint", [
    (lambda c: (25 * c * 64 + 64, c * 64 + 64 + 25 * 64 * 64 + 64), "without the biases"),
    (lambda c: (25 * c * 64, c * 64 + 25 * c * 64), "not the input's"),
])
def test_a_common_mistake_gets_its_own_hint(wrong, hint, capsys):
    assert not checks.check_reduction_cost(wrong)
    assert hint in capsys.readouterr().out


@pytest.mark.parametrize("kernel, hint", [
    ([[2, -1, -1], [-1, 2, -1], [-1, -1, 2]], "other diagonal"),
    ([[1, 0, -1], [2, 0, -2], [1, 0, -1]], "vertical strokes"),
    ([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], "horizontal strokes"),
    (np.ones((5, 5)), "3x3"),
])
def test_diagonal_kernel_check_names_what_the_kernel_detects_instead(kernel, hint, capsys):
    assert not checks.check_diagonal_kernel(lambda: np.array(kernel, float))
    assert hint in capsys.readouterr().out


def test_best_change_check_names_the_common_mistakes(capsys):
    from digitlib.tables import paired_difference

    def largest_estimate_on(split):
        return lambda baseline, runs, metric: max(
            runs, key=lambda name: paired_difference(baseline, runs[name], metric, split).estimate)

    assert not checks.check_best_change(largest_estimate_on("test"))
    assert "interval includes 0" in capsys.readouterr().out
    assert not checks.check_best_change(lambda b, runs, metric: _best_change(b, runs, "sequence_accuracy"))
    assert "pass metric on" in capsys.readouterr().out

    def on_validation(baseline, runs, metric):
        helped = {n: d.estimate for n, r in runs.items()
                  if (d := paired_difference(baseline, r, metric, "validation")).low > 0}
        return max(helped, key=helped.get) if helped else None

    assert not checks.check_best_change(on_validation)
    assert "validation set only" in capsys.readouterr().out


# ------------------------------------------------------------------ the exercises that train (7.2, 8.1)

def _result_of(exp, folder, test_metrics_from="test"):
    """A Result as run_experiment returns it for ``exp``, without training: made-up predictions."""
    from digitlib.config import active_profile
    from digitlib.training import Result, load_predictions

    profile = active_profile()
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    metrics = {}
    for split, n in (("test", 50), ("validation", 40)):
        lengths = rng.integers(1, 6, n)
        digits = np.where(np.arange(5) < lengths[:, None], rng.integers(0, 10, (n, 5)), 10)
        boxes = np.sort(rng.uniform(0, 54, (n, 5, 4)), axis=-1)[..., [0, 2, 1, 3]]
        pred = np.where(rng.random((n, 1)) < 0.5, digits, 10)
        np.savez_compressed(folder / f"predictions_{split}.npz", true_digits=digits, true_lengths=lengths,
                            image_size=(54, 54), digits=pred, lengths=lengths, confidence=np.ones(n),
                            true_boxes=boxes, boxes=boxes + rng.normal(0, 2, boxes.shape))
        metrics[split] = evaluate_predictions(*load_predictions(folder / f"predictions_{split}.npz"))
    metrics["test"] = metrics[test_metrics_from]
    return Result(experiment=asdict(exp.resolved(profile)), profile=profile.name, history={}, metrics=metrics,
                  params=1, train_seconds=1.0, images_per_second=1.0, folder=folder,
                  extra={"train_samples": 2000, "validation_samples": 40, "test_samples": 50})


def _trainer(tmp_path, budget=checks.SMALL_BUDGET, test_metrics_from="test"):
    """``fn(**changes) -> Result`` of the report's network with ``changes`` at ``budget``."""
    from dataclasses import replace

    from digitlib.experiments import book_experiments

    def train(**changes):
        exp = replace(book_experiments()["svhn_report"], **changes, **budget)
        return _result_of(exp, tmp_path / str(len(list(tmp_path.iterdir()))), test_metrics_from)

    return train


def test_weight_run_check_accepts_the_exercise_run_and_rejects_other_settings(tmp_path, capsys):
    train = _trainer(tmp_path)
    assert checks.check_weight_run(lambda w: train(box_loss_weight=w))
    assert capsys.readouterr().out.startswith("PASS")
    assert not checks.check_weight_run(lambda w: train(box_loss_weight=5.0))  # ignores its argument
    assert "box_loss_weight=5.0 (asked: 10.0)" in capsys.readouterr().out
    full_budget = _trainer(tmp_path, budget={})
    assert not checks.check_weight_run(lambda w: full_budget(box_loss_weight=w))  # forgot SMALL_BUDGET
    assert "epochs=6 (asked: 2)" in capsys.readouterr().out
    assert not checks.check_weight_run(lambda w: train(box_loss_weight=w).metrics)  # not a Result
    assert "not a Result" in capsys.readouterr().out


def test_run_checks_want_metrics_of_the_test_set(tmp_path, capsys):
    on_validation = _trainer(tmp_path, test_metrics_from="validation")
    assert not checks.check_weight_run(lambda w: on_validation(box_loss_weight=w))
    out = capsys.readouterr().out
    assert out.startswith("FAIL") and "must come from the test set" in out


def test_one_change_run_check_accepts_each_change_alone(tmp_path, capsys):
    train = _trainer(tmp_path)
    assert checks.check_one_change_run(lambda changes: train(**changes))
    assert capsys.readouterr().out.startswith("PASS")
    assert not checks.check_one_change_run(lambda changes: train())  # every run is the baseline
    assert "lr_schedule=None (asked: 'cosine')" in capsys.readouterr().out
    assert not checks.check_one_change_run(lambda changes: train(**changes, seed=1))  # another seed
    assert "seed=1" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["check_weight_run", "check_one_change_run"])
def test_run_check_reports_a_stub_as_not_done(name, capsys):
    def stub(*args):
        raise NotImplementedError("Exercise: not done yet")

    assert getattr(checks, name)(stub) is False
    assert capsys.readouterr().out.startswith("TODO")


def test_reader_page_check_wants_the_profile_and_this_builds_number(capsys):
    from types import SimpleNamespace

    result = SimpleNamespace(metrics={"test": {"sequence_accuracy": 0.513}})
    profile = SimpleNamespace(name="quick")
    body = "The network reads house numbers from a crop of the photograph, digit by digit, and draws boxes. " * 5
    assert checks.check_reader_page(lambda: body + "In the quick profile it read 51% of the test numbers.", result, profile)
    assert checks.check_reader_page(lambda: body + "Profile quick: sequence accuracy 0.513.", result, profile)
    assert not checks.check_reader_page(lambda: body + "It read 51% of the test numbers.", result, profile)
    assert "name the profile" in capsys.readouterr().out
    assert not checks.check_reader_page(lambda: body + "In the quick profile it read 85% of them.", result, profile)
    assert "f-string" in capsys.readouterr().out
    assert not checks.check_reader_page(lambda: "quick: 51%", result, profile)
    assert not checks.check_reader_page(lambda: None, result, profile)
    capsys.readouterr()

    def stub():
        raise NotImplementedError("Exercise 9.1")

    assert not checks.check_reader_page(stub, result, profile)
    assert capsys.readouterr().out.startswith("TODO")
