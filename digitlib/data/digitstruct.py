"""Read and write SVHN format 1's ``digitStruct.mat`` (MATLAB v7.3, which is HDF5 inside).

Layout of the real file: a group ``digitStruct`` with two ``(N, 1)`` datasets of object references,
``name`` and ``bbox``. ``name[i]`` points to a ``(n, 1)`` uint16 array of UTF-16 code units (MATLAB
text: the PNG file name). ``bbox[i]`` points to a group with the fields ``label``, ``left``,
``top``, ``width``, ``height``. The quirk: for a one-digit image each field is a ``(1, 1)`` float
dataset holding the value; for a several-digit image each field is a ``(k, 1)`` dataset of
references, each to a ``(1, 1)`` value. Labels are SVHN's: 1-9, and **10 for the digit 0**.

:func:`read_digit_struct` handles both forms with h5py's low-level API (several times faster than
dereferencing through ``File.__getitem__``), checks the shape and type of every dataset before it
reads it (a damaged or foreign file raises :class:`DigitStructError` naming the file and the image,
it never crashes the interpreter), and caches the result next to the file, so a split is parsed
once. :func:`write_digit_struct` writes the same layout (used by the synthetic generator and the
tests), with h5py's low-level API in one pass, and can write the parse cache along with the file.
"""
from __future__ import annotations

import contextlib
import math
import os
import secrets
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..config import shown_path
from .errors import DataMissingError, DigitStructError
from .parallel import WorkerDied, map_ranges

FIELDS = ("label", "left", "top", "width", "height")
PARSE_CACHE_VERSION = 2
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
_REF = h5py.h5t.STD_REF_OBJ  # the file type of object references
_REF_OBJECTS = h5py.h5t.py_create(h5py.ref_dtype)  # memory type: h5py converts to Reference objects
_NUMERIC = (h5py.h5t.INTEGER, h5py.h5t.FLOAT)
_MAX_NAME = 1024  # UTF-16 code units in one file name
_MAX_DIGITS = 1024  # digits in one image (SVHN has at most 6)
_FIELD_KEYS = [(field, field.encode()) for field in FIELDS]
_MAX_IMAGES = 10_000_000  # SVHN's largest split (extra) has 202,353
_CHUNK = 2000  # most images per task of the worker processes: about a second of work
# What h5py raises when it cannot open or read an object; turned into DigitStructError.
_H5_ERRORS = (OSError, ValueError, TypeError, KeyError, IndexError, RuntimeError, OverflowError)


class _Malformed(Exception):
    """One image's entry breaks the layout; the caller adds the file and the image to the message."""


def _not_format1(path: Path, what: str) -> DigitStructError:
    return DigitStructError(
        f"{path}: {what}; this is not SVHN format 1's digitStruct.mat (or it is damaged). "
        "Delete the split's folder and download it again."
    )


def _describe(dsid) -> str:
    """A dataset for an error message, e.g. ``'a (3, 1) float32 dataset'``."""
    if dsid.shape is None:
        return "an empty dataset (null dataspace)"
    try:
        dtype = dsid.dtype
    except Exception:  # a type numpy has no dtype for
        return f"a {dsid.shape} dataset of HDF5 type class {dsid.get_type().get_class()}"
    ref = h5py.check_ref_dtype(dtype)
    if h5py.check_string_dtype(dtype) is not None:
        kind = "string"
    elif ref is not None:
        kind = "region reference" if ref is h5py.RegionReference else "reference"
    else:
        kind = "variable-length" if dtype.kind == "O" else str(dtype)
    return f"a {dsid.shape} {kind} dataset"


def _is_vector(shape) -> bool:
    """A scalar, ``(k,)``, ``(k, 1)`` or ``(1, k)`` (not a null dataspace, a matrix or rank 3+)."""
    return shape is not None and len(shape) <= 2 and (len(shape) < 2 or 1 in shape)


