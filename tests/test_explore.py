import matplotlib
import numpy as np
import pytest

from digitlib.data import DigitSequences
from digitlib.data.explore import (REPORT_ASPECT_RATIOS, benford_expectation, blank_fraction,
                                   digit_histograms, leading_digit_frequencies, length_histogram,
                                   mean_aspect_ratio)
from digitlib.plots import plot_digit_histograms, plot_length_histogram, show_house_numbers, show_sequences

matplotlib.use("Agg")
DIGITS = np.array([[1, 2, 10, 10, 10], [1, 10, 10, 10, 10], [3, 0, 7, 10, 10]])


def test_benford_is_a_distribution_with_the_known_first_value():
    b = benford_expectation()
    assert b.shape == (9,) and b.sum() == pytest.approx(1.0)
    assert b[0] == pytest.approx(0.30103, abs=1e-5)


def test_histograms_count_each_position():
    h = digit_histograms(DIGITS)
    assert h.shape == (5, 11)
    assert h[0, 1] == 2 and h[0, 3] == 1
    assert h[1, 2] == 1 and h[1, 0] == 1 and h[1, 10] == 1
    assert h[4, 10] == 3 and h.sum() == 15


def test_leading_digits_lengths_and_blanks():
    np.testing.assert_allclose(leading_digit_frequencies(DIGITS)[[0, 2]], [2 / 3, 1 / 3])
    np.testing.assert_array_equal(length_histogram(np.array([2, 1, 3])), [0, 1, 1, 1, 0, 0])
    np.testing.assert_allclose(blank_fraction(DIGITS), [0, 1 / 3, 2 / 3, 1, 1])


def test_aspect_ratio_and_the_reports_table():
    assert mean_aspect_ratio(np.array([[20, 10], [10, 10]])) == pytest.approx(1.5)
    assert REPORT_ASPECT_RATIOS == {"train": 0.99, "extra": 1.23, "test": 1.02}


def test_plots_return_figures():
    rng = np.random.default_rng(0)
    boxes = np.tile(np.array([[2, 2, 20, 40], [22, 2, 40, 40], [-1, -1, -1, -1], [-1, -1, -1, -1], [-1, -1, -1, -1]], np.float32), (3, 1, 1))
    data = DigitSequences(images=rng.integers(0, 255, (3, 54, 54, 3), dtype=np.uint8), digits=DIGITS,
                          lengths=np.array([2, 1, 3]), boxes=boxes)
    fig = show_house_numbers(data, n=3, columns=3)
    assert len(fig.axes[0].patches) == 2  # blanks are not drawn
    assert plot_digit_histograms(digit_histograms(DIGITS), benford_expectation()).axes
    assert plot_length_histogram(length_histogram(data.lengths)).axes
    grey = DigitSequences(images=np.zeros((2, 28, 140), np.uint8), digits=DIGITS[:2], lengths=np.array([2, 1]))
    assert len(show_sequences(grey, n=2).axes) == 2


def test_format1_samples_draw_the_annotated_boxes(tmp_path):
    from PIL import Image

    from digitlib.data.digitstruct import DigitStruct, write_digit_struct
    from digitlib.plots import show_format1_samples

    Image.new("RGB", (60, 40)).save(tmp_path / "1.png")
    record = {"name": "1.png", "label": [1, 10], "left": [5, 20], "top": [6, 6], "width": [10, 12], "height": [20, 25]}
    write_digit_struct(tmp_path / "digitStruct.mat", DigitStruct.from_records([record]))
    patches = show_format1_samples(tmp_path, n=1).axes[0].patches
    assert [(p.get_xy(), p.get_width(), p.get_height()) for p in patches] == [((5, 6), 10, 20), ((20, 6), 12, 25)]
