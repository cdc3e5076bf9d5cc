"""Read and write SVHN format 1's ``digitStruct.mat`` (MATLAB v7.3, which is HDF5 inside).

Layout of the real file: a group ``digitStruct`` with two ``(N, 1)`` datasets of object references,
``name`` and ``bbox``. ``name[i]`` points to a uint16 array of character codes (the PNG file name).
``bbox[i]`` points to a group with the fields ``label``, ``left``, ``top``, ``width``, ``height``.
The quirk: for a one-digit image each field is a ``(1, 1)`` float dataset holding the value; for a
several-digit image each field is a ``(k, 1)`` dataset of references, each to a ``(1, 1)`` value.
Labels are SVHN's: 1-9, and **10 for the digit 0**.

:func:`read_digit_struct` handles both forms with h5py's low-level API (several times faster than
dereferencing through ``File.__getitem__``) and caches the result next to the file, so a split is
parsed once. :func:`write_digit_struct` writes the same layout (used by the synthetic generator and
the tests).
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from .errors import DataMissingError, DigitStructError

FIELDS = ("label", "left", "top", "width", "height")
PARSE_CACHE_VERSION = 1
MATLAB_HEADER = "MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by: digitlib HDF5 schema 1.00 ."


@dataclass
class DigitStruct:
    """The annotations of one split, column-wise.

    * ``names``: ``(N,)`` str, the PNG file names
    * ``counts``: ``(N,)`` int64, digits per image
    * ``label``, ``left``, ``top``, ``width``, ``height``: ``(sum(counts),)`` float64, all images'
      digits one after the other; labels as in the file (SVHN: 10 = digit 0)
    """

    names: np.ndarray
    counts: np.ndarray
    label: np.ndarray
    left: np.ndarray
    top: np.ndarray
    width: np.ndarray
    height: np.ndarray

    def __post_init__(self):
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)
        if self.offsets[-1] != len(self.label):
            raise DigitStructError(f"counts add up to {self.offsets[-1]} digits but there are {len(self.label)}")

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> dict:
        """One image's record: ``name`` and the per-digit arrays ``label``, ``left``, ... ."""
        start, stop = self.offsets[i], self.offsets[i + 1]
        out = {"name": str(self.names[i])}
        out.update({f: getattr(self, f)[start:stop] for f in FIELDS})
        return out

    @classmethod
    def from_records(cls, records) -> "DigitStruct":
        """Build from dicts with ``name`` and equal-length sequences ``label``, ``left``, ... ."""
        names, counts, cols = [], [], {f: [] for f in FIELDS}
        for r in records:
            k = len(r["label"])
            if any(len(r[f]) != k for f in FIELDS):
                raise DigitStructError(f"record {r['name']!r}: the fields {FIELDS} differ in length")
            names.append(r["name"])
            counts.append(k)
            for f in FIELDS:
                cols[f].extend(float(v) for v in r[f])
        return cls(np.array(names, dtype=str), np.array(counts, dtype=np.int64),
                   **{f: np.array(cols[f], dtype=np.float64) for f in FIELDS})


# ----------------------------------------------------------------------------------------- reading

_ALL = h5py.h5s.ALL
_DOUBLE = h5py.h5t.NATIVE_DOUBLE
_REF = h5py.h5t.STD_REF_OBJ


def _not_format1(path: Path, what: str) -> DigitStructError:
    return DigitStructError(
        f"{path}: {what}; this is not SVHN format 1's digitStruct.mat (or it is damaged). "
        "Delete the split's folder and download it again."
    )