def _index(f: h5py.File, path: Path) -> tuple:
    """``digitStruct/name`` and ``digitStruct/bbox``: reference vectors ``(N, 1)``, ``(1, N)`` or ``(N,)``."""
    group = f.get("digitStruct")
    if not isinstance(group, h5py.Group) or "name" not in group or "bbox" not in group:
        raise _not_format1(path, "there is no digitStruct/name and digitStruct/bbox")
    datasets = []
    for key in ("name", "bbox"):
        ds = group[key]
        if not isinstance(ds, h5py.Dataset):
            raise _not_format1(path, f"digitStruct/{key} is a group, not a dataset")
        if ds.id.get_type() != _REF or ds.shape is None or not (ds.ndim == 1 or ds.ndim == 2 and 1 in ds.shape):
            raise _not_format1(path, f"digitStruct/{key} is {_describe(ds.id)}, not an (N, 1) column of references")
        datasets.append(ds)
    n, n_boxes = (ds.size for ds in datasets)
    if n != n_boxes:
        raise _not_format1(path, f"it lists {n} names but {n_boxes} bboxes")
    if n > _MAX_IMAGES:
        raise _not_format1(path, f"it lists {n:,} images, more than the {_MAX_IMAGES:,} a split can have")
    return tuple(datasets)


def _entries(ds: h5py.Dataset, start: int, stop: int) -> np.ndarray:
    """References ``start:stop`` of an index dataset checked by :func:`_index`, as a 1-D array."""
    if ds.ndim == 1:
        return ds[start:stop]
    return ds[start:stop, 0] if ds.shape[1] == 1 else ds[0, start:stop]


class _Reader:
    """Reads the entries of one open file.

    Every read goes into a buffer that holds exactly what HDF5 will write: a value is read through
    a one-element memory dataspace (HDF5 refuses a dataset with another number of elements, and
    converts any integer or float type to float64 or refuses the type), and names and reference
    columns into arrays allocated from the dataset's own dataspace shape after their type and
    shape are checked. Never from the storage size, which depends on compression and dtype.
    """

    def __init__(self, fid):
        self.fid = fid
        self.one = h5py.h5s.create_simple((1,))
        self.buf = np.empty(1, np.float64)

    def dereference(self, ref, kind: type):
        """The object ``ref`` points to, which must be a ``kind`` (h5py's ``DatasetID`` or ``GroupID``)."""
        obj = h5py.h5r.dereference(ref, self.fid)  # KeyError when the reference points nowhere
        if obj is None:
            raise _Malformed("is a null reference")
        if not isinstance(obj, kind):
            kinds = {h5py.h5d.DatasetID: "a dataset", h5py.h5g.GroupID: "a group"}
            raise _Malformed(f"points to {kinds.get(type(obj), 'a named datatype')}, not {kinds[kind]}")
        return obj

    def name(self, dsid) -> str:
        """MATLAB text: a vector of 1 to ``_MAX_NAME`` 16-bit integers, the UTF-16 code units."""
        tid, shape = dsid.get_type(), dsid.shape
        if (tid.get_class() != h5py.h5t.INTEGER or tid.get_size() != 2 or not _is_vector(shape)
                or not 0 < math.prod(shape) <= _MAX_NAME):
            raise _Malformed(f"is {_describe(dsid)}, not MATLAB text (an (n, 1) column of 1 to "
                             f"{_MAX_NAME} uint16 character codes)")
        signed = tid.get_sign() == h5py.h5t.SGN_2
        codes = np.empty(shape, np.int16 if signed else np.uint16)
        dsid.read(_ALL, _ALL, codes, mtype=h5py.h5t.NATIVE_INT16 if signed else h5py.h5t.NATIVE_UINT16)
        try:
            name = codes.astype("<u2").tobytes().decode("utf-16-le")
        except UnicodeDecodeError as err:
            raise _Malformed(f"is not valid UTF-16 text ({err})") from None
        if "\x00" in name:
            raise _Malformed(f"{name!r} contains a NUL character")
        return name

    def number(self, dsid) -> float:
        """The value of a dataset with one element of an integer or float type, as a float."""
        try:
            dsid.read(self.one, _ALL, self.buf, mtype=_DOUBLE)
        except _H5_ERRORS as err:  # another number of elements, a type that is not a number, damaged data
            shape = dsid.shape
            if shape is None or math.prod(shape) != 1 or dsid.get_type().get_class() not in _NUMERIC:
                raise _Malformed(f"is {_describe(dsid)}, not one number") from None
            raise _Malformed(f"is {_describe(dsid)} that could not be read ({type(err).__name__}: {err})") from None
        return self.buf.item()

    def field(self, gid, field: str, key: bytes) -> list:
        """One bbox field of one image: ``[value]``, or one value per reference of a reference column.

        Errors are worded to follow "its bbox", like the other methods' follow their subject.
        """
        try:
            dsid = h5py.h5d.open(gid, key)
        except KeyError:
            raise _Malformed(f"field {field!r} is not a dataset" if key in gid else
                             f"has no field {field!r}") from None
        tid = dsid.get_type()
        try:
            if tid.get_class() in _NUMERIC:
                return [self.number(dsid)]
            shape = dsid.shape
            if tid != _REF or not _is_vector(shape) or not 0 < math.prod(shape) <= _MAX_DIGITS:
                raise _Malformed(f"is {_describe(dsid)}, not one number or a (k, 1) column of "
                                 f"1 to {_MAX_DIGITS} references to one number each")
        except _Malformed as err:
            raise _Malformed(f"field {field!r} {err}") from None
        refs = np.empty(shape, dtype=h5py.ref_dtype)
        dsid.read(_ALL, _ALL, refs, mtype=_REF_OBJECTS)
        values = []
        try:
            for ref in refs.flat:
                values.append(self.number(self.dereference(ref, h5py.h5d.DatasetID)))
        except _Malformed as err:
            raise _Malformed(f"field {field!r}: reference {len(values)} {err}") from None
        return values


