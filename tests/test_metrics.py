"""Metrics on hand-computed cases, and their intervals."""
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from digitlib.metrics import (METRIC_NAMES, Interval, bootstrap_interval, character_accuracy, compare,
                              evaluate_predictions, iou, length_accuracy, mean_iou, metric_intervals,
                              paired_bootstrap, per_image_terms, per_position_accuracy, position_accuracy,
                              seed_interval, sequence_accuracy)

B = 10
TRUE = np.array([[4, 2, B, B, B], [1, 2, 3, B, B]])


def test_perfect_predictions():
    assert position_accuracy(TRUE, TRUE) == sequence_accuracy(TRUE, TRUE) == character_accuracy(TRUE, TRUE) == 1.0


def test_a_blank_predicted_as_a_digit():
    pred = np.array([[4, 2, 7, B, B], [1, 2, 3, B, B]])
    assert position_accuracy(TRUE, pred) == pytest.approx(9 / 10)
    assert character_accuracy(TRUE, pred) == 1.0  # every real digit is still right
    assert sequence_accuracy(TRUE, pred) == 0.5  # but the first number now reads "427"
    np.testing.assert_allclose(per_position_accuracy(TRUE, pred), [1, 1, 0.5, 1, 1])


def test_a_wrong_digit_counts_against_character_accuracy():
    pred = np.array([[4, 2, B, B, B], [1, 8, 3, B, B]])
    assert character_accuracy(TRUE, pred) == pytest.approx(4 / 5)
    assert position_accuracy(TRUE, pred) == pytest.approx(9 / 10)


def test_length_accuracy():
    assert length_accuracy([2, 3, 1], [2, 3, 2]) == pytest.approx(2 / 3)


def test_shapes_must_match():
    with pytest.raises(ValueError):
        sequence_accuracy(TRUE, TRUE[:, :4])


def test_iou_perfect_disjoint_and_half_overlap():
    box = np.array([0, 0, 10, 10])
    assert iou(box, box) == 1.0
    assert iou(box, [20, 20, 30, 30]) == 0.0
    assert iou(box, [5, 0, 15, 10]) == pytest.approx(50 / 150)  # half of each box overlaps
    assert iou(box, [0, 0, 5, 10]) == pytest.approx(0.5)  # half-size box inside
    assert iou([5, 5, 1, 1], box) == 0.0  # inverted box has no area


def test_mean_iou_skips_blanks_and_clips_predictions():
    true_boxes = np.full((1, 5, 4), -1.0)
    true_boxes[0, 0] = [0, 0, 10, 10]
    true_boxes[0, 1] = [40, 40, 54, 54]
    digits = np.array([[3, 4, B, B, B]])
    pred = true_boxes.copy()
    pred[0, 1] = [40, 40, 68, 68]  # off the image: clipped back to 40..54
    pred[0, 2:] = [0, 0, 54, 54]  # whatever is predicted for blanks does not count
    assert mean_iou(true_boxes, pred, digits, (54, 54)) == 1.0
    pred[0, 0] = [5, 0, 15, 10]
    assert mean_iou(true_boxes, pred, digits, (54, 54)) == pytest.approx((50 / 150 + 1) / 2)


# ------------------------------------------------------------------------------------------ intervals

