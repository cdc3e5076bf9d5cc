"""Box geometry (digitlib.data.boxes): hand-computed cases, then properties on random boxes."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from digitlib.data.boxes import box_area, box_iou, boxes_in_crop, clip_boxes, ltwh_to_xyxy, shift_boxes

B = -1.0  # a blank box's coordinates


def test_ltwh_to_xyxy():
    boxes = ltwh_to_xyxy([1, 10], [2, 20], [3, 5], [4, 6])
    assert boxes.dtype == np.float32
    np.testing.assert_array_equal(boxes, [[1, 2, 4, 6], [10, 20, 15, 26]])


def test_clip_boxes_to_height_and_width():
    boxes = np.array([[[-5, -3, 10, 20], [90, 30, 120, 50]]], np.float32)  # (1, 2, 4)
    clipped = clip_boxes(boxes, (40, 100))
    np.testing.assert_array_equal(clipped, [[[0, 0, 10, 20], [90, 30, 100, 40]]])
    assert clipped.dtype == np.float32


def test_clip_boxes_keeps_float64_and_makes_integers_float32():
    assert clip_boxes(np.array([0.1, 0, 200, 5]), (40, 100)).dtype == np.float64
    ints = clip_boxes(np.array([-2, 0, 200, 5]), (40, 100))
    assert ints.dtype == np.float32 and ints.tolist() == [0, 0, 100, 5]


def test_box_area_is_zero_without_width_or_height():
    np.testing.assert_array_equal(box_area([[0, 0, 10, 20], [5, 5, 1, 1], [0, 0, 0, 3], [4, 4, 6, 2]]),
                                  [200, 0, 0, 0])


def test_box_iou_hand_computed_and_broadcast():
    box = np.array([0, 0, 10, 10])
    others = np.array([[5, 5, 15, 15], [0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 5, 10], [5, 5, 1, 1]])
    np.testing.assert_allclose(box_iou(others, box), [25 / 175, 1, 0, 0.5, 0])
    assert box_iou(others, box).dtype == np.float64
    assert box_iou(np.zeros((2, 3, 4)), box).shape == (2, 3)
    assert box_iou([3, 3, 3, 3], [3, 3, 3, 3]) == 0  # empty union: 0, not nan


def test_boxes_in_crop_subtracts_the_corner_and_scales():
    crop = (20, 10, 47, 30)  # 27 x 20 pixels, resized to 54 x 54: x times 2, y times 2.7
    boxes = np.array([[20, 10, 30, 30], [30, 15, 47, 25]], np.float32)
    moved = boxes_in_crop(boxes, crop, 54)
    assert moved.dtype == np.float32
    np.testing.assert_allclose(moved, [[0, 0, 20, 54], [20, 13.5, 54, 40.5]], rtol=1e-6)


def test_shift_boxes_moves_and_clips_real_boxes_and_leaves_blanks():
    boxes = np.array([
        [[5, 10, 12, 20], [B, B, B, B], [25, 0, 30, 8]],
        [[0, 0, 4, 4], [B, B, B, B], [B, B, B, B]],
    ], np.float32)
    moved = shift_boxes(boxes, dx=[3, -2], dy=[-1, 2], image_size=(20, 30))
    assert moved.dtype == np.float32 and moved.shape == boxes.shape
    np.testing.assert_array_equal(moved, [
        [[8, 9, 15, 19], [B, B, B, B], [28, 0, 30, 7]],  # the last box is cut at the top and right
        [[0, 2, 2, 6], [B, B, B, B], [B, B, B, B]],  # cut at the left
    ])


def test_shift_boxes_leaves_a_box_with_a_negative_coordinate_alone():
    boxes = np.array([[[-0.5, 2, 6, 8]]], np.float32)
    np.testing.assert_array_equal(shift_boxes(boxes, [4], [4], (30, 30)), boxes)


# ---------------------------------------------------------------------------------------- properties

coordinate = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)
box = arrays(np.float64, 4, elements=coordinate)
image_size = st.tuples(st.integers(1, 500), st.integers(1, 500))


@given(box, box)
def test_iou_is_symmetric_and_between_0_and_1(a, b):
    value = box_iou(a, b)
    assert value == box_iou(b, a)
    assert 0 <= value <= 1


@given(coordinate, coordinate, st.floats(1e-3, 1e3), st.floats(1e-3, 1e3))
def test_iou_of_a_box_with_area_with_itself_is_1(left, top, width, height):
    a = np.array([left, top, left + width, top + height])
    assume(box_area(a) > 0)  # left + width can round back to left
    assert box_iou(a, a) == 1


@given(arrays(np.float64, (3, 4), elements=coordinate), image_size)
def test_clip_is_idempotent_and_inside_the_image(boxes, size):
    clipped = clip_boxes(boxes, size)
    np.testing.assert_array_equal(clip_boxes(clipped, size), clipped)
    h, w = size
    assert np.all(clipped >= 0) and np.all(clipped[:, [0, 2]] <= w) and np.all(clipped[:, [1, 3]] <= h)


@given(coordinate, coordinate, st.floats(1, 1e3), st.floats(1, 1e3), st.integers(1, 256))
def test_the_crops_own_corners_go_to_0_and_size(left, top, width, height, size):
    crop = (left, top, left + width, top + height)
    np.testing.assert_allclose(boxes_in_crop(np.array(crop), crop, size), [0, 0, size, size], rtol=1e-9, atol=1e-9)


@given(arrays(np.float32, (4, 5, 4), elements=st.sampled_from([B, 0.0, 3.5, 17.0, 60.0])),
       arrays(np.int64, 4, elements=st.integers(-8, 8)), arrays(np.int64, 4, elements=st.integers(-8, 8)),
       image_size)
def test_shift_keeps_blanks_and_puts_real_boxes_inside_the_image(boxes, dx, dy, size):
    moved = shift_boxes(boxes, dx, dy, size)
    real = np.all(boxes >= 0, axis=-1)
    np.testing.assert_array_equal(moved[~real], boxes[~real])
    np.testing.assert_array_equal(moved[real], clip_boxes(moved[real], size))


@given(arrays(np.float32, (2, 5, 4), elements=st.floats(0, 50, width=32)), image_size)
def test_shift_by_nothing_only_clips(boxes, size):
    np.testing.assert_array_equal(shift_boxes(boxes, [0, 0], [0, 0], size), clip_boxes(boxes, size))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shift_keeps_the_dtype(dtype):
    assert shift_boxes(np.zeros((1, 5, 4), dtype), [1], [1], (10, 10)).dtype == dtype
