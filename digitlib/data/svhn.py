"""SVHN format 1: from PNGs and ``digitStruct.mat`` to 54x54 crops with digit boxes, as in the report.

Preprocessing of one image (the report's "Data Preprocessing" steps):

1. clip every digit box to the image;
2. crop to the union of the digit boxes, optionally grown by ``margin`` (Goodfellow et al. grew it
   by 30%: ``margin=0.3``), clipped to the image;
3. resize the crop to 54x54 with bicubic interpolation (PIL);
4. scale the boxes into the 54x54 frame.

Pixel scaling (-0.5..0.5) happens later, in :func:`digitlib.data.scale_images`. Images with more
than five digits are dropped and counted; so are images whose boxes lie wholly outside the image
or have no area. A prepared split is cached in one HDF5 file (see :func:`prepare_split`) that can
be read whole (:func:`load_prepared`) or in batches (:class:`PreparedSplit`).
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from ..config import data_home as _data_home
from .dataset import DigitSequences
from .digitstruct import DigitStruct, read_digit_struct
from .download import REMOTE_FILES, fetch, safe_extract
from .errors import CacheVersionError, DataMissingError, DigitStructError, ImageFormatError
from .labels import BLANK, BLANK_BOX, MAX_DIGITS, from_svhn_label

IMAGE_SIZE = 54
CACHE_VERSION = 2
SPLITS = ("train", "test", "extra")


def boxes_to_xyxy(left, top, width, height) -> np.ndarray:
    """SVHN's ``left, top, width, height`` -> ``(k, 4)`` float32 ``(x_min, y_min, x_max, y_max)``."""
    left, top = np.asarray(left, np.float32), np.asarray(top, np.float32)
    return np.stack([left, top, left + np.asarray(width, np.float32), top + np.asarray(height, np.float32)], axis=1)


def clip_boxes(boxes: np.ndarray, image_size) -> np.ndarray:
    """Clip ``(k, 4)`` xyxy boxes to an image of ``(height, width)``."""
    h, w = image_size
    return np.clip(boxes, 0, np.array([w, h, w, h], dtype=np.float32)).astype(np.float32)


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
    clipped = clip_boxes(boxes, (h, w))
    area = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
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
    sx, sy = size / (right - left), size / (bottom - top)
    scaled = (clipped - np.array([left, top, left, top], np.float32)) * np.array([sx, sy, sx, sy], np.float32)
    return np.asarray(crop), scaled.astype(np.float32), (right - left, bottom - top)


def read_png(path: Path) -> np.ndarray:
    """Read an RGB PNG as uint8 ``(H, W, 3)``; grey, RGBA or unreadable files raise :class:`ImageFormatError`."""
    if not path.exists():
        raise DataMissingError(
            f"{path} is named in digitStruct.mat but does not exist. The split is incomplete: delete "
            f"{path.parent} and extract (or generate) it again."
        )
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            array = np.asarray(img)
    except OSError as err:
        raise ImageFormatError(f"{path} is not a readable image ({err}); extract the split again.") from err
    if mode != "RGB":
        raise ImageFormatError(
            f"{path} is a {mode!r} image; SVHN images are RGB. Convert it first, e.g. "
            f"`Image.open(p).convert('RGB').save(p)`, or re-extract the split."
        )
    return array


def _labels_and_boxes(record: dict):
    digits = from_svhn_label(record["label"])
    boxes = boxes_to_xyxy(record["left"], record["top"], record["width"], record["height"])
    return digits, boxes


