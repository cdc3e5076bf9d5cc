"""Box geometry in one place (like ``torchvision.ops.boxes``): convert, clip, measure, move. NumPy only.

Conventions: a box is ``(x_min, y_min, x_max, y_max)`` in pixels ("xyxy") in the last axis of a
``(..., 4)`` array; an image size is ``(height, width)``; a blank position (no digit) has the box
``(-1, -1, -1, -1)``. :func:`ltwh_to_xyxy` makes float32 boxes; the other functions keep the
floating dtype of the boxes given (float32 data stays float32, float64 stays float64, so clipping
and moving are exact) and turn other input into float32, except :func:`box_iou`, which computes
in float64.

Scaling to the 0..1 regression targets is :func:`digitlib.data.scale_boxes`.
"""
from __future__ import annotations

import numpy as np


def _as_float(boxes) -> np.ndarray:
    """``boxes`` as an array of its own floating dtype, or float32 if it is not floating."""
    boxes = np.asarray(boxes)
    return boxes if np.issubdtype(boxes.dtype, np.floating) else boxes.astype(np.float32)


def ltwh_to_xyxy(left, top, width, height) -> np.ndarray:
    """SVHN's boxes, four ``(k,)`` arrays ``left, top, width, height``, as ``(k, 4)`` float32 xyxy boxes."""
    left, top = np.asarray(left, np.float32), np.asarray(top, np.float32)
    return np.stack([left, top, left + np.asarray(width, np.float32), top + np.asarray(height, np.float32)], axis=1)


def clip_boxes(boxes, image_size) -> np.ndarray:
    """Clip ``(..., 4)`` xyxy boxes to an image of ``(height, width)``: every coordinate into
    ``0..width`` (x) or ``0..height`` (y). Blank boxes are clipped too (to 0); see :func:`shift_boxes`."""
    boxes = _as_float(boxes)
    h, w = image_size
    return np.clip(boxes, 0, np.array([w, h, w, h], boxes.dtype))


def box_area(boxes) -> np.ndarray:
    """Areas ``(...)`` of ``(..., 4)`` xyxy boxes; 0 for a box with ``x_max <= x_min`` or ``y_max <= y_min``."""
    boxes = _as_float(boxes)
    width = np.clip(boxes[..., 2] - boxes[..., 0], 0, None)
    height = np.clip(boxes[..., 3] - boxes[..., 1], 0, None)
    return width * height


def box_iou(boxes_a, boxes_b) -> np.ndarray:
    """Intersection over union ``(...)`` of paired xyxy boxes ``(..., 4)`` (broadcast against each
    other), in float64; 0 where the union is empty. A box without area has IoU 0 with any box."""
    a, b = np.asarray(boxes_a, np.float64), np.asarray(boxes_b, np.float64)
    overlap = np.concatenate([np.maximum(a[..., :2], b[..., :2]), np.minimum(a[..., 2:], b[..., 2:])], axis=-1)
    inter = box_area(overlap)
    union = box_area(a) + box_area(b) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def boxes_in_crop(boxes, crop, size: int) -> np.ndarray:
    """Move ``(..., 4)`` xyxy boxes into the frame of ``crop = (left, top, right, bottom)`` (pixels
    of the image) resized to ``size`` x ``size``: subtract the crop's corner, then scale x by
    ``size / (right - left)`` and y by ``size / (bottom - top)``. The crop's own corners go to
    ``(0, 0)`` and ``(size, size)``. For real boxes only: a blank box would move too."""
    boxes = _as_float(boxes)
    left, top, right, bottom = crop
    scale = np.array([size / (right - left), size / (bottom - top)] * 2, boxes.dtype)
    return (boxes - np.array([left, top, left, top], boxes.dtype)) * scale


def shift_boxes(boxes, dx, dy, image_size) -> np.ndarray:
    """Move the real boxes of each sample by its offset and clip them to the image; blanks stay.

    ``boxes``: ``(N, ..., 4)`` xyxy pixels, e.g. ``(N, 5, 4)``; a box is real when all four
    coordinates are >= 0, anything else (a blank, -1) is returned as it is. ``dx``, ``dy``: ``(N,)``
    pixels to move sample ``i`` right and down. ``image_size``: ``(height, width)``.
    """
    boxes = _as_float(boxes)
    dx, dy = np.asarray(dx), np.asarray(dy)
    offsets = np.stack([dx, dy, dx, dy], axis=-1).reshape((len(boxes),) + (1,) * (boxes.ndim - 2) + (4,))
    real = np.all(boxes >= 0, axis=-1, keepdims=True)
    return np.where(real, clip_boxes(boxes + offsets.astype(boxes.dtype), image_size), boxes)
