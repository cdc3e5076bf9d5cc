"""Exceptions raised by :mod:`digitlib.data`. Each message names the file and the fix."""
from __future__ import annotations


class DataError(Exception):
    """Base class: something is wrong with a dataset file or its cache."""


class DataMissingError(DataError, FileNotFoundError):
    """A dataset file is not there. The message says the exact command that fetches it."""


class ChecksumError(DataError):
    """A downloaded file does not match its known checksum (the partial file was removed)."""


class CorruptArchiveError(DataError):
    """An archive is truncated or not an archive at all."""


class UnsafeArchiveError(DataError):
    """An archive member would be written outside the target folder (``..`` or an absolute path)."""


class DigitStructError(DataError):
    """A ``digitStruct.mat`` file is not in the SVHN format-1 layout."""


class ImageFormatError(DataError):
    """An image has the wrong shape, mode or size."""


class CacheVersionError(DataError):
    """A cache file was written by an older version of digitlib and must be rebuilt."""