def _parse_range(path: str, start: int, stop: int):
    """Parse images ``start:stop``; returns (names, counts, (k, 5) float64 values).

    Low-level h5py: one dataset open per field, a raw read of reference arrays, no shape or dtype
    queries (a field holds ``storage_size / 8`` digits: a value when 1, references when more).
    """
    path = Path(path)
    buf = np.empty((1, 1), dtype=np.float64)
    with h5py.File(path, "r") as f:
        fid = f.id
        name_refs = f["digitStruct/name"][start:stop].ravel()
        bbox_refs = f["digitStruct/bbox"][start:stop].ravel()
        names, counts, rows = [], np.zeros(len(name_refs), np.int64), []
        for i, (nref, bref) in enumerate(zip(name_refs, bbox_refs)):
            nid = h5py.h5r.dereference(nref, fid)
            codes = np.empty(nid.get_storage_size() // 2, dtype=np.uint16)
            nid.read(_ALL, _ALL, codes, mtype=h5py.h5t.NATIVE_UINT16)
            names.append(codes.astype(np.uint8).tobytes().decode("ascii", "replace"))
            gid = h5py.h5r.dereference(bref, fid)
            values = []
            for field in FIELDS:
                try:
                    dsid = h5py.h5d.open(gid, field.encode())
                except KeyError:
                    raise _not_format1(path, f"the bbox of {names[-1]!r} has no field {field!r}") from None
                k = dsid.get_storage_size() // 8
                if k == 1:
                    dsid.read(_ALL, _ALL, buf, mtype=_DOUBLE)
                    values.append((float(buf[0, 0]),))
                else:
                    refs = np.empty((k, 1), dtype=h5py.ref_dtype)
                    dsid.read(_ALL, _ALL, refs)
                    column = []
                    for r in refs[:, 0]:
                        h5py.h5r.dereference(r, fid).read(_ALL, _ALL, buf, mtype=_DOUBLE)
                        column.append(float(buf[0, 0]))
                    values.append(column)
            if len({len(v) for v in values}) != 1:
                raise _not_format1(path, f"the bbox fields of {names[-1]!r} differ in length")
            counts[i] = len(values[0])
            rows.extend(zip(*values))
    return names, counts, np.array(rows, dtype=np.float64).reshape(-1, len(FIELDS))


def _parse(path: Path, progress: bool, workers: int | None = None) -> DigitStruct:
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DigitStructError(
            f"{path} is not an HDF5 file (MATLAB v7.3), so it is not SVHN's digitStruct.mat "
            f"({err}). Delete the split's folder and download it again."
        ) from err
    with f:
        if "digitStruct/name" not in f or "digitStruct/bbox" not in f:
            raise _not_format1(path, "there is no digitStruct/name and digitStruct/bbox")
        n, n_boxes = len(f["digitStruct/name"]), len(f["digitStruct/bbox"])
    if n != n_boxes:
        raise _not_format1(path, f"it lists {n} names but {n_boxes} bboxes")
    from tqdm.auto import tqdm

    chunk = 2000
    ranges = [(str(path), a, min(a + chunk, n)) for a in range(0, n, chunk)]
    if workers is None:  # fork is safe only while no TensorFlow threads exist in this process
        workers = min(os.cpu_count() or 1, 4) if "tensorflow" not in sys.modules else 1
    bar = tqdm(total=n, desc=f"parsing {path.parent.name}/{path.name}", unit="img",
               disable=not progress, mininterval=1.0)
    if workers > 1 and len(ranges) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_parse_range, *r) for r in ranges]
            parts = []
            for fut, r in zip(futures, ranges):
                parts.append(fut.result())
                bar.update(r[2] - r[1])
    else:
        parts = []
        for r in ranges:
            parts.append(_parse_range(*r))
            bar.update(r[2] - r[1])
    bar.close()
    names = [name for p in parts for name in p[0]]
    counts = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    values = np.concatenate([p[2] for p in parts]) if parts else np.zeros((0, len(FIELDS)))
    return DigitStruct(np.array(names, dtype=str), counts,
                       **{k: np.ascontiguousarray(values[:, j]) for j, k in enumerate(FIELDS)})


def _cache_path(path: Path) -> Path:
    return path.with_name(path.name + ".parsed.npz")