def _parse_range(path: str, start: int, stop: int):
    """Parse images ``start:stop``; returns (names, counts, ``(sum(counts), 5)`` float64 values).

    Low-level h5py (see :class:`_Reader`): one dataset open per field, every type and shape checked
    before a read. Anything unexpected raises :class:`DigitStructError` naming the file and the
    image (its 0-based index, and its name once known).
    """
    path = Path(path)
    where, subject = "digitStruct", ""
    names, counts, rows = [], np.zeros(stop - start, np.int64), []
    try:
        with h5py.File(path, "r") as f:
            reader = _Reader(f.id)
            name_refs, bbox_refs = (_entries(ds, start, stop) for ds in _index(f, path))
            for i in range(stop - start):
                where, subject = f"image {start + i}", "its name reference"
                dsid = reader.dereference(name_refs[i], h5py.h5d.DatasetID)
                subject = "its name"
                name = reader.name(dsid)
                where, subject = f"image {start + i} ({name!r})", "its bbox reference"
                names.append(name)
                gid = reader.dereference(bbox_refs[i], h5py.h5g.GroupID)
                subject = "its bbox"
                columns = [reader.field(gid, field, key) for field, key in _FIELD_KEYS]
                if len({len(c) for c in columns}) != 1:
                    lengths = ", ".join(f"{field}: {len(c)}" for field, c in zip(FIELDS, columns))
                    raise _Malformed(f"fields differ in length ({lengths})")
                counts[i] = len(columns[0])
                rows.extend(zip(*columns))
    except _Malformed as err:
        raise _not_format1(path, f"{where}: {subject} {err}") from None
    except _H5_ERRORS as err:
        raise _not_format1(path, f"{where} could not be read ({type(err).__name__}: {err})") from err
    return names, counts, np.array(rows, dtype=np.float64).reshape(-1, len(FIELDS))


