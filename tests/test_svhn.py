"""Preprocessing, the HDF5 cache and the high-level loaders, on small files in the real formats."""
import h5py
import numpy as np
import pytest
from PIL import Image

from digitlib.config import PROFILES
from digitlib.data import (BLANK, CacheVersionError, DataMissingError, DigitSequences, DigitStructError,
                           ImageFormatError)
from digitlib.data.digitstruct import DigitStruct, write_digit_struct
from digitlib.data.errors import BadAnnotationWarning
from digitlib.data.house_numbers import house_numbers
from digitlib.data.svhn import CACHE_VERSION, PreparedSplit, crop_to_digits, prepare_split, write_prepared


def _write_split(folder, records, mode="RGB", size=(60, 40)):
    folder.mkdir(parents=True, exist_ok=True)
    for r in records:
        Image.new(mode, size, color=(120,) * len(mode)).save(folder / r["name"])
    write_digit_struct(folder / "digitStruct.mat", DigitStruct.from_records(records))
    return folder


def _rec(name, labels, boxes):
    boxes = np.asarray(boxes, dtype=float)
    return {"name": name, "label": labels, "left": boxes[:, 0], "top": boxes[:, 1],
            "width": boxes[:, 2], "height": boxes[:, 3]}


def test_crop_to_digits_crops_resizes_and_scales_boxes():
    image = np.zeros((40, 100, 3), np.uint8)
    image[10:30, 20:30] = 255
    boxes = np.array([[20, 10, 30, 30], [30, 10, 47, 30]], np.float32)  # union: x 20..47, y 10..30
    crop, scaled, (w, h) = crop_to_digits(image, boxes, size=54)
    assert crop.shape == (54, 54, 3) and crop.dtype == np.uint8
    assert (w, h) == (27, 20)
    np.testing.assert_allclose(scaled[0], [0, 0, 10 * 54 / 27, 54], atol=1e-4)
    np.testing.assert_allclose(scaled[1, 2:], [54, 54], atol=1e-4)
    assert crop[:, :15].mean() > 200 and crop[:, 30:].mean() < 30  # the white digit stays on the left


def test_crop_margin_grows_the_region_and_clips_to_the_image():
    image = np.zeros((40, 100, 3), np.uint8)
    boxes = np.array([[20, 10, 30, 30]], np.float32)
    _, _, (w, h) = crop_to_digits(image, boxes, margin=0.3)
    assert (w, h) == (14, 26)  # 10x20 grown by 30%: 13x26, rounded outwards to whole pixels
    _, _, (w, h) = crop_to_digits(image, np.array([[0, 0, 100, 40]], np.float32), margin=0.3)
    assert (w, h) == (100, 40)


def test_boxes_are_clipped_and_impossible_boxes_refused():
    image = np.zeros((40, 100, 3), np.uint8)
    _, scaled, (w, h) = crop_to_digits(image, np.array([[-5, -3, 10, 20]], np.float32))
    assert (w, h) == (10, 20) and scaled.min() >= 0
    with pytest.raises(DigitStructError, match="outside the 100x40 image or has no area"):
        crop_to_digits(image, np.array([[200, 10, 220, 20]], np.float32))
    with pytest.raises(DigitStructError):
        crop_to_digits(image, np.array([[20, 10, 20, 30]], np.float32))  # zero width
    with pytest.raises(DigitStructError, match="has no area"):
        crop_to_digits(image, np.array([[30, 30, 20, 10]], np.float32))  # inverted: no area either
    with pytest.raises(ImageFormatError):
        crop_to_digits(np.zeros((40, 100), np.uint8), np.array([[1, 1, 5, 5]], np.float32))


def test_prepare_split_writes_the_cache_and_counts_dropped_images(tmp_path):
    records = [
        _rec("1.png", [1, 10], [[5, 5, 10, 20], [15, 5, 10, 20]]),       # "10": SVHN 10 -> digit 0
        _rec("2.png", [1, 2, 3, 4, 5, 6], [[i * 9, 5, 8, 20] for i in range(6)]),  # six digits: dropped
        _rec("3.png", [7], [[500, 5, 10, 20]]),                          # box outside: dropped
        _rec("4.png", [4, 2], [[-2, 5, 12, 20], [12, 5, 10, 50]]),        # clipped
    ]
    folder = _write_split(tmp_path / "train", records)
    with pytest.warns(BadAnnotationWarning, match=r"image 2 \(counting from 0\), 3.png: a box lies outside"):
        out = prepare_split(folder, tmp_path / "train_54.h5", progress=False)
    split = PreparedSplit(out)
    assert len(split) == 2
    assert split.attrs["dropped_too_long"] == 1 and split.attrs["dropped_bad_boxes"] == 1
    data = split.load()
    assert data.images.shape == (2, 54, 54, 3) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.digits[0], [1, 0, BLANK, BLANK, BLANK])
    np.testing.assert_array_equal(data.lengths, [2, 2])
    assert list(data.names) == ["1.png", "4.png"]
    assert np.all(data.boxes[:, 2:] == -1) and data.boxes[:, :2].min() >= 0 and data.boxes[:, :2].max() <= 54
    np.testing.assert_allclose(data.crop_sizes[0], [20, 20])
    batches = list(split.batches(batch_size=1))
    assert [len(b) for b in batches] == [1, 1] and batches[1].names[0] == "4.png"


