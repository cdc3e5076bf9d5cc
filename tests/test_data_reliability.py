"""SVHN preprocessing and its caches under bad input, stale sources, failures, read-only folders and
two processes at once. Tiny files in the real formats, written by the tests."""
import errno
import os
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image, ImageFile

from digitlib.data import DigitStructError, ImageFormatError
from digitlib.data.digitstruct import DigitStruct, write_digit_struct
from digitlib.data.errors import BadAnnotationWarning, DataHomeError
from digitlib.data.house_numbers import house_numbers, synthetic_split
from digitlib.data.svhn import (CACHE_VERSION, PreparedSplit, cache_name, fetch_svhn, prepare_split,
                                svhn_split)
from digitlib.data.synth import generate_split

GOOD = {"name": "1.png", "label": [1, 10], "left": [5, 15], "top": [5, 5], "width": [10, 10], "height": [20, 20]}


def _rec(name, labels, left, top, width, height):
    return {"name": name, "label": labels, "left": left, "top": top, "width": width, "height": height}


def _write_split(folder, records, size=(60, 40)):
    """PNGs (RGB, ``size``) for every record whose name is a plain file name, and digitStruct.mat."""
    folder.mkdir(parents=True, exist_ok=True)
    for r in records:
        if "/" not in r["name"] and "\\" not in r["name"]:
            Image.new("RGB", size, (120, 120, 120)).save(folder / r["name"])
    write_digit_struct(folder / "digitStruct.mat", DigitStruct.from_records(records))
    return folder