def _parse(path: Path, progress: bool, workers: int | None = None) -> DigitStruct:
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DigitStructError(
            f"{path} is not an HDF5 file (MATLAB v7.3), so it is not SVHN's digitStruct.mat "
            f"({err}). Delete the split's folder and download it again."
        ) from err
    try:
        with f:
            n = _index(f, path)[0].size
    except _H5_ERRORS as err:
        raise _not_format1(path, f"digitStruct could not be read ({type(err).__name__}: {err})") from err
    try:
        parts = map_ranges(_parse_range, (str(path),), n, _CHUNK, workers, progress,
                           desc=f"parsing {path.parent.name}/{path.name}")
    except WorkerDied as err:
        raise DigitStructError(
            f"{path}: a worker process died while parsing images {err.start} to {err.stop - 1}; parse with "
            "workers=1 to see the error, or delete the split's folder and download it again."
        ) from err
    names = [name for p in parts for name in p[0]]
    counts = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    values = np.concatenate([p[2] for p in parts]) if parts else np.zeros((0, len(FIELDS)))
    return DigitStruct(np.array(names, dtype=str), counts,
                       **{k: np.ascontiguousarray(values[:, j]) for j, k in enumerate(FIELDS)})


# ------------------------------------------------------------------------------------- parse cache

def _cache_path(path: Path) -> Path:
    return path.with_name(path.name + ".parsed.npz")


def _temporary(path: Path) -> Path:
    """A name next to ``path`` that no other process or thread uses (for write, then rename)."""
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _content_hash(path: Path) -> str:
    """The sha256 of the file's content: what a parse cache is stamped with."""
    import pooch

    try:
        return pooch.file_hash(str(path))
    except OSError as err:
        raise DigitStructError(f"{path} cannot be read ({type(err).__name__}: {err}); check its permissions "
                               "or download the split again.") from err


def _load_cache(cache: Path, digest: str) -> DigitStruct | None:
    """The parse in ``cache`` if it was made by this version from a file with sha256 ``digest``.

    ``None`` when it is missing, stale, truncated, garbage or inconsistent: the caller parses again.
    """
    try:
        with open(cache, "rb") as raw, np.load(raw, allow_pickle=False) as z:
            if z["version"].item() != PARSE_CACHE_VERSION or z["sha256"].item() != digest:
                return None
            arrays = {k: z[k] for k in ("names", "counts") + FIELDS}
        names, counts = arrays["names"], arrays["counts"]
        if (names.ndim != 1 or names.dtype.kind != "U" or counts.shape != names.shape
                or counts.dtype != np.int64 or (counts < 0).any()):
            return None
        if any(arrays[k].dtype != np.float64 or arrays[k].shape != (counts.sum(),) for k in FIELDS):
            return None
        return DigitStruct(**arrays)
    except Exception:  # any failure to read the cache (BadZipFile, EOFError, KeyError, ...)
        return None


def _write_cache(cache: Path, digest: str, struct: DigitStruct) -> None:
    """Write ``struct`` to ``cache`` through a unique temporary file; warn if the folder refuses."""
    tmp = _temporary(cache)
    try:
        try:
            with open(tmp, "xb") as out:
                np.savez(out, version=np.int64(PARSE_CACHE_VERSION), sha256=np.str_(digest),
                         names=struct.names, counts=struct.counts, **{k: getattr(struct, k) for k in FIELDS})
            os.replace(tmp, cache)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    except OSError as err:
        warnings.warn(f"Could not write the parse cache {cache} ({err}); the annotations are parsed again on "
                      f"every read until {cache.parent} is writable.", stacklevel=3)


