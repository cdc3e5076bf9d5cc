"""SVHN format 1: from PNGs and ``digitStruct.mat`` to 54x54 crops with digit boxes, as in the report.

Preprocessing of one image (the report's "Data Preprocessing" steps):

1. clip every digit box to the image;
2. crop to the union of the digit boxes, optionally grown by ``margin`` (Goodfellow et al. grew it
   by 30%: ``margin=0.3``), clipped to the image;
3. resize the crop to 54x54 with bicubic interpolation (PIL);
4. scale the boxes into the 54x54 frame (the box geometry is :mod:`digitlib.data.boxes`).

Pixel scaling (-0.5..0.5) happens later, in :func:`digitlib.data.scale_images`. Images with more
than five digits are dropped and counted, and so are images with impossible annotations: labels
that are not whole numbers 1-10, no digits, boxes with non-finite coordinates, no width or height,
or lying wholly outside the image (a :class:`~digitlib.data.errors.BadAnnotationWarning` names the
first). A prepared split is cached in one HDF5 file (see :func:`prepare_split`) stamped with what
it was made from; :func:`cached_prepared_split` rebuilds it when the stamp does not match and
reads it whole (:meth:`PreparedSplit.load`) or in batches (:meth:`PreparedSplit.batches`).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path, PurePosixPath

import h5py
import numpy as np
from PIL import Image

from ..config import data_home as _data_home, file_lock, folder_error, shown_path
from .boxes import box_area, boxes_in_crop, clip_boxes, ltwh_to_xyxy
from .dataset import DigitSequences
from .digitstruct import FIELDS, DigitStruct, read_digit_struct
from .download import REMOTE_FILES, fetch, safe_extract
from .errors import (BadAnnotationWarning, CacheVersionError, DataMissingError, DigitStructError,
                     ImageFormatError)
from .labels import BLANK, BLANK_BOX, MAX_DIGITS, from_svhn_label
from .parallel import map_ranges

IMAGE_SIZE = 54
_PREPARE_CHUNK = 1000  # most images per task of the worker processes: about half a second of work
_PREPARE_WAVE = 8 * _PREPARE_CHUNK  # images per round of tasks: 8,000 crops of 54x54 take 70 MB
#: format of the prepared HDF5 file; 3 added the source stamp (``source_sha256``, exact ``margin``)
CACHE_VERSION = 3
SPLITS = ("train", "test", "extra")
#: largest image read, in pixels (width x height), checked from the PNG header before decoding.
#: Real SVHN images are at most about 1,100 pixels wide; a larger one is damaged or hostile.
MAX_IMAGE_PIXELS = 4096 * 4096
#: why images are dropped; each count is stored as the attribute ``dropped_<reason>``
DROP_REASONS = {
    "too_long": "with more than 5 digits",
    "bad_labels": "with labels outside 1-10",
    "bad_boxes": "with impossible boxes",
    "no_digits": "without digits",
}


def check_split(split: str) -> str:
    """``split`` if it is one of :data:`SPLITS`, else a ``ValueError`` naming them."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    return split


def check_margin(margin) -> float:
    """``margin`` as a float if it is finite and >= 0 (0.3 grows the crop by 30%), else a ``ValueError``."""
    value = float(margin)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"margin must be a finite number >= 0 (0.3 grows the crop by 30%), got {margin!r}")
    return value


