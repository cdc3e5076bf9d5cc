"""Metrics on hand-computed cases."""
import numpy as np
import pytest

from digitlib.metrics import (character_accuracy, iou, length_accuracy, mean_iou, per_position_accuracy,
                              position_accuracy, sequence_accuracy)

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