def _png_header(path, width, height):
    """A tiny PNG that declares ``width`` x ``height`` RGB pixels (its pixel data is never decoded)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b""))
    return path


def _leftovers(folder):
    return sorted(p.name for p in Path(folder).rglob("*") if p.name.endswith(".tmp") or ".extracting" in p.name)


# ------------------------------------------------------------------------ issue 3: bad annotations

@pytest.mark.parametrize("labels", [[11], [-1], [float("nan")], [0], [3.7]], ids=["11", "-1", "nan", "0", "3.7"])
def test_impossible_labels_are_dropped_counted_and_named(tmp_path, labels):
    folder = _write_split(tmp_path / "train", [GOOD, _rec("2.png", labels, [5], [5], [10], [20])])
    with pytest.warns(BadAnnotationWarning, match=r"image 1 \(counting from 0\), 2\.png: its labels are"):
        out = prepare_split(folder, tmp_path / "train_54.h5", progress=False)
    split = PreparedSplit(out)
    assert len(split) == 1 and split.attrs["dropped_bad_labels"] == 1
    assert list(split.load().names) == ["1.png"]


@pytest.mark.parametrize("box", [
    ([300], [700], [-270], [-648]),  # negative width and height: was stored as [0, 0, -270, -648]
    ([5], [5], [0], [20]),  # no width
    ([float("nan")], [5], [10], [20]),
    ([5], [5], [float("inf")], [20]),
    ([500], [5], [10], [20]),  # wholly outside the 60x40 image
], ids=["negative", "zero-width", "nan", "inf", "outside"])
def test_impossible_boxes_are_dropped_and_counted(tmp_path, box):
    folder = _write_split(tmp_path / "train", [GOOD, _rec("2.png", [4], *box)])
    with pytest.warns(BadAnnotationWarning, match=r"image 1 \(counting from 0\), 2\.png: a box"):
        out = prepare_split(folder, tmp_path / "train_54.h5", progress=False)
    split = PreparedSplit(out)
    assert len(split) == 1 and split.attrs["dropped_bad_boxes"] == 1
    assert split.load().boxes[0, :2].min() >= 0  # no negative box reached the cache


def _annotations_as_read(monkeypatch, records):
    """Make prepare_split read ``records`` from any digitStruct.mat, including what
    write_digit_struct refuses to write (an image without digits)."""
    from digitlib.data import svhn

    monkeypatch.setattr(svhn, "read_digit_struct", lambda path, **kw: DigitStruct.from_records(records))


def test_image_without_digits_is_dropped_and_the_summary_lists_every_count(tmp_path, capsys, monkeypatch):
    records = [GOOD, _rec("2.png", [], [], [], [], []), _rec("3.png", [1] * 6, [5] * 6, [5] * 6, [5] * 6, [20] * 6)]
    folder = _write_split(tmp_path / "train", [GOOD, dict(GOOD, name="2.png"), dict(GOOD, name="3.png")])
    _annotations_as_read(monkeypatch, records)
    with pytest.warns(BadAnnotationWarning, match="2.png: it has no digits"):
        out = prepare_split(folder, tmp_path / "train_54.h5")
    assert "dropped: 1 with more than 5 digits, 0 with labels outside 1-10, 0 with impossible boxes, " \
           "1 without digits" in capsys.readouterr().out
    data = PreparedSplit(out).load()
    assert len(data) == 1
    assert data.meta == {"dropped_too_long": 1, "dropped_bad_labels": 0, "dropped_bad_boxes": 0,
                         "dropped_no_digits": 1, "annotated_images": 3, "margin": 0.0}


def test_too_long_images_alone_give_no_warning(tmp_path, recwarn):
    folder = _write_split(tmp_path / "train", [GOOD, _rec("2.png", [1] * 6, [5] * 6, [5] * 6, [5] * 6, [20] * 6)])
    prepare_split(folder, tmp_path / "train_54.h5", progress=False)
    assert not [w for w in recwarn if issubclass(w.category, BadAnnotationWarning)]


def test_no_usable_image_is_an_error_naming_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    folder = _write_split(tmp_path / "train", [GOOD, dict(GOOD, name="2.png")])
    _annotations_as_read(monkeypatch, [_rec("1.png", [11], [5], [5], [10], [20]), _rec("2.png", [], [], [], [], [])])
    with pytest.raises(DigitStructError, match=r"train/digitStruct.mat: none of its 2 images can be used.*"
                                               r"1 with labels outside 1-10.*1 without digits.*image 0"):
        prepare_split(folder, tmp_path / "train_54.h5", progress=False)
    assert not (tmp_path / "train_54.h5").exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["../outside.png", "sub/../../outside.png", "/etc/outside.png", "..\\outside.png"])
def test_names_outside_the_split_folder_are_refused(tmp_path, name):
    Image.new("RGB", (60, 40)).save(tmp_path / "outside.png")
    folder = _write_split(tmp_path / "train", [GOOD, _rec(name, [3], [5], [5], [10], [20])])
    with pytest.raises(DigitStructError, match=r"image 1 is named .*not a file inside the split folder"):
        prepare_split(folder, tmp_path / "train_54.h5", progress=False)
    assert not (tmp_path / "train_54.h5").exists() and _leftovers(tmp_path) == []


# ------------------------------------------------------------------ issue 3: oversized images

def test_decompression_bomb_header_is_a_clear_error(tmp_path):
    folder = _write_split(tmp_path / "train", [GOOD])
    bomb = _png_header(folder / "1.png", 20000, 20000)
    assert bomb.stat().st_size < 100
    with pytest.raises(ImageFormatError, match=r"1.png is refused by PIL as too large .*400000000 pixels"):
        prepare_split(folder, tmp_path / "train_54.h5", progress=False)
    assert _leftovers(tmp_path) == []


def test_large_image_is_refused_before_decoding(tmp_path, monkeypatch):
    folder = _write_split(tmp_path / "train", [GOOD])
    _png_header(folder / "1.png", 9000, 9000)  # 243 MB of pixels once decoded
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded a 9000x9000 image"))
    with pytest.raises(ImageFormatError, match="9000x9000"):
        prepare_split(folder, tmp_path / "train_54.h5", progress=False)


@pytest.mark.parametrize("side", [10_000, 20_000], ids=["pil-warning", "pil-error"])
def test_pils_own_bomb_checks_become_image_format_errors(tmp_path, monkeypatch, side):
    from digitlib.data import svhn

    monkeypatch.setattr(svhn, "MAX_IMAGE_PIXELS", 10 ** 12)  # only PIL's limits apply now
    folder = _write_split(tmp_path / "train", [GOOD])
    _png_header(folder / "1.png", side, side)
    with pytest.raises(ImageFormatError, match="1.png is refused by PIL as too large"):
        prepare_split(folder, tmp_path / "train_54.h5", progress=False)


def test_image_over_the_limit_is_named_with_its_size(tmp_path):
    folder = _write_split(tmp_path / "train", [GOOD])
    _png_header(folder / "1.png", 5000, 4000)  # under PIL's own limit, over digitlib's
    with pytest.raises(ImageFormatError, match=r"1.png declares an image of 5000x4000 pixels, over the limit "
                                               r"of 16,777,216"):
        prepare_split(folder, tmp_path / "train_54.h5", progress=False)


# -------------------------------------------------------------- issue 3: no temporary file left

@pytest.mark.parametrize("failure", [ImageFormatError("bad png"), KeyboardInterrupt(), MemoryError()],
                         ids=["bad-png", "interrupt", "memory"])
def test_no_temporary_file_is_left_on_any_failure(tmp_path, monkeypatch, failure):
    from digitlib.data import svhn

    folder = _write_split(tmp_path / "train", [GOOD, dict(GOOD, name="2.png")])
    calls = []

    def fail_on_second(path):
        calls.append(path)
        if len(calls) == 2:
            raise failure
        return np.zeros((40, 60, 3), np.uint8)

    monkeypatch.setattr(svhn, "read_png", fail_on_second)
    monkeypatch.setattr(svhn, "_PREPARE_WAVE", 1)  # one image per round: the first is written before the failure
    with pytest.raises(type(failure)):
        prepare_split(folder, tmp_path / "train_54.h5", progress=False, batch=1)  # batch=1: data written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train"] and _leftovers(tmp_path) == []


def test_corrupt_png_leaves_no_temporary_file(tmp_path):
    folder = _write_split(tmp_path / "train", [GOOD])
    (folder / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ImageFormatError):
        prepare_split(folder, tmp_path / "train_54.h5", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train"]


# --------------------------------------------------------------------- issue 4: stale caches

def _svhn_test_split(data_dir, records=None, n=6):
    """A format-1 ``svhn/test`` split in the data folder: ``n`` synthetic images or ``records``."""
    folder = data_dir / "svhn" / "test"
    if records is None:
        generate_split(folder, n, seed=3, progress=False, workers=1)
    else:
        _write_split(folder, records)
    return folder


def test_rewritten_annotations_rebuild_the_cache(data_dir):
    folder = _svhn_test_split(data_dir)
    first = svhn_split("test", progress=False)
    assert len(first) == 6 and first.attrs["format_version"] == CACHE_VERSION
    import pooch

    assert first.attrs["source_sha256"] == pooch.file_hash(str(folder / "digitStruct.mat"))
    _write_split(folder, [dict(GOOD, name="1.png")])  # new annotations: one image only
    again = svhn_split("test", progress=False)
    assert again.path == first.path and len(again) == 1
    assert again.attrs["source_sha256"] == pooch.file_hash(str(folder / "digitStruct.mat"))


def test_close_margins_get_their_own_files(data_dir):
    assert cache_name("train", 0.0) == "train_54.h5"
    assert cache_name("train", 0.3) != cache_name("train", 0.304)
    _svhn_test_split(data_dir)
    a, b = svhn_split("test", 0.3, progress=False), svhn_split("test", 0.304, progress=False)
    assert a.path != b.path and a.path.name == "test_54_m0.3.h5" and b.path.name == "test_54_m0.304.h5"
    assert (a.attrs["margin"], b.attrs["margin"]) == (0.3, 0.304)
    # (their crops may round to the same pixels: 0.4% of a margin on a small crop is under a pixel)
    with pytest.raises(ValueError, match="margin must be a finite number >= 0"):
        svhn_split("test", -0.1)


def test_margin_stamp_mismatch_rebuilds(data_dir):
    _svhn_test_split(data_dir)
    split = svhn_split("test", 0.3, progress=False)
    with h5py.File(split.path, "r+") as f:  # as if an older digitlib had rounded the margin
        f.attrs["margin"] = 0.304
    assert svhn_split("test", 0.3, progress=False).attrs["margin"] == 0.3


def test_old_format_cache_is_rebuilt_with_a_message(data_dir, capsys):
    _svhn_test_split(data_dir)
    out = data_dir / "svhn" / "test_54.h5"
    with h5py.File(out, "w") as f:
        f.attrs["format_version"] = 2
        f.create_dataset("images", data=np.zeros((1, 54, 54, 3), np.uint8))
    split = svhn_split("test")
    assert "it was written in cache format 2, this digitlib writes" in capsys.readouterr().out
    assert len(split) == 6 and split.attrs["format_version"] == CACHE_VERSION


def test_unreadable_cache_file_is_rebuilt(data_dir):
    _svhn_test_split(data_dir)
    (data_dir / "svhn" / "test_54.h5").write_bytes(b"not hdf5")
    assert len(svhn_split("test", progress=False)) == 6


def test_synthetic_split_is_checked_against_its_source_too(data_dir):
    first = synthetic_split("train", 5, seed=1, progress=False)
    folder = Path(first.attrs["source"])
    _write_split(folder, [dict(GOOD, name="1.png")])
    assert len(synthetic_split("train", 5, seed=1, progress=False)) == 1


def test_a_killed_process_temporary_file_is_removed(data_dir):
    _svhn_test_split(data_dir)
    stray = data_dir / "svhn" / "test_54.h5.12345-deadbeef.tmp"
    stray.write_bytes(b"half written")
    svhn_split("test", progress=False)
    assert not stray.exists()


# ------------------------------------------------------------------------ issue 5: read-only

@pytest.fixture
def read_only(monkeypatch):
    """``read_only(folder)`` makes every write below ``folder`` fail as on a read-only mount (tests
    run as root, for whom chmod changes nothing): creating or writing files through ``os.open`` or
    ``open`` and making folders raise ``OSError(EROFS)``."""
    import builtins

    real_open, real_mkdir, real_builtin_open = os.open, os.mkdir, builtins.open

    def install(folder):
        root = Path(folder).resolve()

        def inside(path):
            return Path(os.path.abspath(os.fspath(path))).is_relative_to(root)

        def refuse(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))

        def fake_open(path, flags, *args, **kwargs):
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(path):
                refuse(path)
            return real_open(path, flags, *args, **kwargs)

        def fake_mkdir(path, *args, **kwargs):
            if inside(path):
                refuse(path)
            return real_mkdir(path, *args, **kwargs)

        def fake_builtin_open(file, mode="r", *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and set(mode) & set("wax+") and inside(file):
                refuse(file)
            return real_builtin_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(os, "open", fake_open)
        monkeypatch.setattr(os, "mkdir", fake_mkdir)
        monkeypatch.setattr(builtins, "open", fake_builtin_open)

    return install


def _snapshot(folder):
    return sorted((str(p), p.stat().st_mtime_ns) for p in Path(folder).rglob("*"))


def test_valid_prepared_split_reads_from_a_read_only_folder(data_dir, read_only):
    _svhn_test_split(data_dir)
    svhn_split("test", progress=False)
    before = _snapshot(data_dir)
    read_only(data_dir)
    split = svhn_split("test", progress=False)
    assert len(split.load()) == 6 and _snapshot(data_dir) == before


def test_valid_synthetic_split_reads_from_a_read_only_folder(data_dir, read_only):
    from dataclasses import replace

    from digitlib.config import PROFILES

    profile = replace(PROFILES["quick"], synth_images={"train": 4, "test": 3, "extra": 0})
    house_numbers("test", profile=profile, progress=False)
    before = _snapshot(data_dir)
    read_only(data_dir)
    assert len(house_numbers("test", profile=profile, progress=False)) == 3 and _snapshot(data_dir) == before


def test_stale_cache_in_a_read_only_folder_is_a_clear_error(data_dir, read_only):
    folder = _svhn_test_split(data_dir)
    svhn_split("test", progress=False)
    _write_split(folder, [dict(GOOD, name="1.png")])
    read_only(data_dir)
    with pytest.raises(DataHomeError, match=r"svhn is not writable.*to prepare .*test_54.h5 \(its digitStruct.mat "
                                            r"has changed.*\$DIGITLIB_DATA='.*data'.*Point \$DIGITLIB_DATA at a folder"):
        svhn_split("test", progress=False)


def test_missing_cache_in_a_read_only_folder_is_a_clear_error(data_dir, read_only):
    _svhn_test_split(data_dir)
    read_only(data_dir)
    with pytest.raises(DataHomeError, match=r"not writable.*\$DIGITLIB_DATA"):
        svhn_split("test", progress=False)


# ---------------------------------------------------------------------- issue 5: unknown splits

@pytest.mark.parametrize("call", [
    lambda: svhn_split("validation"), lambda: house_numbers("validation"), lambda: fetch_svhn("validation"),
    lambda: synthetic_split("validation", 5, seed=0),
], ids=["svhn_split", "house_numbers", "fetch_svhn", "synthetic_split"])
def test_unknown_split_names_the_valid_ones(data_dir, call):
    with pytest.raises(ValueError, match=r"unknown split 'validation'; choose one of \('train', 'test', 'extra'\)"):
        call()


# ------------------------------------------------------------------ issue 5: two processes at once

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from digitlib.data.house_numbers import synthetic_split

    go = Path(sys.argv[1])
    Path(sys.argv[2]).touch()  # ready
    while not go.exists():
        time.sleep(0.01)
    split = synthetic_split("train", 20, seed=0, progress=True)
    print("RESULT", len(split), split.path.stat().st_ino)
""")


