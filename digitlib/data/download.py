"""Downloads with known checksums, progress bars and safe archive extraction.

Downloads go through :func:`pooch.retrieve`, which writes to a temporary file and moves it into
place only after the checksum matched: an interrupted download leaves nothing behind, and the next
call starts clean. Archives are extracted all or nothing (:func:`safe_extract`). Every failure
raises a :class:`~digitlib.data.errors.DataError` that says what went wrong and which command
retries.
"""
from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..config import folder_error
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

    Raises :class:`ChecksumError` when the download does not match (the file is removed),
    :class:`DataMissingError` when the server answers with an HTTP error (the file moved or the
    URL is wrong) or cannot be reached (check the connection), and
    :class:`~digitlib.data.errors.DataHomeError` when ``folder`` cannot be written.
    """
    import pooch
    import requests

    folder = Path(folder)
    target = folder / remote.name
    by_hand = (f"or download {remote.name} ({remote.size_mb:.0f} MB) by hand (from {remote.url} or a "
               f"mirror) and put it in {folder}: `{remote.command}` then verifies and uses it.")
    try:  # pooch re-downloads a file already there whose checksum does not match
        folder.mkdir(parents=True, exist_ok=True)
        path = pooch.retrieve(
            remote.url, known_hash=remote.known_hash, fname=remote.name, path=folder,
            progressbar=progressbar,
        )
    except requests.exceptions.HTTPError as err:
        response = err.response
        status = f"{response.status_code} {response.reason}" if response is not None else str(err)
        cause = ("the server has a problem; try again later with `" + remote.command + "`,"
                 if response is not None and response.status_code >= 500
                 else "the file has moved or the URL is wrong; update digitlib,")
        raise DataMissingError(f"The server answered {status} for {remote.url}: {cause} {by_hand}") from err
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError) as err:
        raise DataMissingError(
            f"Could not download {remote.url} into {folder} ({type(err).__name__}: {err}). "
            f"Check your internet connection and run `{remote.command}`, {by_hand}"
        ) from err
    except requests.exceptions.RequestException as err:
        raise DataMissingError(
            f"The download of {remote.url} failed ({type(err).__name__}: {err}). Retry with "
            f"`{remote.command}`, {by_hand}"
        ) from err
    except ValueError as err:  # pooch's hash mismatch (some requests errors are ValueErrors too, caught above)
        if target.exists():
            target.unlink()
        raise ChecksumError(
            f"The download of {remote.url} did not match its checksum {remote.known_hash} "
            f"({err}). The partial file was removed; retry with `{remote.command}`."
        ) from err
    except OSError as err:  # writing, not the network: a read-only folder, a full disk, a file in the way
        raise folder_error(folder, f"cannot hold the download of {remote.name} ({type(err).__name__}: {err})") from err
    return Path(path)


_KINDS = {tarfile.SYMTYPE: "a symbolic link", tarfile.LNKTYPE: "a hard link", tarfile.FIFOTYPE: "a FIFO",
          tarfile.CHRTYPE: "a character device", tarfile.BLKTYPE: "a block device"}


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or member.name.startswith("\\"):
        raise UnsafeArchiveError(
            f"{archive} contains the member {member.name!r}, which would be written outside the "
            "target folder. The archive is not the expected SVHN file: delete it and download again."
        )
    if not (member.isreg() or member.isdir()):
        kind = _KINDS.get(member.type, f"a member of tar type {member.type!r}")
        raise UnsafeArchiveError(
            f"{archive} contains {kind}, {member.name!r}; only regular files and folders are "
            "extracted. The archive is not the expected SVHN file: delete it and download again."
        )


def safe_extract(archive: Path, target: Path, retry_command: str = "") -> Path:
    """Extract a ``.tar.gz`` into ``target``, all or nothing.

    Every member is checked before anything is written: only regular files and folders inside
    ``target`` are accepted (``..``, an absolute path, a link, a FIFO or a device raise
    :class:`UnsafeArchiveError`, and so does a top-level entry that already exists in ``target``).
    The archive is extracted into a temporary folder inside ``target`` whose top-level entries are
    renamed into ``target`` at the end; the temporary folder is removed on any failure, so
    ``target`` never holds a half-extracted entry. A truncated or corrupt archive raises
    :class:`CorruptArchiveError`; a ``target`` that cannot be written,
    :class:`~digitlib.data.errors.DataHomeError`.
    """
    archive, target = Path(archive), Path(target)
    retry = f" and run `{retry_command}`" if retry_command else " and download it again"

    def corrupt(err):
        return CorruptArchiveError(
            f"{archive} is truncated or not a .tar.gz archive ({type(err).__name__}: {err}). Delete it{retry}."
        )

    try:
        tar = tarfile.open(archive, "r:*")
    except FileNotFoundError as err:
        raise DataMissingError(f"{archive} does not exist{retry.replace(' and', ';')}.") from err
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise corrupt(err) from err
    with tar:
        try:
            members = tar.getmembers()  # reads the whole index: detects truncation before writing
        except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
            raise corrupt(err) from err
        for member in members:
            _check_member(member, archive)
        entries = sorted({PurePosixPath(m.name).parts[0] for m in members if PurePosixPath(m.name).parts})
        existing = [str(target / e) for e in entries if os.path.lexists(target / e)]
        if existing:
            raise UnsafeArchiveError(f"extracting {archive} would overwrite {', '.join(existing)}; delete "
                                     f"{'it' if len(existing) == 1 else 'them'} first{retry}.")
        try:
            target.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=target, prefix=f".{archive.name}.", suffix=".extracting"))
        except OSError as err:
            raise folder_error(target, f"cannot be written ({type(err).__name__}: {err})") from err
        try:
            tar.extractall(staging, members=members, filter="data")
            for entry in entries:
                os.replace(staging / entry, target / entry)
        except tarfile.FilterError as err:
            raise UnsafeArchiveError(f"{archive}: {err}; delete it{retry}.") from err
        except (tarfile.TarError, EOFError, zlib.error) as err:
            raise corrupt(err) from err
        except OSError as err:  # an errno: writing failed (disk full, permissions); none: bad gzip data
            if err.errno is None:
                raise corrupt(err) from err
            raise folder_error(target, f"cannot hold the extracted {archive.name} ({type(err).__name__}: {err})") from err
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target