def _labels(n, seed):
    """``n`` numbers of 1-5 digits: (digits (n, 5) with blanks, lengths (n,)), seeded."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 6, n)
    return np.where(np.arange(5) < lengths[:, None], rng.integers(0, 10, (n, 5)), B), lengths


def _predict(true, error_rate, seed):
    """Predictions that get each position wrong with probability ``error_rate``."""
    wrong = np.random.default_rng(seed).random(true.digits.shape) < error_rate
    digits = np.where(wrong, (true.digits + 1) % 11, true.digits)  # a wrong class, blanks included
    return SimpleNamespace(digits=digits, lengths=np.sum(digits != B, axis=1), boxes=None)


def _truth(n, seed=0):
    digits, lengths = _labels(n, seed)
    return SimpleNamespace(digits=digits, lengths=lengths, boxes=None)


@pytest.mark.parametrize("metric", [m for m in METRIC_NAMES if m != "mean_iou"])
def test_bootstrap_interval_contains_the_metric_on_all_images(metric):
    true = _truth(800)
    pred = _predict(true, 0.1, seed=1)
    interval = bootstrap_interval(metric, true, pred, n_resamples=500)
    assert interval.estimate == pytest.approx(evaluate_predictions(true, pred)[metric])
    assert interval.low < interval.estimate < interval.high and interval.contains(interval.estimate)
    assert interval.confidence == 0.95 and interval.method == "bootstrap over 800 test images, 500 resamples"


def test_interval_format_and_contains():
    interval = Interval(0.4431, 0.4094, 0.4776, 0.95, "5 seeds, t-interval")
    assert str(interval) == "0.443 [0.409, 0.478]" and interval.format(1) == "0.4 [0.4, 0.5]"
    assert interval.contains(0.41) and interval.contains(0.4776) and not interval.contains(0.48)
    assert interval.resolved and not Interval(0.01, -0.02, 0.04, 0.95, "").resolved


def test_bootstrap_interval_narrows_as_the_test_set_grows():
    widths = []
    for n in (200, 5000):
        true = _truth(n)
        interval = bootstrap_interval("sequence_accuracy", true, _predict(true, 0.05, seed=1))
        widths.append(interval.high - interval.low)
    assert widths[1] < widths[0] / 3  # about sqrt(5000 / 200) = 5 times narrower


def test_bootstrap_interval_is_deterministic_for_a_seed():
    true = _truth(300)
    pred = _predict(true, 0.1, seed=1)
    a, b, c = (bootstrap_interval("position_accuracy", true, pred, seed=s) for s in (3, 3, 4))
    assert a == b and (a.low, a.high) != (c.low, c.high)


def test_identical_predictions_differ_by_exactly_zero_unresolved():
    true = _truth(500)
    pred = _predict(true, 0.1, seed=1)
    diff = paired_bootstrap("sequence_accuracy", true, pred, pred)
    assert diff.estimate == diff.low == diff.high == 0.0
    assert not diff.resolved and diff.method.startswith("paired bootstrap over 500 test images")


def test_a_clearly_better_model_is_resolved_and_positive():
    true = _truth(800)
    worse, better = _predict(true, 0.08, seed=1), _predict(true, 0.02, seed=2)
    diff = paired_bootstrap("sequence_accuracy", true, worse, better)
    assert diff.resolved and 0 < diff.low < diff.estimate < diff.high
    assert diff.estimate == pytest.approx(sequence_accuracy(true.digits, better.digits)
                                          - sequence_accuracy(true.digits, worse.digits))
    reverse = paired_bootstrap("sequence_accuracy", true, better, worse)
    assert reverse.high < 0 and reverse.estimate == pytest.approx(-diff.estimate)


def test_pairing_narrows_the_interval_of_a_difference():
    """Two similar models on the same images: the paired interval is much narrower than the
    interval of either model alone, because most images are read right or wrong by both."""
    true = _truth(800)
    a = _predict(true, 0.05, seed=1)
    b = SimpleNamespace(digits=a.digits.copy(), lengths=a.lengths, boxes=None)
    b.digits[:20] = true.digits[:20]  # b corrects a few of a's mistakes
    single = bootstrap_interval("sequence_accuracy", true, a)
    diff = paired_bootstrap("sequence_accuracy", true, a, b)
    assert diff.high - diff.low < (single.high - single.low) / 2


def _boxed(true_boxes, pred_boxes, digits):
    lengths = np.sum(digits != B, axis=1)
    true = SimpleNamespace(digits=digits, lengths=lengths, boxes=true_boxes, images=np.zeros((len(digits), 54, 54, 3)))
    return true, SimpleNamespace(digits=digits, lengths=lengths, boxes=pred_boxes)


def test_iou_is_weighted_by_digits_not_by_images():
    """One image with one digit (IoU 0) and one with four digits (IoU 1): 4 of 5 digits match, 0.8;
    a mean of per-image means would say 0.5."""
    digits = np.array([[1, B, B, B, B], [1, 2, 3, 4, B]])
    true_boxes = np.tile(np.array([0, 0, 10, 10], np.float32), (2, 5, 1))
    pred_boxes = true_boxes.copy()
    pred_boxes[0, 0] = [20, 20, 30, 30]
    true, pred = _boxed(true_boxes, pred_boxes, digits)
    terms = per_image_terms("mean_iou", true, pred)
    np.testing.assert_array_equal(terms.numerator, [0, 4])
    np.testing.assert_array_equal(terms.denominator, [1, 4])
    np.testing.assert_allclose(terms.value(np.arange(2)[None, :]), [0.8])  # one "resample": every image once
    assert terms.value() == bootstrap_interval("mean_iou", true, pred).estimate == pytest.approx(0.8)
    assert mean_iou(true_boxes, pred_boxes, digits, (54, 54)) == pytest.approx(0.8)
    assert terms.value(np.array([0, 0, 1])) == pytest.approx(4 / 6)  # image 0 drawn twice


def test_metric_intervals_cover_iou_only_with_boxes():
    true = _truth(100)
    assert list(metric_intervals(true, _predict(true, 0.1, seed=1), n_resamples=50)) == [
        "position_accuracy", "character_accuracy", "sequence_accuracy", "length_accuracy"]
    rng = np.random.default_rng(0)
    corner = rng.uniform(0, 40, (100, 5, 2))
    true_boxes = np.concatenate([corner, corner + 10], axis=-1)
    true, pred = _boxed(true_boxes, true_boxes + rng.normal(0, 2, true_boxes.shape), true.digits)
    intervals = metric_intervals(true, pred, n_resamples=50)
    assert intervals["mean_iou"].estimate == pytest.approx(evaluate_predictions(true, pred)["mean_iou"])


def test_seed_interval_is_the_student_t_interval():
    values = [0.80, 0.84, 0.82, 0.86, 0.78]  # mean 0.82, sample sd sqrt(0.004 / 4) = 0.031623
    half_width = 2.776445 * 0.0316228 / np.sqrt(5)  # t(0.975, 4 degrees of freedom) from a table
    interval = seed_interval(values)
    assert interval.estimate == pytest.approx(0.82)
    assert (interval.low, interval.high) == pytest.approx((0.82 - half_width, 0.82 + half_width), abs=1e-6)
    assert interval.method == "5 seeds, t-interval"
    assert seed_interval(values, confidence=0.5).high < interval.high


def test_seed_interval_rejects_a_single_value():
    with pytest.raises(ValueError, match="at least 2 per-seed values"):
        seed_interval([0.8])
    with pytest.raises(ValueError, match="finite"):
        seed_interval([0.8, float("nan")])


def test_compare_names_a_winner_only_when_resolved():
    ahead = Interval(0.041, 0.012, 0.070, 0.95, "")
    assert compare("A", "B", ahead, "sequence accuracy") == (
        "B is ahead of A in sequence accuracy by 4.1 points (95% interval of B \u2212 A: +1.2 to +7.0 points).")
    behind = Interval(-0.041, -0.070, -0.012, 0.95, "")
    assert compare("A", "B", behind, "sequence accuracy").startswith("A is ahead of B in sequence accuracy by 4.1")
    assert compare("A", "B", ahead, "error rate", higher_is_better=False).startswith("A is ahead of B")
    unresolved = compare("A", "B", Interval(0.008, -0.015, 0.032, 0.95, ""), "sequence accuracy")
    assert "not resolved" in unresolved and "\u22121.5 to +3.2 points" in unresolved and "ahead" not in unresolved
    iou_text = compare("A", "B", Interval(0.012, 0.004, 0.020, 0.9, ""), "mean IoU", as_points=False)
    assert iou_text == "B is ahead of A in mean IoU by 0.012 (90% interval of B \u2212 A: +0.004 to +0.020)."


def test_bad_input_names_the_problem():
    true = _truth(10)
    pred = _predict(true, 0.1, seed=1)
    short = SimpleNamespace(digits=pred.digits[:9], lengths=pred.lengths[:9], boxes=None)
    with pytest.raises(ValueError, match="different numbers of images: 10 and 9"):
        bootstrap_interval("sequence_accuracy", true, short)
    with pytest.raises(ValueError, match="different numbers of images"):
        paired_bootstrap("sequence_accuracy", true, pred, short)
    with pytest.raises(ValueError, match="unknown metric 'accuracy'"):
        bootstrap_interval("accuracy", true, pred)
    with pytest.raises(ValueError, match="mean_iou needs boxes"):
        bootstrap_interval("mean_iou", true, pred)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_interval("sequence_accuracy", true, pred, n_resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_interval("sequence_accuracy", true, pred, confidence=95)


_digit_arrays = st.integers(1, 12).flatmap(
    lambda n: st.tuples(hnp.arrays(np.int64, (n, 5), elements=st.integers(0, 10)),
                        hnp.arrays(np.int64, (n, 5), elements=st.integers(0, 10))))


@settings(max_examples=60, deadline=None)
@given(_digit_arrays)
def test_per_image_terms_add_up_to_each_metric(arrays):
    true_digits, pred_digits = arrays
    true = SimpleNamespace(digits=true_digits, lengths=np.sum(true_digits != B, axis=1))
    pred = SimpleNamespace(digits=pred_digits, lengths=np.sum(pred_digits != B, axis=1))
    expected = {"position_accuracy": np.mean(true_digits == pred_digits),
                "character_accuracy": np.mean((true_digits == pred_digits)[true_digits != B])
                if np.any(true_digits != B) else np.nan,
                "sequence_accuracy": np.mean(np.all(true_digits == pred_digits, axis=1)),
                "length_accuracy": np.mean(true.lengths == pred.lengths)}
    for metric, value in expected.items():
        np.testing.assert_allclose(per_image_terms(metric, true, pred).value(), value)
    assert paired_bootstrap("position_accuracy", true, pred, pred, n_resamples=20).high == 0.0


def test_coverage_curve_answers_the_most_confident_images_first():
    from digitlib.metrics import coverage_curve

    true = np.array([[1, 2, 10, 10, 10]] * 4)
    pred = true.copy()
    pred[[1, 3], 0] = 7  # images 1 and 3 read wrong
    coverage, accuracy = coverage_curve(true, pred, confidence=np.array([0.9, 0.2, 0.8, 0.1]))
    assert coverage.tolist() == [0.25, 0.5, 0.75, 1.0]
    assert accuracy.tolist() == [1.0, 1.0, 2 / 3, 0.5]  # the two confident images are the right ones
    with pytest.raises(ValueError, match="one confidence per image"):
        coverage_curve(true, pred, confidence=np.ones(3))


def test_length_decoding_blanks_the_positions_past_the_predicted_length():
    from digitlib.data.labels import blank_past_length

    digits = np.array([[4, 2, 7, 10, 10], [1, 10, 3, 10, 10]])
    assert blank_past_length(digits, np.array([2, 3])).tolist() == [[4, 2, 10, 10, 10], [1, 10, 3, 10, 10]]
    with pytest.raises(ValueError, match="expected digits"):
        blank_past_length(digits, np.array([2]))


def test_the_weight_study_plot_draws_each_weight_with_its_interval():
    import matplotlib

    matplotlib.use("Agg")
    from digitlib.plots import plot_weight_study

    ours = {w: {"sequence_accuracy": Interval(0.5 - w / 100, 0.45 - w / 100, 0.55 - w / 100, 0.95, "test"),
                "mean_iou": Interval(0.5 + w / 100, 0.48 + w / 100, 0.52 + w / 100, 0.95, "test")} for w in (0.0, 1.0, 10.0)}
    fig = plot_weight_study(ours, {1.0: {"sequence_accuracy": 0.82, "mean_iou": 0.584}}, "ours")
    ax = fig.axes[0]
    ours_line, report_line = ax.containers[0].lines[0], ax.get_lines()[-1]  # the error bars' data line
    np.testing.assert_allclose(ours_line.get_xdata(), [0.5, 0.51, 0.6])
    np.testing.assert_allclose(ours_line.get_ydata(), [0.5, 0.49, 0.4])
    assert len(ax.containers[0].lines[2]) == 2  # x and y error bars
    np.testing.assert_allclose(report_line.get_xdata(), [0.584])
    assert [t.get_text() for t in ax.texts] == ["w=0", "w=1", "w=10"]