def test_two_processes_preparing_one_split_take_turns(data_dir, tmp_path):
    env = dict(os.environ, DIGITLIB_DATA=str(data_dir), PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    go = tmp_path / "go"
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(go), str(tmp_path / f"ready{i}")], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    try:
        for i in range(2):
            for _ in range(6000):
                if (tmp_path / f"ready{i}").exists() or children[i].poll() is not None:
                    break
                time.sleep(0.01)
        go.touch()
        outputs = [child.communicate(timeout=120) for child in children]
    finally:
        for child in children:
            child.kill()
    for child, (out, err) in zip(children, outputs):
        assert child.returncode == 0, err
    results = [line for out, _ in outputs for line in out.splitlines() if line.startswith("RESULT")]
    assert len(results) == 2 and len(set(results)) == 1  # same file (same inode): the second reused it
    stdout = "".join(out for out, _ in outputs)
    assert stdout.count("generated 20 synthetic") == 1 and stdout.count("prepared 20 of 20 images") == 1
    assert _leftovers(data_dir) == []


# ------------------------------------------------------------------- issue 5: archives, all or nothing

class Special:
    """An archive member that is not a regular file: ``Special(tarfile.FIFOTYPE)``."""

    def __init__(self, kind):
        self.kind = kind


def _archive(path, members):
    """A .tar.gz with ``members``: name -> bytes (a regular file) or :class:`Special`."""
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, Special):
                info.type = content.kind
                info.linkname = "test/1.png" if content.kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


