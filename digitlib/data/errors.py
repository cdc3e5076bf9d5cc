"""Exceptions raised by :mod:`digitlib.data`. Each message names the file and the fix.

This module imports nothing from digitlib, so :mod:`digitlib.config` can use it without an
import cycle.
"""
from __future__ import annotations


class DataError(Exception):
    """Base class: something is wrong with a dataset file or its cache."""


class DataMissingError(DataError, FileNotFoundError):
    """A dataset file is not there. The message says the exact command that fetches it."""


class DataHomeError(DataError):
    """The dataset or results folder (``$DIGITLIB_DATA``, ``$DIGITLIB_RESULTS``) is not a folder,
    cannot be created, or cannot be written when something must be written there."""


class ChecksumError(DataError):
    """A downloaded file does not match its known checksum (the partial file was removed)."""


class CorruptArchiveError(DataError):
    """An archive is truncated or not an archive at all."""


class UnsafeArchiveError(DataError):
    """An archive member would be written outside the target folder (``..`` or an absolute path)
    or is not a regular file or folder (a link, FIFO or device)."""


class DigitStructError(DataError):
    """A ``digitStruct.mat`` file is not in the SVHN format-1 layout, names files outside its
    split folder, or leaves no usable image."""


class ImageFormatError(DataError):
    """An image has the wrong shape, mode or size."""


class CacheVersionError(DataError):
    """A cache file was written by an older version of digitlib and must be rebuilt."""


class BadAnnotationWarning(UserWarning):
    """Images were dropped while preparing a split because their annotations are impossible
    (labels outside 1-10, boxes without area or outside the image, no digits)."""