def read_digit_struct(path, use_cache: bool = True, progress: bool = True,
                      workers: int | None = None) -> DigitStruct:
    """Parse a ``digitStruct.mat`` into a :class:`DigitStruct` (labels as in the file: 10 = digit 0).

    The result is cached in ``<path>.parsed.npz``, stamped with the cache format version and the
    sha256 of the .mat file's content; a cache that is stale, truncated or unreadable is rebuilt,
    and a folder that cannot be written gives a warning and an uncached result. ``workers`` processes
    parse chunks of 2,000 images (default: one per CPU core, at most 4; a file of at most 2,000
    images is parsed in this process), see :func:`digitlib.data.parallel.map_ranges`.

    Raises :class:`DataMissingError` when the file is not there and :class:`DigitStructError` for a
    file that cannot be read, is not HDF5, lacks ``digitStruct/bbox`` or ``name``, has a dataset of
    the wrong type or shape, or whose counts disagree; the message names the file and the image.
    """
    path = Path(path)
    if not path.exists():
        raise DataMissingError(f"{path} does not exist. Fetch the split, e.g. `python -m digitlib.data fetch svhn --split train`.")
    cache = _cache_path(path)
    if use_cache:
        digest = _content_hash(path)
        cached = _load_cache(cache, digest)
        if cached is not None:
            return cached
    start = time.perf_counter()
    result = _parse(path, progress, workers)
    if progress:
        rate = len(result) / max(time.perf_counter() - start, 1e-9)
        print(f"parsed {len(result):,} images from {shown_path(path)} ({rate:,.0f} images/s)")
    if use_cache:
        _write_cache(cache, digest, result)
    return result


# ----------------------------------------------------------------------------------------- writing

def write_digit_struct(path, struct: DigitStruct, parse_cache: bool = False) -> Path:
    """Write ``struct`` as a MATLAB v7.3 ``digitStruct.mat`` in SVHN's layout, quirk included.

    One-digit images get their fields as ``(1, 1)`` values, several-digit images as ``(k, 1)``
    reference arrays, exactly like the real files, so the same reader runs on both. Names are
    written as MATLAB text: an ``(n, 1)`` uint16 column of UTF-16 code units, so any Unicode name
    round-trips (a character outside the Basic Multilingual Plane takes two code units, a surrogate
    pair, as in MATLAB). Raises :class:`DigitStructError` for an empty name, a name with a NUL
    character or an image without digits (the reader refuses all three), before writing anything.

    ``parse_cache=True`` also writes ``<path>.parsed.npz``: what :func:`read_digit_struct` caches
    after parsing the file, stamped with the file's sha256, so the first read needs no parse (the
    synthetic generator does this; a parse of the file gives the same arrays, the tests check it).
    """
    path = Path(path)
    for i, (name, count) in enumerate(zip(struct.names, struct.counts)):
        name = str(name)
        if not name or "\x00" in name or count == 0:
            raise DigitStructError(f"image {i} ({name!r}): a name must be non-empty without NUL "
                                   "characters, and an image needs at least one digit")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    try:
        _write(tmp, struct)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    if parse_cache:
        parsed = DigitStruct(np.array([str(name) for name in struct.names], dtype=str),
                             np.asarray(struct.counts, dtype=np.int64),
                             **{k: np.array(getattr(struct, k), dtype=np.float64) for k in FIELDS})
        _write_cache(_cache_path(path), _content_hash(path), parsed)
    return path