def read_digit_struct(path, use_cache: bool = True, progress: bool = True,
                      workers: int | None = None) -> DigitStruct:
    """Parse a ``digitStruct.mat`` into a :class:`DigitStruct` (labels as in the file: 10 = digit 0).

    The result is cached in ``<path>.parsed.npz`` (invalidated when the .mat file's size or
    modification time changes), so each split is parsed once. Raises :class:`DigitStructError` for a
    file that is not HDF5, lacks ``digitStruct/bbox`` or ``name``, or whose counts disagree.
    """
    path = Path(path)
    if not path.exists():
        raise DataMissingError(f"{path} does not exist. Fetch the split, e.g. `python -m digitlib.data fetch svhn --split train`.")
    stat = path.stat()
    stamp = np.array([PARSE_CACHE_VERSION, stat.st_size, stat.st_mtime_ns], dtype=np.int64)
    cache = _cache_path(path)
    if use_cache and cache.exists():
        try:
            with np.load(cache, allow_pickle=False) as z:
                if np.array_equal(z["stamp"], stamp):
                    return DigitStruct(**{k: z[k] for k in ("names", "counts") + FIELDS})
        except (OSError, KeyError, ValueError):
            pass  # unreadable cache: parse again
    start = time.perf_counter()
    result = _parse(path, progress, workers)
    if progress:
        rate = len(result) / max(time.perf_counter() - start, 1e-9)
        print(f"parsed {len(result):,} images from {path} ({rate:,.0f} images/s)")
    if use_cache:
        tmp = cache.with_name(cache.name + ".tmp.npz")
        np.savez(tmp, stamp=stamp, names=result.names, counts=result.counts,
                 **{k: getattr(result, k) for k in FIELDS})
        tmp.replace(cache)
    return result


# ----------------------------------------------------------------------------------------- writing

def _new_value(group, name: str, value: float):
    """Create a (1, 1) float64 dataset with h5py's low-level API (about 5x faster) and return its reference."""
    space = h5py.h5s.create_simple((1, 1))
    dsid = h5py.h5d.create(group.id, name.encode(), h5py.h5t.IEEE_F64LE, space)
    dsid.write(_ALL, _ALL, np.full((1, 1), value, dtype=np.float64))
    return h5py.h5r.create(dsid, b".", h5py.h5r.OBJECT)


def write_digit_struct(path, struct: DigitStruct) -> Path:
    """Write ``struct`` as a MATLAB v7.3 ``digitStruct.mat`` in SVHN's layout, quirk included.

    One-digit images get their fields as ``(1, 1)`` values, several-digit images as ``(k, 1)``
    reference arrays, exactly like the real files, so the same reader runs on both.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    ref = h5py.ref_dtype
    with h5py.File(tmp, "w", userblock_size=512, libver="earliest") as f:
        refs = f.create_group("#refs#")
        group = f.create_group("digitStruct")
        group.attrs["MATLAB_class"] = np.bytes_(b"struct")
        name_refs = np.empty((len(struct), 1), dtype=object)
        bbox_refs = np.empty((len(struct), 1), dtype=object)
        offsets = struct.offsets
        for i in range(len(struct)):
            codes = np.frombuffer(str(struct.names[i]).encode("utf-16-le"), dtype=np.uint16)
            ds = refs.create_dataset(f"n{i}", data=codes.reshape(-1, 1))
            ds.attrs["MATLAB_class"] = np.bytes_(b"char")
            name_refs[i, 0] = ds.ref
            box = refs.create_group(f"b{i}")
            start, stop = offsets[i], offsets[i + 1]
            for field in FIELDS:
                values = getattr(struct, field)[start:stop]
                if len(values) == 1:
                    _new_value(box, field, values[0])
                else:
                    cells = np.empty((len(values), 1), dtype=object)
                    for j, v in enumerate(values):
                        cells[j, 0] = _new_value(refs, f"v{i}_{field}_{j}", v)
                    box.create_dataset(field, data=cells, dtype=ref)
            bbox_refs[i, 0] = box.ref
        group.create_dataset("name", data=name_refs, dtype=ref).attrs["MATLAB_class"] = np.bytes_(b"cell")
        group.create_dataset("bbox", data=bbox_refs, dtype=ref).attrs["MATLAB_class"] = np.bytes_(b"struct")
    header = MATLAB_HEADER.encode().ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM"
    with open(tmp, "r+b") as raw:
        raw.write(header)
    tmp.replace(path)
    return path
