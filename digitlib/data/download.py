"""Downloads with known checksums, progress bars and safe archive extraction.

Downloads go through :func:`pooch.retrieve`, which writes to a temporary file and moves it into
place only after the checksum matched: an interrupted download leaves nothing behind, and the next
call starts clean. Every failure raises a :class:`~digitlib.data.errors.DataError` that says what
went wrong and which command retries.
"""
from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import ChecksumError, CorruptArchiveError, DataMissingError, UnsafeArchiveError


@dataclass(frozen=True)
class RemoteFile:
    """A file the book can download: where from, its checksum (``"md5:..."``/``"sha256:..."``)."""

    name: str
    url: str
    known_hash: str
    size_mb: float
    #: the command a reader runs to fetch it
    command: str


REMOTE_FILES = {
    # The complete MNIST as Keras distributes it (same file and SHA-256 as keras.datasets.mnist).
    "mnist": RemoteFile(
        "mnist.npz",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        "sha256:731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
        11.5,
        "python -m digitlib.data fetch mnist",
    ),
    # SVHN format 1 (full numbers with digitStruct.mat), MD5 sums as published with the data set.
    "svhn-train": RemoteFile(
        "train.tar.gz",
        "http://ufldl.stanford.edu/housenumbers/train.tar.gz",
        "md5:a649f4cb15c35520e8a8c342d4c0005a",
        404.0,
        "python -m digitlib.data fetch svhn --split train",
    ),
    "svhn-test": RemoteFile(
        "test.tar.gz",
        "http://ufldl.stanford.edu/housenumbers/test.tar.gz",
        "md5:790d9c8d42f1fcbd219b59956c853a81",
        276.0,
        "python -m digitlib.data fetch svhn --split test",
    ),
    "svhn-extra": RemoteFile(
        "extra.tar.gz",
        "http://ufldl.stanford.edu/housenumbers/extra.tar.gz",
        "md5:606f41243d71ca4d5fe66dbaf1f02bee",
        1955.0,
        "python -m digitlib.data fetch svhn --split extra",
    ),
}


def fetch(remote: RemoteFile, folder: Path, progressbar: bool = True) -> Path:
    """Download ``remote`` into ``folder`` unless a file with the right checksum is already there.

    Raises :class:`ChecksumError` when the download does not match (the file is removed) and
    :class:`DataMissingError` when the network cannot be reached.
    """
    import pooch
    import requests

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / remote.name
    try:  # pooch re-downloads a file already there whose checksum does not match
        path = pooch.retrieve(
            remote.url, known_hash=remote.known_hash, fname=remote.name, path=folder,
            progressbar=progressbar,
        )
    except ValueError as err:  # pooch's hash mismatch; it has already removed the download
        if target.exists():
            target.unlink()
        raise ChecksumError(
            f"The download of {remote.url} did not match its checksum {remote.known_hash} "
            f"({err}). The partial file was removed; retry with `{remote.command}`."
        ) from err
    except (requests.exceptions.RequestException, OSError) as err:
        raise DataMissingError(
            f"Could not download {remote.url} into {folder} ({type(err).__name__}: {err}). "
            f"Check your internet connection and run `{remote.command}`, or copy {remote.name} "
            f"({remote.size_mb:.0f} MB) into {folder} yourself."
        ) from err
    return Path(path)


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or member.name.startswith("\\"):
        raise UnsafeArchiveError(
            f"{archive} contains the member {member.name!r}, which would be written outside the "
            "target folder. The archive is not the expected SVHN file: delete it and download again."
        )
    if member.issym() or member.islnk():
        raise UnsafeArchiveError(f"{archive} contains a link {member.name!r}; refusing to extract it.")


def safe_extract(archive: Path, target: Path, retry_command: str = "") -> Path:
    """Extract a ``.tar.gz`` into ``target``, refusing members that would escape it.

    A truncated or corrupt archive raises :class:`CorruptArchiveError`; members with ``..``, an
    absolute path or a link raise :class:`UnsafeArchiveError` before anything is written.
    """
    archive, target = Path(archive), Path(target)
    retry = f" and run `{retry_command}`" if retry_command else " and download it again"
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()  # reads the whole index: detects truncation early
            for member in members:
                _check_member(member, archive)
            target.mkdir(parents=True, exist_ok=True)
            tar.extractall(target, members=members, filter="data")
    except (tarfile.ReadError, EOFError, OSError, tarfile.FilterError) as err:
        if isinstance(err, FileNotFoundError) and not archive.exists():
            raise DataMissingError(f"{archive} does not exist{retry.replace(' and', ';')}.") from err
        raise CorruptArchiveError(
            f"{archive} is truncated or not a .tar.gz archive ({type(err).__name__}: {err}). "
            f"Delete it{retry}."
        ) from err
    return target