class _Writer:
    """Creates the objects of a ``digitStruct.mat`` with h5py's low-level API.

    Half the time of h5py's high-level ``create_dataset`` and ``attrs``, whose Python work per
    object costs as much as HDF5's, for the same file: the same objects with the same creation
    properties (values with modification times, HDF5's default; text and reference columns
    without, h5py's default; contiguous storage; ``MATLAB_class`` attributes as scalar
    fixed-length byte strings), so only the values' timestamps differ from a high-level write.
    """

    def __init__(self):
        self.untimed = h5py.h5p.create(h5py.h5p.DATASET_CREATE)  # what h5py's create_dataset uses
        self.untimed.set_obj_track_times(False)
        self.one = h5py.h5s.create_simple((1, 1))
        self.scalar = h5py.h5s.create_simple(())
        self.classes = {}  # MATLAB class name -> (its HDF5 string type, the value as a 0-d array)

    def matlab_class(self, obj, matlab_class: bytes) -> None:
        """Give ``obj`` the attribute ``MATLAB_class`` (e.g. ``b"struct"``), as MATLAB does."""
        if matlab_class not in self.classes:
            value = np.array(matlab_class)  # numpy dtype S<len>
            self.classes[matlab_class] = (h5py.h5t.py_create(value.dtype, logical=True), value)
        tid, value = self.classes[matlab_class]
        attr = h5py.h5a.create(obj, b"MATLAB_class", tid, self.scalar)
        attr.write(value, mtype=tid)
        attr.close()

    def value(self, parent, name: bytes, value: np.ndarray) -> h5py.Reference:
        """A ``(1, 1)`` float64 dataset holding ``value`` (float64 ``(1, 1)``); returns its reference."""
        dsid = h5py.h5d.create(parent, name, h5py.h5t.IEEE_F64LE, self.one)
        dsid.write(_ALL, _ALL, value, mtype=_DOUBLE)
        return h5py.h5r.create(dsid, b".", h5py.h5r.OBJECT)

    def array(self, parent, name: bytes, data: np.ndarray, ftype, mtype):
        """A dataset of file type ``ftype`` holding ``data`` (any shape, memory type ``mtype``)."""
        dsid = h5py.h5d.create(parent, name, ftype, h5py.h5s.create_simple(data.shape), dcpl=self.untimed)
        dsid.write(_ALL, _ALL, data, mtype=mtype)
        return dsid


def _write(tmp: Path, struct: DigitStruct) -> None:
    """Write ``struct`` (names and counts already checked) into the new file ``tmp``."""
    n, offsets = len(struct), struct.offsets
    values = np.stack([np.asarray(getattr(struct, k), dtype=np.float64) for k in FIELDS], axis=1)
    values = values.reshape(-1, len(FIELDS), 1, 1)  # one (1, 1) array per digit and field
    name_refs = np.empty((n, 1), dtype=h5py.ref_dtype)
    bbox_refs = np.empty((n, 1), dtype=h5py.ref_dtype)
    with h5py.File(tmp, "w", userblock_size=512, libver="earliest") as f:
        w = _Writer()
        refs = h5py.h5g.create(f.id, b"#refs#")
        group = h5py.h5g.create(f.id, b"digitStruct")
        w.matlab_class(group, b"struct")
        for i in range(n):
            codes = np.frombuffer(str(struct.names[i]).encode("utf-16-le"), dtype=np.uint16).reshape(-1, 1)
            name = w.array(refs, b"n%d" % i, codes, h5py.h5t.STD_U16LE, h5py.h5t.NATIVE_UINT16)
            w.matlab_class(name, b"char")
            name_refs[i, 0] = h5py.h5r.create(name, b".", h5py.h5r.OBJECT)
            box = h5py.h5g.create(refs, b"b%d" % i)
            start, stop = offsets[i], offsets[i + 1]
            for j, (field, key) in enumerate(_FIELD_KEYS):
                if stop - start == 1:
                    w.value(box, key, values[start, j])
                else:
                    cells = np.array([[w.value(refs, b"v%d_%s_%d" % (i, key, d), values[start + d, j])]
                                      for d in range(stop - start)], dtype=h5py.ref_dtype)
                    w.array(box, key, cells, _REF, _REF_OBJECTS)
            bbox_refs[i, 0] = h5py.h5r.create(box, b".", h5py.h5r.OBJECT)
        w.matlab_class(w.array(group, b"name", name_refs, _REF, _REF_OBJECTS), b"cell")
        w.matlab_class(w.array(group, b"bbox", bbox_refs, _REF, _REF_OBJECTS), b"struct")
    header = MATLAB_HEADER.encode().ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM"
    with open(tmp, "r+b") as raw:
        raw.write(header)