def crop_to_digits(image: np.ndarray, boxes: np.ndarray, size: int = IMAGE_SIZE, margin: float = 0.0,
                   name: str = "image"):
    """Crop an RGB ``(H, W, 3)`` uint8 image to its digits and resize it to ``size`` x ``size``.

    ``boxes``: ``(k, 4)`` xyxy pixel boxes of the digits. Returns ``(crop, boxes, crop_wh)``: the
    uint8 ``(size, size, 3)`` crop, the boxes in its frame and the crop's width and height before
    resizing. Raises :class:`DigitStructError` when a box has no area inside the image.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ImageFormatError(f"{name}: expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    clipped = clip_boxes(np.asarray(boxes, np.float32), (h, w))
    area = box_area(clipped)
    if np.any(area <= 0):
        raise DigitStructError(
            f"{name}: digit box {np.asarray(boxes)[area <= 0][0].tolist()} lies outside the {w}x{h} "
            "image or has no area; the annotation is wrong (prepare_split drops such images)."
        )
    x0, y0 = clipped[:, 0].min(), clipped[:, 1].min()
    x1, y1 = clipped[:, 2].max(), clipped[:, 3].max()
    if margin:
        dx, dy = (x1 - x0) * margin / 2, (y1 - y0) * margin / 2
        x0, y0, x1, y1 = max(0, x0 - dx), max(0, y0 - dy), min(w, x1 + dx), min(h, y1 + dy)
    left, top = int(np.floor(x0)), int(np.floor(y0))
    right, bottom = max(int(np.ceil(x1)), left + 1), max(int(np.ceil(y1)), top + 1)
    crop = Image.fromarray(image[top:bottom, left:right]).resize((size, size), Image.BICUBIC)
    return np.asarray(crop), boxes_in_crop(clipped, (left, top, right, bottom), size), (right - left, bottom - top)


def read_png(path: Path) -> np.ndarray:
    """Read an RGB PNG as uint8 ``(H, W, 3)``.

    Grey, RGBA or unreadable files and images over :data:`MAX_IMAGE_PIXELS` (checked from the
    header, before any pixel is decoded) raise :class:`ImageFormatError`.
    """
    if not path.exists():
        raise DataMissingError(
            f"{path} is named in digitStruct.mat but does not exist. The split is incomplete: delete "
            f"{path.parent} and extract (or generate) it again."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise ImageFormatError(_too_large(
                        path, f"declares an image of {width}x{height} pixels, over the limit of "
                              f"{MAX_IMAGE_PIXELS:,} (digitlib.data.svhn.MAX_IMAGE_PIXELS)"))
                img.load()
                mode = img.mode
                array = np.asarray(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageFormatError(_too_large(path, f"is refused by PIL as too large ({err})")) from err
    except OSError as err:
        raise ImageFormatError(f"{path} is not a readable image ({err}); extract the split again.") from err
    if mode != "RGB":
        raise ImageFormatError(
            f"{path} is a {mode!r} image; SVHN images are RGB. Convert it first, e.g. "
            f"`Image.open(p).convert('RGB').save(p)`, or re-extract the split."
        )
    return array


def _too_large(path: Path, problem: str) -> str:
    return (f"{path} {problem}; SVHN images are at most about 1,100 pixels wide. The file is damaged "
            "or not an SVHN image: extract (or generate) the split again.")


def _check_name(name: str, index: int, mat: Path) -> None:
    """Refuse a PNG name that is not a plain relative path inside the split folder."""
    path = PurePosixPath(name)
    if not path.parts or "\\" in name or "\x00" in name or path.is_absolute() or ".." in path.parts:
        raise DigitStructError(
            f"{mat}: image {index} is named {name!r}, which is not a file inside the split folder "
            f"{mat.parent}; the file is damaged or not SVHN's. Delete the split's folder and "
            "download (or generate) it again."
        )


def _annotation_problem(record: dict) -> tuple[str, str] | None:
    """``(reason, description)`` when one image's annotation cannot be used (see
    :data:`DROP_REASONS`), else None. Boxes lying outside the image are found later, by
    :func:`crop_to_digits`."""
    labels = record["label"]
    if len(labels) == 0:
        return "no_digits", "it has no digits"
    if len(labels) > MAX_DIGITS:
        return "too_long", f"it has {len(labels)} digits"
    if not np.all(np.isfinite(labels) & (labels == np.round(labels)) & (labels >= 1) & (labels <= 10)):
        return "bad_labels", f"its labels are {labels.tolist()}; SVHN's are whole numbers 1-10 (10 = digit 0)"
    coords = np.stack([record[k] for k in ("left", "top", "width", "height")], axis=1)
    if not np.all(np.isfinite(coords)):
        return "bad_boxes", f"a box has a non-finite coordinate: (left, top, width, height) = {coords.tolist()}"
    if np.any(coords[:, 2:] <= 0):
        return "bad_boxes", f"a box has no width or height: (left, top, width, height) = {coords.tolist()}"
    return None


def source_stamp(mat: Path, margin: float = 0.0, size: int = IMAGE_SIZE) -> dict:
    """What a prepared file is made from, stored in its attributes: ``format_version``
    (:data:`CACHE_VERSION`), ``source_sha256`` (the SHA-256 of ``digitStruct.mat``), ``margin`` and
    ``size``."""
    import pooch

    try:
        digest = pooch.file_hash(str(mat))
    except FileNotFoundError as err:
        raise DataMissingError(f"{mat} does not exist. Fetch the split, e.g. `python -m digitlib.data "
                               "fetch svhn --split train`, or generate it.") from err
    except OSError as err:
        raise DigitStructError(f"{mat} cannot be read ({type(err).__name__}: {err}); check its permissions "
                               "or download the split again.") from err
    return _stamp(digest, margin, size)


def _stamp(source_sha256: str, margin: float, size: int) -> dict:
    """The stamp attributes of a prepared file (see :func:`source_stamp`)."""
    return {"format_version": CACHE_VERSION, "source_sha256": source_sha256, "margin": float(margin), "size": int(size)}


def stale_reason(path: Path, stamp: dict) -> str | None:
    """Why the prepared file ``path`` does not match ``stamp`` (see :func:`source_stamp`), or None
    when it does."""
    if not path.exists():
        return "it does not exist"
    try:
        with h5py.File(path, "r") as f:
            found = {key: f.attrs.get(key) for key in stamp}
    except OSError as err:
        return f"it is not a readable HDF5 file ({err})"
    if found["format_version"] != stamp["format_version"]:
        return f"it was written in cache format {found['format_version']}, this digitlib writes {CACHE_VERSION}"
    if found["source_sha256"] != stamp["source_sha256"]:
        return "its digitStruct.mat has changed since it was prepared"
    if found["margin"] != stamp["margin"] or found["size"] != stamp["size"]:
        return (f"it was prepared with margin {found['margin']} and size {found['size']}, "
                f"not {stamp['margin']} and {stamp['size']}")
    return None


def _create_datasets(f: h5py.File, size: int, n: int) -> dict:
    """The empty, growable datasets of a prepared file (see :func:`prepare_split`) for about ``n``
    samples of ``size`` x ``size``, created in the open file ``f``."""
    sample = {"images": ((size, size, 3), np.uint8), "digits": ((MAX_DIGITS,), np.int64), "lengths": ((), np.int64),
              "boxes": ((MAX_DIGITS, 4), np.float32), "names": ((), h5py.string_dtype()),
              "crop_sizes": ((2,), np.float32)}
    return {key: f.create_dataset(key, (0, *shape), dtype, maxshape=(None, *shape),
                                  chunks=(min(256, max(n, 1)), *shape) if key == "images" else None)
            for key, (shape, dtype) in sample.items()}


def _append_samples(datasets: dict, data: DigitSequences) -> None:
    """Append ``data`` (with boxes, names and crop sizes) to the datasets of :func:`_create_datasets`."""
    count = len(data)
    for key, d in datasets.items():
        d.resize(d.shape[0] + count, axis=0)
        d[-count:] = np.asarray(getattr(data, key), dtype=object if key == "names" else d.dtype)


def write_prepared(path, data: DigitSequences, source_label: str = "") -> Path:
    """Write house numbers held in memory as a prepared file in the layout of :func:`prepare_split`,
    e.g. for tests and benchmarks; :class:`PreparedSplit` reads it.

    ``data``: square RGB crops ``(N, size, size, 3)`` with ``boxes``, ``names`` and ``crop_sizes``
    (``ValueError`` otherwise). The stamp has ``margin`` 0 and an empty ``source_sha256``, which no
    ``digitStruct.mat`` matches, so :func:`cached_prepared_split` never takes the file for a
    split's; ``annotated_images`` is ``N`` and nothing is counted as dropped.
    """
    path, size = Path(path), data.images.shape[1]
    if data.images.shape[1:] != (size, size, 3) or any(
            getattr(data, key) is None for key in ("boxes", "names", "crop_sizes")):
        raise ValueError(f"write_prepared needs square RGB crops with boxes, names and crop sizes, got {data!r}")
    with h5py.File(path, "w") as f:
        f.attrs.update(_stamp("", 0.0, size), source="", source_label=source_label or data.source,
                       annotated_images=len(data), **{f"dropped_{reason}": 0 for reason in DROP_REASONS})
        _append_samples(_create_datasets(f, size, len(data)), data)
    return path


def _images(struct: DigitStruct, start: int, stop: int) -> DigitStruct:
    """The images ``start:stop`` of ``struct``."""
    first, last = struct.offsets[start], struct.offsets[stop]
    return DigitStruct(struct.names[start:stop], struct.counts[start:stop],
                       **{field: getattr(struct, field)[first:last] for field in FIELDS})


def _prepare_range(folder: str, struct: DigitStruct, size: int, margin: float, start: int, stop: int) -> list:
    """Prepare the images ``start:stop`` of ``struct`` (their PNGs in ``folder``): the work of one
    worker process in :func:`prepare_split`.

    One outcome per image, in order: ``(None, sample)``, ``sample`` being the image's ``(crop,
    digits, length, boxes, name, crop_size)`` as stored (see :func:`prepare_split`), or
    ``((reason, description), None)`` for an image that is dropped (reasons: :data:`DROP_REASONS`).
    A missing or unreadable PNG raises (:func:`read_png`).
    """
    outcomes = []
    for i in range(start, stop):
        record = struct[i]
        path = Path(folder) / record["name"]
        problem = _annotation_problem(record)
        if problem is None:
            image = read_png(path)
            boxes = ltwh_to_xyxy(record["left"], record["top"], record["width"], record["height"])
            try:
                crop, crop_boxes, crop_wh = crop_to_digits(image, boxes, size, margin, name=str(path))
            except DigitStructError:
                problem = "bad_boxes", (f"a box lies outside the {image.shape[1]}x{image.shape[0]} image "
                                        f"or has no area inside it: (x_min, y_min, x_max, y_max) = {boxes.tolist()}")
        if problem is not None:
            outcomes.append((problem, None))
            continue
        digits = from_svhn_label(record["label"])
        label = np.full(MAX_DIGITS, BLANK, np.int64)
        label[: len(digits)] = digits
        all_boxes = np.tile(BLANK_BOX, (MAX_DIGITS, 1))
        all_boxes[: len(digits)] = crop_boxes
        outcomes.append((None, (crop, label, len(digits), all_boxes, record["name"], crop_wh)))
    return outcomes


def prepare_split(folder, out_path, margin: float = 0.0, size: int = IMAGE_SIZE, progress: bool = True,
                  batch: int = 1024, source_label: str | None = None, workers: int | None = None) -> Path:
    """Preprocess a format-1 split folder (PNGs + ``digitStruct.mat``) into one HDF5 cache file.

    The file holds ``images`` uint8 ``(N, size, size, 3)`` (chunked, so it can be read in batches),
    ``digits`` int64 ``(N, 5)`` (blank = 10, SVHN's 10 mapped to 0), ``lengths`` int64 ``(N,)``,
    ``boxes`` float32 ``(N, 5, 4)`` xyxy in the 54x54 frame (blanks -1), ``names`` (the PNG names)
    and ``crop_sizes`` float32 ``(N, 2)`` (width, height of the crop before resizing). Attributes:
    the stamp of :func:`source_stamp`, ``source`` (the folder), ``source_label``,
    ``annotated_images`` and ``dropped_<reason>`` for each of :data:`DROP_REASONS`.

    Images with impossible annotations are dropped and counted (a :class:`BadAnnotationWarning`
    names the first); a name that points outside ``folder`` raises :class:`DigitStructError`, and
    so does a file that leaves no usable image. Written to a uniquely named temporary file that is
    renamed into place at the end and removed on any failure, so an interrupted or failed run never
    leaves a half-written cache or a stray file. Not locked: use :func:`cached_prepared_split` when
    several processes may prepare the same file.

    The PNGs are read, cropped and resized by ``workers`` processes (default: one per CPU core, at
    most 4; see :func:`digitlib.data.parallel.map_ranges`) in ranges of up to 1,000 images, 8,000
    images at a time, so memory stays bounded even for the ``extra`` split; a split of at most
    1,000 images is prepared in this process. The file is the same for any ``workers``.
    """
    from tqdm.auto import tqdm

    folder, out_path = Path(folder), Path(out_path)
    margin = check_margin(margin)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1):
        raise ValueError(f"prepare_split: workers must be a positive integer or None, got {workers!r}")
    mat = folder / "digitStruct.mat"
    stamp = source_stamp(mat, margin, size)  # before parsing: a file changed meanwhile is found stale next time
    struct = read_digit_struct(mat, progress=progress)
    n = len(struct)
    for i, name in enumerate(struct.names):
        _check_name(str(name), i, mat)
    dropped = dict.fromkeys(DROP_REASONS, 0)
    first_bad = None  # (index, name, description) of the first image dropped for a bad annotation
    tmp = out_path.with_name(f"{out_path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        try:
            f = h5py.File(tmp, "w")
        except OSError as err:
            raise folder_error(out_path.parent, f"is not writable ({err}), so {out_path.name} cannot be prepared") from err
        with f:
            f.attrs.update(stamp, source=str(folder), source_label=source_label or f"SVHN format 1 ({folder.name})")
            ds = _create_datasets(f, size, n)
            buffers = {k: [] for k in ds}

            def flush():
                if buffers["images"]:
                    _append_samples(ds, DigitSequences(**{key: np.array(values) for key, values in buffers.items()}))
                    for values in buffers.values():
                        values.clear()

            with tqdm(total=n, desc=f"preparing {folder.name}", unit="img", disable=not progress,
                      mininterval=1.0) as bar:
                for wave in range(0, n, _PREPARE_WAVE):  # a wave at a time: memory stays bounded
                    images = _images(struct, wave, min(wave + _PREPARE_WAVE, n))
                    ranges = map_ranges(_prepare_range, (str(folder), images, size, margin), len(images),
                                        _PREPARE_CHUNK, workers, progress=False)
                    for i, (problem, sample) in enumerate((o for outcomes in ranges for o in outcomes), start=wave):
                        if problem is not None:
                            dropped[problem[0]] += 1
                            if problem[0] != "too_long" and first_bad is None:
                                first_bad = (i, str(struct.names[i]), problem[1])
                            continue
                        for key, value in zip(ds, sample):
                            buffers[key].append(value)
                        if len(buffers["images"]) >= batch:
                            flush()
                    bar.update(len(images))
            flush()
            kept = len(ds["images"])
            f.attrs.update({f"dropped_{reason}": count for reason, count in dropped.items()},
                           annotated_images=n)
        counts = ", ".join(f"{count} {DROP_REASONS[reason]}" for reason, count in dropped.items())
        bad = {reason: count for reason, count in dropped.items() if count and reason != "too_long"}
        first = (f"the first is image {first_bad[0]} (counting from 0), {first_bad[1]}: {first_bad[2]}"
                 if first_bad else "")
        if kept == 0:
            raise DigitStructError(
                f"{mat}: none of its {n} images can be used (dropped: {counts}){'; ' + first if first else ''}. "
                "The file is damaged or not SVHN's: delete the split's folder and download (or generate) it again."
            )
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    if bad:
        warnings.warn(
            f"{mat}: dropped {sum(bad.values())} of {n} images with impossible annotations "
            f"({', '.join(f'{count} {DROP_REASONS[reason]}' for reason, count in bad.items())}); {first}. "
            f"The counts are stored in the dropped_* attributes of {out_path}.",
            BadAnnotationWarning, stacklevel=2)
    if progress:
        print(f"prepared {kept:,} of {n:,} images into {shown_path(out_path)} (dropped: {counts})")
    return out_path


class PreparedSplit:
    """A prepared HDF5 split, read lazily. A sample source like :class:`DigitSequences`:
    ``len()``, ``read(indices)``, ``source``; also ``batches()`` and ``load()``.

    Reading in batches keeps memory small, so even SVHN's ``extra`` split (202,353 images, 1.8 GB
    of 54x54 crops) can be streamed on a 2 GB Binder machine. Reading scattered samples is slow
    (each touches a whole HDF5 chunk), so ``random_access`` is False: feeders shuffle it in blocks
    of consecutive samples.
    """

    random_access = False

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.exists():
            raise DataMissingError(f"{self.path} does not exist; prepare it with prepare_split().")
        try:
            with h5py.File(self.path, "r") as f:
                version = int(f.attrs.get("format_version", 0))
                self.attrs = dict(f.attrs)
                self._n = len(f["images"])
        except OSError as err:
            raise CacheVersionError(
                f"{self.path} is not a readable cache ({err}); delete it and it is rebuilt on next use."
            ) from err
        if version != CACHE_VERSION:
            raise CacheVersionError(
                f"{self.path} was written in cache format {version} but this digitlib reads format "
                f"{CACHE_VERSION}. Delete the file; it is rebuilt from the images on next use "
                "(or run `python -m digitlib.data prepare ...` for the split)."
            )

    def __len__(self) -> int:
        return self._n

    @property
    def source(self) -> str:
        """Where the samples came from, e.g. ``"SVHN format 1 (train)"``."""
        return str(self.attrs.get("source_label", self.attrs.get("source", "")))

    @property
    def nbytes(self) -> int:
        """Bytes the images take in memory once loaded."""
        size = int(self.attrs.get("size", IMAGE_SIZE))
        return self._n * size * size * 3

    def read(self, index) -> DigitSequences:
        """The samples at ``index`` (a slice or a sorted index array) as :class:`DigitSequences`."""
        with h5py.File(self.path, "r") as f:
            return DigitSequences(
                images=f["images"][index], digits=f["digits"][index], lengths=f["lengths"][index],
                boxes=f["boxes"][index], names=f["names"].asstr()[index], crop_sizes=f["crop_sizes"][index],
                source=self.source,
                meta={k: v for k, v in self.attrs.items()
                      if k.startswith("dropped_") or k in ("annotated_images", "margin")},
            )

    def batches(self, batch_size: int = 1024):
        """Yield consecutive :class:`DigitSequences` of at most ``batch_size`` samples."""
        for start in range(0, len(self), batch_size):
            yield self.read(slice(start, min(start + batch_size, len(self))))

    def load(self) -> DigitSequences:
        """The whole split in memory."""
        return self.read(slice(None))


def cached_prepared_split(folder, out, margin: float = 0.0, progress: bool = True, source_label: str | None = None,
                          generate=None, lock_path=None, rebuild: bool = False) -> PreparedSplit:
    """The prepared split ``out`` of the format-1 ``folder``, prepared again when missing or stale.

    ``out`` is valid when its stamp (:func:`source_stamp`: cache format, SHA-256 of
    ``folder/digitStruct.mat``, margin, size) matches; a valid file is opened without writing
    anything, so a read-only folder works. Otherwise, holding a file lock (``lock_path``, default
    ``<out>.lock``), ``generate()`` is called when ``folder`` has no ``digitStruct.mat`` yet
    (synthetic splits) and :func:`prepare_split` rebuilds ``out``, with a one-line message when an
    old file is replaced. A second process asking for the same split waits for the lock and then
    reuses the file the first one wrote. ``rebuild=True`` prepares it again in any case.
    """
    folder, out, margin = Path(folder), Path(out), check_margin(margin)
    mat = folder / "digitStruct.mat"
    reason = "a rebuild was asked for" if rebuild else (
        stale_reason(out, source_stamp(mat, margin)) if mat.exists() else "its split is not there yet")
    if reason is None:
        return PreparedSplit(out)
    purpose = f"to prepare {out}" + (f" ({reason})" if out.exists() else "")
    with file_lock(Path(lock_path or out.with_name(out.name + ".lock")), purpose, progress):
        for leftover in out.parent.glob(f"{out.name}.*.tmp"):  # of a killed process; ours are unique
            leftover.unlink(missing_ok=True)
        if not mat.exists():
            if generate is None:
                raise DataMissingError(f"{mat} does not exist, so {out} cannot be prepared.")
            generate()
        if not rebuild:  # another process may have prepared it while this one waited
            reason = stale_reason(out, source_stamp(mat, margin))
        if reason is not None:
            if out.exists() and progress:
                print(f"{out}: {reason}; preparing it again", flush=True)
            prepare_split(folder, out, margin, progress=progress, source_label=source_label)
    return PreparedSplit(out)


def svhn_folder(split: str, data_home=None) -> Path:
    """The folder of SVHN's format-1 ``split`` (PNGs and ``digitStruct.mat``) in the data home."""
    return _data_home(data_home) / "svhn" / check_split(split)


