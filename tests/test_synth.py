"""The synthetic house-number generator: the street model, the images, the boxes, determinism."""
import numpy as np
from PIL import Image

from digitlib.data import synth
from digitlib.data.digitstruct import read_digit_struct
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
    assert set(np.unique(s.label)) <= set(range(1, 11))  # SVHN labels: 10 means the digit 0
    for i in range(12):
        assert np.array_equal(np.asarray(Image.open(a / f"{i + 1}.png")), np.asarray(Image.open(b / f"{i + 1}.png")))
    c = generate_split(tmp_path / "c", 3, seed=10, progress=False, workers=1)
    assert not np.array_equal(np.asarray(Image.open(a / "1.png")), np.asarray(Image.open(c / "1.png")))