@pytest.mark.parametrize("kind, words", [("FIFOTYPE", "a FIFO"), ("SYMTYPE", "a symbolic link"),
                                         ("LNKTYPE", "a hard link"), ("CHRTYPE", "a character device"),
                                         ("BLKTYPE", "a block device")])
def test_archive_members_other_than_files_and_folders_are_refused_before_writing(tmp_path, kind, words):
    import tarfile

    from digitlib.data import UnsafeArchiveError
    from digitlib.data.download import safe_extract

    archive = _archive(tmp_path / "a.tar.gz", {"test/1.png": b"png", "test/digitStruct.mat": b"mat",
                                               "test/2.png": Special(getattr(tarfile, kind))})
    with pytest.raises(UnsafeArchiveError, match=f"contains {words}, 'test/2.png'; only regular files and folders"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _local_svhn_test_archive(data_dir, monkeypatch, members):
    """Put an archive with ``members`` where fetch_svhn('test') looks, with a matching checksum."""
    import hashlib
    from dataclasses import replace

    from digitlib.data.download import REMOTE_FILES

    (data_dir / "svhn").mkdir(parents=True)
    archive = _archive(data_dir / "svhn" / "test.tar.gz", members)
    remote = replace(REMOTE_FILES["svhn-test"], url="http://127.0.0.1:9/test.tar.gz",  # never contacted
                     known_hash="sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest())
    monkeypatch.setitem(REMOTE_FILES, "svhn-test", remote)
    return archive


def test_fifo_after_digitstruct_leaves_no_half_split_that_looks_ready(data_dir, monkeypatch):
    import tarfile

    from digitlib.data import UnsafeArchiveError

    _local_svhn_test_archive(data_dir, monkeypatch, {"test/digitStruct.mat": b"mat", "test/1.png": b"png",
                                                     "test/fifo": Special(tarfile.FIFOTYPE)})
    for _ in range(2):  # the second try must not find a "ready" split
        with pytest.raises(UnsafeArchiveError, match="a FIFO"):
            fetch_svhn("test", progress=False)
        assert not (data_dir / "svhn" / "test").exists() and _leftovers(data_dir) == []


def test_extraction_failing_part_way_leaves_nothing(data_dir, monkeypatch):
    import tarfile

    folder = generate_split(data_dir / "build" / "test", 3, seed=0, progress=False, workers=1)
    members = {f"test/{p.name}": p.read_bytes() for p in sorted(folder.iterdir())}
    _local_svhn_test_archive(data_dir, monkeypatch, members)
    real = tarfile.TarFile.extractall

    def disk_full(self, path, members=None, **kwargs):
        real(self, path, members=members[:2], **kwargs)  # some files are written, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(tarfile.TarFile, "extractall", disk_full)
    with pytest.raises(DataHomeError, match=r"cannot hold the extracted test.tar.gz.*No space left"):
        fetch_svhn("test", progress=False)
    assert not (data_dir / "svhn" / "test").exists() and _leftovers(data_dir) == []
    monkeypatch.setattr(tarfile.TarFile, "extractall", real)
    assert (fetch_svhn("test", progress=False) / "digitStruct.mat").exists()  # the retry succeeds


def test_an_incomplete_split_folder_is_replaced(data_dir, monkeypatch):
    folder = generate_split(data_dir / "build" / "test", 2, seed=0, progress=False, workers=1)
    _local_svhn_test_archive(data_dir, monkeypatch, {f"test/{p.name}": p.read_bytes() for p in folder.iterdir()})
    (data_dir / "svhn" / "test").mkdir()
    (data_dir / "svhn" / "test" / "1.png").write_bytes(b"half")  # an older digitlib's interrupted extraction
    assert (fetch_svhn("test", progress=False) / "digitStruct.mat").exists()
    assert len(svhn_split("test", progress=False)) == 2


def test_safe_extract_refuses_to_overwrite(tmp_path):
    from digitlib.data import UnsafeArchiveError
    from digitlib.data.download import safe_extract

    (tmp_path / "out" / "test").mkdir(parents=True)
    archive = _archive(tmp_path / "a.tar.gz", {"test/1.png": b"png"})
    with pytest.raises(UnsafeArchiveError, match="would overwrite .*out/test; delete it first"):
        safe_extract(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == [tmp_path / "out" / "test"]


# ------------------------------------------------------------------------- issue 5: HTTP errors

def _http_error(status, reason):
    import requests

    response = requests.Response()
    response.status_code, response.reason = status, reason
    return requests.exceptions.HTTPError(f"{status} Error: {reason} for url: x", response=response)


@pytest.mark.parametrize("error, words", [
    (lambda: _http_error(404, "Not Found"), r"The server answered 404 Not Found for http://example.invalid/test.tar.gz: "
                                            r"the file has moved or the URL is wrong.*download test.tar.gz .* by hand"),
    (lambda: _http_error(503, "Service Unavailable"), r"answered 503 Service Unavailable.*server has a problem; try "
                                                      r"again later"),
])
def test_http_errors_say_what_the_server_answered(tmp_path, monkeypatch, error, words):
    import pooch

    from digitlib.data import DataMissingError
    from digitlib.data.download import RemoteFile, fetch

    def retrieve(*args, **kwargs):
        raise error()

    monkeypatch.setattr(pooch, "retrieve", retrieve)
    remote = RemoteFile("test.tar.gz", "http://example.invalid/test.tar.gz", "md5:0", 1.0, "cmd")
    with pytest.raises(DataMissingError, match=words) as info:
        fetch(remote, tmp_path, progressbar=False)
    assert "internet" not in str(info.value)


def test_connection_errors_and_timeouts_mention_the_connection(tmp_path, monkeypatch):
    import pooch
    import requests

    from digitlib.data import DataMissingError
    from digitlib.data.download import RemoteFile, fetch

    remote = RemoteFile("test.tar.gz", "http://example.invalid/test.tar.gz", "md5:0", 1.0, "cmd")
    for err in (requests.exceptions.ConnectionError("refused"), requests.exceptions.ReadTimeout("slow")):
        monkeypatch.setattr(pooch, "retrieve", lambda *a, err=err, **k: (_ for _ in ()).throw(err))
        with pytest.raises(DataMissingError, match="Check your internet connection and run `cmd`"):
            fetch(remote, tmp_path, progressbar=False)


def test_a_folder_that_cannot_be_written_is_not_a_network_problem(tmp_path, monkeypatch):
    import pooch

    from digitlib.data.download import RemoteFile, fetch

    def retrieve(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "test.tar.gz"))

    monkeypatch.setattr(pooch, "retrieve", retrieve)
    remote = RemoteFile("test.tar.gz", "http://example.invalid/test.tar.gz", "md5:0", 1.0, "cmd")
    with pytest.raises(DataHomeError, match=r"cannot hold the download of test.tar.gz.*\$DIGITLIB_DATA") as info:
        fetch(remote, tmp_path, progressbar=False)
    assert "internet" not in str(info.value)


# ----------------------------------------------------------------- issue 5: data and results homes

def test_data_home_that_is_a_file_names_the_variable(tmp_path, monkeypatch):
    from digitlib.config import data_home, results_home

    (tmp_path / "file").write_text("")
    monkeypatch.setenv("DIGITLIB_DATA", str(tmp_path / "file"))
    monkeypatch.setenv("DIGITLIB_RESULTS", str(tmp_path / "file"))
    with pytest.raises(DataHomeError, match=r"file is a file, not a folder \(\$DIGITLIB_DATA='.*file'\)\. "
                                            r"Point \$DIGITLIB_DATA at a folder you can write"):
        data_home()
    with pytest.raises(DataHomeError, match=r"\$DIGITLIB_RESULTS='.*file'"):
        results_home()
    with pytest.raises(DataHomeError, match=r"\$DIGITLIB_DATA"):
        svhn_split("test")


def test_data_home_that_cannot_be_created_names_the_variable(tmp_path, monkeypatch):
    from digitlib.config import data_home

    (tmp_path / "file").write_text("")
    monkeypatch.setenv("DIGITLIB_DATA", str(tmp_path / "file" / "data"))
    with pytest.raises(DataHomeError, match=r"data cannot be created \(NotADirectoryError.*\$DIGITLIB_DATA="):
        data_home()


def test_read_only_data_home_is_still_returned(data_dir, read_only):
    from digitlib.config import data_home

    data_dir.mkdir()
    read_only(data_dir)
    assert data_home() == data_dir
    with pytest.raises(DataHomeError, match=r"not writable.*\$DIGITLIB_DATA"):
        synthetic_split("test", 3, seed=0, progress=False)


def test_empty_variable_counts_as_unset(monkeypatch):
    from digitlib.config import data_home

    monkeypatch.setenv("DIGITLIB_DATA", "")
    assert data_home() != Path(".") and data_home().name in ("data", "digitlib_data")


# ------------------------------------------------------------------------ issue 5: command line

def test_cli_rejects_a_non_positive_count(tmp_path, capsys):
    from digitlib.data.__main__ import main

    for n in ("-3", "0", "two"):
        with pytest.raises(SystemExit) as info:
            main(["synth", "-n", n, "--out", str(tmp_path / "out")])
        assert info.value.code == 2
    assert "must be at least 1, got -3" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="n must be a positive integer, got -3"):
        generate_split(tmp_path / "out", -3)


def test_cli_reports_data_home_errors_without_a_traceback(tmp_path):
    (tmp_path / "file").write_text("")
    env = dict(os.environ, DIGITLIB_DATA=str(tmp_path / "file"), PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    run = subprocess.run([sys.executable, "-m", "digitlib.data", "fetch", "svhn", "--split", "test"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and run.stderr.startswith("error: ") and "$DIGITLIB_DATA=" in run.stderr
    assert "Traceback" not in run.stderr


def test_cli_reports_os_errors_and_read_only_folders_as_one_line(data_dir, tmp_path, capsys, read_only):
    from digitlib.data.__main__ import main

    (tmp_path / "file").write_text("")
    assert main(["synth", "-n", "2", "--out", str(tmp_path / "file")]) == 1
    assert capsys.readouterr().err.startswith("error: FileExistsError")
    _svhn_test_split(data_dir)
    read_only(data_dir)
    assert main(["prepare", "svhn", "--split", "test"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not writable" in err and "$DIGITLIB_DATA" in err


def test_cli_prepare_overwrite_rebuilds_under_the_lock(data_dir, capsys):
    from digitlib.data.__main__ import main

    _svhn_test_split(data_dir)
    assert main(["prepare", "svhn", "--split", "test", "--margin", "0.3"]) == 0
    path = data_dir / "svhn" / "test_54_m0.3.h5"
    inode = path.stat().st_ino
    assert main(["prepare", "svhn", "--split", "test", "--margin", "0.3"]) == 0
    assert path.stat().st_ino == inode  # valid: reused
    assert main(["prepare", "svhn", "--split", "test", "--margin", "0.3", "--overwrite"]) == 0
    assert path.stat().st_ino != inode and "6 prepared images in" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["prepare", "svhn", "--margin", "-1"])