def prepare_split(folder, out_path, margin: float = 0.0, size: int = IMAGE_SIZE, progress: bool = True,
                  batch: int = 1024, source_label: str | None = None) -> Path:
    """Preprocess a format-1 split folder (PNGs + ``digitStruct.mat``) into one HDF5 cache file.

    The file holds ``images`` uint8 ``(N, size, size, 3)`` (chunked, so it can be read in batches),
    ``digits`` int64 ``(N, 5)`` (blank = 10, SVHN's 10 mapped to 0), ``lengths`` int64 ``(N,)``,
    ``boxes`` float32 ``(N, 5, 4)`` xyxy in the 54x54 frame (blanks -1), ``names`` (the PNG names)
    and ``crop_sizes`` float32 ``(N, 2)`` (width, height of the crop before resizing). Attributes
    count the images dropped for having more than 5 digits or impossible boxes. Written to a
    temporary file first, so an interrupted run never leaves a half-written cache.
    """
    from tqdm.auto import tqdm

    folder, out_path = Path(folder), Path(out_path)
    struct = read_digit_struct(folder / "digitStruct.mat", progress=progress)
    tmp = out_path.with_name(out_path.name + ".tmp")
    dropped = {"too_long": 0, "bad_boxes": 0}
    n = len(struct)
    str_dtype = h5py.string_dtype()
    with h5py.File(tmp, "w") as f:
        f.attrs.update(format_version=CACHE_VERSION, margin=margin, size=size, source=str(folder),
                       source_label=source_label or f"SVHN format 1 ({folder.name})")
        ds = {
            "images": f.create_dataset("images", (0, size, size, 3), np.uint8, maxshape=(None, size, size, 3),
                                       chunks=(min(256, max(n, 1)), size, size, 3)),
            "digits": f.create_dataset("digits", (0, MAX_DIGITS), np.int64, maxshape=(None, MAX_DIGITS)),
            "lengths": f.create_dataset("lengths", (0,), np.int64, maxshape=(None,)),
            "boxes": f.create_dataset("boxes", (0, MAX_DIGITS, 4), np.float32, maxshape=(None, MAX_DIGITS, 4)),
            "names": f.create_dataset("names", (0,), str_dtype, maxshape=(None,)),
            "crop_sizes": f.create_dataset("crop_sizes", (0, 2), np.float32, maxshape=(None, 2)),
        }
        buffers = {k: [] for k in ds}

        def flush():
            if not buffers["images"]:
                return
            count = len(buffers["images"])
            for key, d in ds.items():
                d.resize(d.shape[0] + count, axis=0)
                d[-count:] = np.array(buffers[key], dtype=object if key == "names" else d.dtype)
                buffers[key].clear()

        for i in tqdm(range(n), desc=f"preparing {folder.name}", unit="img", disable=not progress,
                      mininterval=1.0):
            record = struct[i]
            digits, boxes = _labels_and_boxes(record)
            if len(digits) > MAX_DIGITS:
                dropped["too_long"] += 1
                continue
            image = read_png(folder / record["name"])
            try:
                crop, crop_boxes, crop_wh = crop_to_digits(image, boxes, size, margin, name=str(folder / record["name"]))
            except DigitStructError:
                dropped["bad_boxes"] += 1
                continue
            label = np.full(MAX_DIGITS, BLANK, np.int64)
            label[: len(digits)] = digits
            all_boxes = np.tile(BLANK_BOX, (MAX_DIGITS, 1))
            all_boxes[: len(digits)] = crop_boxes
            for key, value in zip(ds, (crop, label, len(digits), all_boxes, record["name"], crop_wh)):
                buffers[key].append(value)
            if len(buffers["images"]) >= batch:
                flush()
        flush()
        f.attrs.update(dropped_too_long=dropped["too_long"], dropped_bad_boxes=dropped["bad_boxes"],
                       annotated_images=n)
    tmp.replace(out_path)
    if progress:
        print(f"prepared {n - sum(dropped.values()):,} of {n:,} images into {out_path} "
              f"(dropped: {dropped['too_long']} with more than 5 digits, {dropped['bad_boxes']} with impossible boxes)")
    return out_path


class PreparedSplit:
    """A prepared HDF5 split, read lazily: ``len()``, ``batches()`` and ``load()``.

    Reading in batches keeps memory small, so even SVHN's ``extra`` split (202,353 images, 1.8 GB
    of 54x54 crops) can be streamed on a 2 GB Binder machine.
    """

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

    def read(self, index) -> DigitSequences:
        """The samples at ``index`` (a slice or a sorted index array) as :class:`DigitSequences`."""
        with h5py.File(self.path, "r") as f:
            return DigitSequences(
                images=f["images"][index], digits=f["digits"][index], lengths=f["lengths"][index],
                boxes=f["boxes"][index], names=f["names"].asstr()[index], crop_sizes=f["crop_sizes"][index],
                source=str(self.attrs.get("source_label", self.attrs.get("source", ""))),
                meta={k: self.attrs[k] for k in ("dropped_too_long", "dropped_bad_boxes", "annotated_images", "margin")},
            )

    def batches(self, batch_size: int = 1024):
        """Yield consecutive :class:`DigitSequences` of at most ``batch_size`` samples."""
        for start in range(0, len(self), batch_size):
            yield self.read(slice(start, min(start + batch_size, len(self))))

    def load(self) -> DigitSequences:
        """The whole split in memory."""
        return self.read(slice(None))


def svhn_folder(split: str, data_home=None) -> Path:
    return _data_home(data_home) / "svhn" / split


def fetch_svhn(split: str, data_home=None, progress: bool = True) -> Path:
    """Download (checksum-verified) and safely extract an SVHN format-1 split; returns its folder."""
    if split not in SPLITS:
        raise ValueError(f"unknown SVHN split {split!r}; choose one of {SPLITS}")
    remote = REMOTE_FILES[f"svhn-{split}"]
    root = _data_home(data_home) / "svhn"
    folder = root / split
    if (folder / "digitStruct.mat").exists():
        return folder
    archive = fetch(remote, root, progressbar=progress)
    safe_extract(archive, root, retry_command=remote.command)
    if not (folder / "digitStruct.mat").exists():
        raise DigitStructError(f"{archive} did not contain {split}/digitStruct.mat; delete it and run `{remote.command}`.")
    return folder


def svhn_split(split: str, margin: float = 0.0, data_home=None, progress: bool = True) -> PreparedSplit:
    """The real SVHN split, prepared (54x54) and cached. Needs the extracted data (no download here).

    Raises :class:`DataMissingError` naming the fetch command when the split is not there.
    """
    folder = svhn_folder(split, data_home)
    if not (folder / "digitStruct.mat").exists():
        remote = REMOTE_FILES[f"svhn-{split}"]
        raise DataMissingError(
            f"SVHN's {split} split is not in {folder}. Fetch it with `{remote.command}` "
            f"({remote.size_mb:.0f} MB download), or use the offline profile DIGITLIB_PROFILE=quick."
        )
    out = folder.parent / cache_name(split, margin)
    if not out.exists():
        prepare_split(folder, out, margin=margin, progress=progress, source_label=f"SVHN format 1 ({split})")
    return PreparedSplit(out)


def cache_name(split: str, margin: float = 0.0, size: int = IMAGE_SIZE) -> str:
    suffix = f"_m{int(round(margin * 100))}" if margin else ""
    return f"{split}_{size}{suffix}.h5"