def test_write_prepared_writes_what_preparedsplit_reads(tmp_path):
    rng = np.random.default_rng(0)
    boxes = np.full((3, 5, 4), -1.0, np.float32)
    boxes[:, 0] = [5, 5, 25, 50]
    data = DigitSequences(images=rng.integers(0, 255, (3, 54, 54, 3), dtype=np.uint8),
                          digits=np.array([[1, BLANK, BLANK, BLANK, BLANK]] * 3), lengths=np.ones(3, np.int64),
                          boxes=boxes, names=np.array(["a.png", "b.png", "c.png"]),
                          crop_sizes=np.array([[20, 45]] * 3, np.float32), source="random")
    split = PreparedSplit(write_prepared(tmp_path / "bench.h5", data))
    loaded = split.load()
    for key in ("images", "digits", "lengths", "boxes", "crop_sizes"):
        np.testing.assert_array_equal(getattr(loaded, key), getattr(data, key))
    assert list(loaded.names) == ["a.png", "b.png", "c.png"] and loaded.source == "random"
    assert split.attrs["annotated_images"] == 3 and split.attrs["dropped_bad_boxes"] == 0
    assert split.attrs["size"] == 54 and split.attrs["source_sha256"] == ""
    with pytest.raises(ValueError, match="boxes, names and crop sizes"):
        write_prepared(tmp_path / "no_boxes.h5", DigitSequences(images=data.images, digits=data.digits,
                                                                lengths=data.lengths))


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_grey_or_rgba_png_is_a_clear_error(tmp_path, mode):
    folder = _write_split(tmp_path / "train", [_rec("1.png", [3], [[5, 5, 10, 20]])], mode=mode)
    with pytest.raises(ImageFormatError, match=f"1.png is a '{mode}' image.*convert"):
        prepare_split(folder, tmp_path / "out.h5", progress=False)
    assert not (tmp_path / "out.h5").exists()


def test_missing_image_file_is_named(tmp_path):
    folder = _write_split(tmp_path / "train", [_rec("1.png", [3], [[5, 5, 10, 20]])])
    (folder / "1.png").unlink()
    with pytest.raises(DataMissingError, match="1.png is named in digitStruct.mat but does not exist"):
        prepare_split(folder, tmp_path / "out.h5", progress=False)


def test_corrupt_png_is_a_clear_error(tmp_path):
    folder = _write_split(tmp_path / "train", [_rec("1.png", [3], [[5, 5, 10, 20]])])
    (folder / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ImageFormatError, match="not a readable image"):
        prepare_split(folder, tmp_path / "out.h5", progress=False)


def test_old_cache_format_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "train_54.h5"
    with h5py.File(path, "w") as f:
        f.attrs["format_version"] = 1
        f.create_dataset("images", data=np.zeros((1, 54, 54, 3), np.uint8))
    with pytest.raises(CacheVersionError, match=f"format 1 but this digitlib reads format {CACHE_VERSION}.*Delete the file"):
        PreparedSplit(path)


def test_full_profile_without_svhn_names_the_fetch_command(data_dir):
    with pytest.raises(DataMissingError, match=r"python -m digitlib.data fetch svhn --split test"):
        house_numbers("test", profile=PROFILES["full"])


def test_quick_profile_generates_and_caches_synthetic_house_numbers(data_dir):
    from dataclasses import replace

    profile = replace(PROFILES["quick"], synth_images={"train": 30, "test": 12, "extra": 0})
    split = house_numbers("test", profile=profile, progress=False)
    data = split.load()
    assert len(data) == 12 and data.images.shape[1:] == (54, 54, 3)
    assert "synthetic" in data.source
    first_mtime = split.path.stat().st_mtime_ns
    again = house_numbers("test", profile=profile, progress=False)
    assert again.path == split.path and again.path.stat().st_mtime_ns == first_mtime  # cached
    train = house_numbers("train", profile=profile, progress=False).load()
    assert not np.array_equal(train.images[:12], data.images)  # train and test differ


def test_prepare_split_gives_the_same_file_with_worker_processes_and_waves(tmp_path, monkeypatch):
    from digitlib.data import svhn

    records = [_rec(f"{i}.png", [i % 9 + 1, 10], [[5, 5, 10, 20], [15 + i % 7, 5, 10, 20]]) for i in range(1, 12)]
    records[8] = _rec("9.png", [3], [[500, 5, 10, 20]])  # box outside the image: dropped, in the third wave
    folder = tmp_path / "train"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for r in records:
        Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(folder / r["name"])
    write_digit_struct(folder / "digitStruct.mat", DigitStruct.from_records(records))
    with pytest.warns(BadAnnotationWarning, match=r"image 8 \(counting from 0\), 9.png"):
        serial = PreparedSplit(prepare_split(folder, tmp_path / "serial.h5", progress=False, workers=1))
    monkeypatch.setattr(svhn, "_PREPARE_CHUNK", 2)  # ranges of 2 images,
    monkeypatch.setattr(svhn, "_PREPARE_WAVE", 4)  # 4 images per round of worker tasks
    with pytest.warns(BadAnnotationWarning, match=r"image 8 \(counting from 0\), 9.png"):
        parallel = PreparedSplit(prepare_split(folder, tmp_path / "parallel.h5", progress=False, workers=2))
    a, b = serial.load(), parallel.load()
    assert len(a) == 10 and "9.png" not in list(a.names)
    for key in ("images", "digits", "lengths", "boxes", "names", "crop_sizes"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    assert serial.attrs["dropped_bad_boxes"] == parallel.attrs["dropped_bad_boxes"] == 1
    (folder / "7.png").unlink()  # a missing image found by a worker process is the same clear error
    with pytest.raises(DataMissingError, match="7.png is named in digitStruct.mat but does not exist"):
        prepare_split(folder, tmp_path / "missing.h5", progress=False, workers=2)
    assert not list(tmp_path.glob("missing.h5*"))
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        prepare_split(folder, tmp_path / "x.h5", progress=False, workers=0)
