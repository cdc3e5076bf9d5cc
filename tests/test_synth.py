"""The synthetic house-number generator: the street model, the images, the boxes, determinism."""
import numpy as np
import pytest
from PIL import Image

from digitlib.data import synth
from digitlib.data.digitstruct import FIELDS, read_digit_struct
from digitlib.data.explore import benford_expectation, leading_digit_frequencies, length_histogram
from digitlib.data.labels import encode_number
from digitlib.data.synth import generate_split, house_number, render_house_number


def test_street_model_follows_benford_and_svhn_lengths():
    rng = np.random.default_rng(0)
    numbers = [house_number(rng) for _ in range(20_000)]
    digits = np.stack([encode_number(str(n)[:5]) for n in numbers])
    freq = leading_digit_frequencies(digits)
    assert np.abs(freq - benford_expectation()).max() < 0.03
    assert freq[0] > 0.28  # uniform leading digits would give 1/9
    lengths = length_histogram(np.array([len(str(n)) for n in numbers]))
    assert lengths[2] > lengths[3] > lengths[1] > lengths[4] > lengths[5]


def test_render_boxes_hold_each_digit():
    rng = np.random.default_rng(5)
    image, digits, boxes = render_house_number(rng, number=407)
    h, w, _ = image.shape
    assert digits == [4, 0, 7] and image.dtype == np.uint8 and boxes.shape == (3, 4)
    left, top, width, height = boxes.T
    assert np.all(left >= 0) and np.all(top >= 0) and np.all(left + width <= w) and np.all(top + height <= h)
    assert np.all(width > 2) and np.all(height > 5)
    assert np.all(np.diff(left) > 0)  # left to right


def test_images_vary_in_size_and_aspect():
    rng = np.random.default_rng(1)
    shapes = np.array([render_house_number(rng)[0].shape[:2] for _ in range(40)])
    assert len(set(map(tuple, shapes))) > 30
    ratio = shapes[:, 1] / shapes[:, 0]
    assert ratio.min() < 1.2 and ratio.max() > 2


def test_generate_split_is_deterministic_and_in_format_1(tmp_path, monkeypatch):
    a = generate_split(tmp_path / "a", 12, seed=9, progress=False, workers=1)
    monkeypatch.setattr(synth, "_CHUNK", 5)  # three ranges: drawn by two worker processes
    b = generate_split(tmp_path / "b", 12, seed=9, progress=False, workers=2)
    s = read_digit_struct(a / "digitStruct.mat", use_cache=False, progress=False)
    assert len(s) == 12 and s.names[0] == "1.png"
    cached = read_digit_struct(a / "digitStruct.mat", progress=False)  # the parse cache written with the file
    assert (a / "digitStruct.mat.parsed.npz").exists()
    assert all(np.array_equal(getattr(cached, k), getattr(s, k)) for k in ("names", "counts") + FIELDS)
    assert set(np.unique(s.label)) <= set(range(1, 11))  # SVHN labels: 10 means the digit 0
    for i in range(12):
        assert np.array_equal(np.asarray(Image.open(a / f"{i + 1}.png")), np.asarray(Image.open(b / f"{i + 1}.png")))
    c = generate_split(tmp_path / "c", 3, seed=10, progress=False, workers=1)
    assert not np.array_equal(np.asarray(Image.open(a / "1.png")), np.asarray(Image.open(c / "1.png")))


def test_png_bytes_is_a_png_that_pil_reads_back_exactly(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (7, 300, 3), dtype=np.uint8)  # rows of 901 bytes
    path = tmp_path / "x.png"
    path.write_bytes(synth.png_bytes(image))
    with Image.open(path) as img:
        assert img.format == "PNG" and img.mode == "RGB" and img.size == (300, 7)
        np.testing.assert_array_equal(np.asarray(img), image)
    for bad in (image[..., 0], image.astype(np.float32), np.zeros((4, 4, 4), np.uint8)):
        with pytest.raises(ValueError, match="RGB uint8"):
            synth.png_bytes(bad)


def test_a_glyph_placed_in_its_window_matches_transforming_the_whole_canvas():
    glyph = synth._glyph(str(synth.font_paths()[0]), 30, "8")[0]
    h, w = 60, 90
    a, b, c, d = 0.55 * np.cos(0.1), np.sin(-0.1) + 0.2, 0.55 * np.sin(0.1), np.cos(0.1)  # narrowed, rotated, sheared
    offset = (31.3, 9.7)
    ink = np.zeros((h, w), np.uint8)
    ink[0, 0] = 7  # what is there already stays (max-combined)
    extent = synth._place_glyph(ink, glyph, (a, b, c, d), offset)
    # the reference: the glyph on a whole canvas, the whole canvas transformed
    big = Image.new("L", (w, h))
    big.paste(glyph, (30, 9))
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    ox, oy = offset  # canvas -> big: inverse(matrix) @ (canvas - offset) + (30, 9)
    coeffs = (ia, ib, 30 - ia * ox - ib * oy, ic, id_, 9 - ic * ox - id_ * oy)
    whole = np.asarray(big.transform((w, h), Image.AFFINE, coeffs, resample=Image.BILINEAR))
    assert ink[0, 0] == 7
    ink[0, 0] = 0
    assert np.abs(ink.astype(int) - whole).max() <= 1  # the same up to float rounding
    ys, xs = np.nonzero(ink)
    assert extent == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert synth._place_glyph(np.zeros((h, w), np.uint8), glyph, (a, b, c, d), (500.0, 9.0)) is None  # off the canvas


def test_condensed_lettering_brings_the_crop_aspect_toward_svhn(monkeypatch):
    def mean_crop_aspect():
        ratios = []
        for i in range(300):
            _, _, boxes = render_house_number(np.random.default_rng([2, i]))
            left, top = boxes[:, 0].min(), boxes[:, 1].min()
            ratios.append(((boxes[:, 0] + boxes[:, 2]).max() - left) / ((boxes[:, 1] + boxes[:, 3]).max() - top))
        return np.mean(ratios)

    condensed = mean_crop_aspect()
    # the report's mean width-to-height ratios of SVHN's crops: 0.99 (train), 1.02 (test), 1.23 (extra)
    assert 0.95 < condensed < 1.25
    monkeypatch.setattr(synth, "CONDENSE", (1.0, 1.0))
    assert mean_crop_aspect() > condensed + 0.4  # the fonts as they are: much wider crops


#: checksum of the labels, boxes and image sizes of ``generate_split(n=8, seed=5)`` at
#: ``synth.GENERATOR_VERSION``; pixels are left out (library and CPU differences may move one level)
SPLIT_FINGERPRINT = {2: "132179fdb9074cf8"}


def test_the_generator_version_is_raised_when_its_output_changes(tmp_path):
    """The synthetic data cache is keyed by GENERATOR_VERSION: a change to what a seed draws must
    raise it, or readers keep stale images. This fails when the output changed and the version not."""
    import hashlib

    folder = generate_split(tmp_path / "g", 8, seed=5, progress=False, workers=1)
    s = read_digit_struct(folder / "digitStruct.mat", use_cache=False, progress=False)
    sizes = [Image.open(folder / name).size for name in s.names]
    payload = repr((s.counts.tolist(), [np.asarray(getattr(s, k)).round(3).tolist() for k in FIELDS], sizes))
    digest = hashlib.sha256(payload.encode()).hexdigest()[:16]
    assert SPLIT_FINGERPRINT.get(synth.GENERATOR_VERSION) == digest, (
        f"the generator's output for a seed changed (fingerprint {digest}): raise "
        f"digitlib.data.synth.GENERATOR_VERSION and record the new fingerprint here")