def fetch_svhn(split: str, data_home=None, progress: bool = True) -> Path:
    """Download (checksum-verified) and safely extract an SVHN format-1 split; returns its folder.

    The split folder appears only when complete: the archive is extracted into a temporary folder
    beside it and renamed into place at the end (the temporary folder is removed on any failure),
    so a folder holding ``digitStruct.mat`` is a finished split. Two processes fetching the same
    split take turns (a file lock); the second finds the split ready.
    """
    remote = REMOTE_FILES[f"svhn-{check_split(split)}"]
    folder = svhn_folder(split, data_home)
    root = folder.parent
    if (folder / "digitStruct.mat").exists():
        return folder
    with file_lock(root / f"{split}.lock", f"to download and extract SVHN's {split} split into {folder}", progress):
        if (folder / "digitStruct.mat").exists():
            return folder
        for leftover in root.glob(f".{split}.*.extracting"):  # of a killed process
            shutil.rmtree(leftover, ignore_errors=True)
        archive = fetch(remote, root, progressbar=progress)
        staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{split}.", suffix=".extracting"))
        try:
            safe_extract(archive, staging, retry_command=remote.command)
            if not (staging / split / "digitStruct.mat").is_file():
                raise DigitStructError(
                    f"{archive} did not contain {split}/digitStruct.mat; delete it and run `{remote.command}`."
                )
            if folder.exists():  # left by an interrupted extraction of an older digitlib: incomplete
                if progress:
                    print(f"replacing {folder}, an incomplete split without digitStruct.mat", flush=True)
                shutil.rmtree(folder)
            os.replace(staging / split, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def svhn_split(split: str, margin: float = 0.0, data_home=None, progress: bool = True,
               rebuild: bool = False) -> PreparedSplit:
    """The real SVHN split, prepared (54x54) and cached. Needs the extracted data (no download here).

    The cache ``svhn/<split>_54[_m<margin>].h5`` is checked against its source
    (:func:`cached_prepared_split`) and prepared again when stale. Raises :class:`DataMissingError`
    naming the fetch command when the split is not there, ``ValueError`` for an unknown split or a
    negative margin.
    """
    folder = svhn_folder(split, data_home)
    margin = check_margin(margin)
    if not (folder / "digitStruct.mat").exists():
        remote = REMOTE_FILES[f"svhn-{split}"]
        raise DataMissingError(
            f"SVHN's {split} split is not in {folder}. Fetch it with `{remote.command}` "
            f"({remote.size_mb:.0f} MB download), or use the offline profile DIGITLIB_PROFILE=quick."
        )
    return cached_prepared_split(folder, folder.parent / cache_name(split, margin), margin, progress,
                                 source_label=f"SVHN format 1 ({split})", rebuild=rebuild)


def cache_name(split: str, margin: float = 0.0, size: int = IMAGE_SIZE) -> str:
    """File name of a prepared split: ``train_54.h5`` for margin 0, else the exact margin, e.g.
    ``train_54_m0.304.h5`` (``repr`` of the float, so different margins never share a file)."""
    margin = check_margin(margin)
    return f"{split}_{size}" + (f"_m{margin!r}" if margin else "") + ".h5"
