"""Datasets of the book. Conventions (see :mod:`digitlib.data.labels`): digits 0-9, blank = 10,
``digits`` shape (5,), ``length`` 0-5, ``boxes`` (5, 4) as (x_min, y_min, x_max, y_max) pixels with
blanks at -1 (box geometry: :mod:`digitlib.data.boxes`); images stored as uint8 and scaled only by
:func:`scale_images`.
"""
from .boxes import box_area, box_iou, boxes_in_crop, clip_boxes, ltwh_to_xyxy, shift_boxes
from .dataset import DigitSequences, scale_boxes, scale_images, unscale_boxes
from .errors import (BadAnnotationWarning, CacheVersionError, ChecksumError, CorruptArchiveError,
                     DataError, DataHomeError, DataMissingError, DigitStructError, ImageFormatError,
                     UnsafeArchiveError)
from .labels import BLANK, BLANK_BOX, MAX_DIGITS, NUM_CLASSES, decode_digits, encode_number, from_svhn_label
from .mnist import load_mnist, make_sequences, mnist_sequences

__all__ = [
    "BLANK", "BLANK_BOX", "MAX_DIGITS", "NUM_CLASSES", "DigitSequences", "decode_digits",
    "encode_number", "from_svhn_label", "load_mnist", "make_sequences", "mnist_sequences",
    "scale_boxes", "scale_images", "unscale_boxes", "box_area", "box_iou", "boxes_in_crop", "clip_boxes",
    "ltwh_to_xyxy", "shift_boxes", "DataError", "DataMissingError",
    "ChecksumError", "CorruptArchiveError", "UnsafeArchiveError", "DigitStructError",
    "ImageFormatError", "CacheVersionError", "DataHomeError", "BadAnnotationWarning",
]
