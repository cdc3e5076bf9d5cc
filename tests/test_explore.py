import matplotlib
import numpy as np
import pytest

from digitlib.data import DigitSequences
from digitlib.data.explore import (NOT_PUBLISHED, REPORT_ASPECT_RATIOS, STATISTICS, benford_expectation,
                                   blank_fraction, digit_histograms, house_number_statistics,
                                   leading_digit_frequencies, length_histogram, mean_aspect_ratio,
                                   statistics_table)
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


def _tiny_split(**meta):
    """Four 54x54 crops with known statistics: lengths 1, 2, 2, 3; crop aspect ratios 1, 2, 3, 0.5;
    luminance black (contrast 0), half black half white (0.5), flat grey (0), a quarter white
    (sqrt(0.25 * 0.75))."""
    images = np.zeros((4, 54, 54, 3), np.uint8)
    images[1, :27] = 255
    images[2] = 128
    images[3, :, :27][:27] = 255  # the top-left quarter
    digits = np.full((4, 5), 10)
    for i, k in enumerate([1, 2, 2, 3]):
        digits[i, :k] = 7
    return DigitSequences(images=images, digits=digits, lengths=np.array([1, 2, 2, 3]),
                          crop_sizes=np.array([[10, 10], [20, 10], [30, 10], [5, 10]], np.float32),
                          source="tiny", meta=meta)


def test_house_number_statistics_of_a_tiny_split_with_known_answers():
    stats = house_number_statistics(_tiny_split(dropped_too_long=2, dropped_bad_boxes=1, margin=0.0), block=3)
    assert list(stats.columns) == ["tiny"] and tuple(stats.index) == STATISTICS
    s = stats["tiny"]
    assert (s["images"], s["digits"], s["images dropped in preparation"]) == (4, 8, 3)
    assert s["mean digits per image"] == pytest.approx(2.0)
    assert [s[f"{k} digit{'s' if k > 1 else ''} (%)"] for k in range(1, 6)] == [25.0, 50.0, 25.0, 0.0, 0.0]
    assert s["crop aspect ratio: mean"] == pytest.approx(1.625)
    assert [s[f"crop aspect ratio: {q}"] for q in ("25th percentile", "median", "75th percentile")] == \
        pytest.approx([0.875, 1.5, 2.25])
    contrasts = [0.0, 0.5, 0.0, np.sqrt(0.25 * 0.75)]
    assert s["RMS contrast: mean"] == pytest.approx(np.mean(contrasts), abs=1e-5)
    assert s["RMS contrast: median"] == pytest.approx(np.median(contrasts), abs=1e-5)
    assert s["RMS contrast: 75th percentile"] == pytest.approx(np.percentile(contrasts, 75), abs=1e-5)


def test_house_number_statistics_reads_a_prepared_file_in_blocks(tmp_path):
    from digitlib.data.svhn import PreparedSplit, write_prepared

    data = _tiny_split()
    boxes = np.full((4, 5, 4), -1, np.float32)
    data = DigitSequences(images=data.images, digits=data.digits, lengths=data.lengths, boxes=boxes,
                          names=np.array(["1.png", "2.png", "3.png", "4.png"]), crop_sizes=data.crop_sizes,
                          source="tiny")
    split = PreparedSplit(write_prepared(tmp_path / "tiny.h5", data))
    from_file = house_number_statistics(split, block=3)["tiny"]
    in_memory = house_number_statistics(data)["tiny"]
    assert from_file.tolist() == pytest.approx(in_memory.tolist())


def test_house_number_statistics_refuses_what_it_cannot_measure():
    data = _tiny_split()
    with pytest.raises(ValueError, match="at least one image"):
        house_number_statistics(data.read(slice(0, 0)))
    with pytest.raises(ValueError, match="margin of 0.3"):
        house_number_statistics(_tiny_split(margin=0.3))
    no_sizes = DigitSequences(images=data.images, digits=data.digits, lengths=data.lengths, source="x")
    with pytest.raises(ValueError, match="without crop_sizes"):
        house_number_statistics(no_sizes)
    grey = DigitSequences(images=np.zeros((2, 28, 140), np.uint8), digits=DIGITS[:2], lengths=np.array([2, 1]),
                          crop_sizes=np.ones((2, 2)), source="mnist")
    with pytest.raises(ValueError, match=r"RGB crops .* got images of shape \(28, 140\)"):
        house_number_statistics(grey)


def test_statistics_table_labels_every_column_with_its_source():
    table = statistics_table(_tiny_split(), split="train")
    assert list(table.columns) == ["computed here: tiny", "report (Amundson 2017), SVHN train",
                                   "SVHN paper and web page (Netzer et al. 2011), train"]
    assert tuple(table.index) == STATISTICS
    computed, report, netzer = (table[c] for c in table.columns)
    assert computed["crop aspect ratio: mean"] == 1.625 and computed["1 digit (%)"] == 25.0
    assert computed["RMS contrast: mean"] == round((0.5 + np.sqrt(0.25 * 0.75)) / 4, 3)
    # quoted from the report: counts, the mean digits per image derived from them, Fig. 7
    assert (report["images"], report["digits"]) == (33_402, 73_257)
    assert report["mean digits per image"] == round(73_257 / 33_402, 3)
    assert report["crop aspect ratio: mean"] == REPORT_ASPECT_RATIOS["train"]
    assert netzer["digits"] == 73_257
    assert report["2 digits (%)"] == NOT_PUBLISHED and report["RMS contrast: mean"] == NOT_PUBLISHED
    assert (netzer == NOT_PUBLISHED).sum() == len(STATISTICS) - 1
    test = statistics_table(_tiny_split(), split="test")
    assert test["report (Amundson 2017), SVHN test"]["crop aspect ratio: mean"] == 1.02
    assert test["SVHN paper and web page (Netzer et al. 2011), test"]["digits"] == 26_032
    with pytest.raises(ValueError, match="unknown split"):
        statistics_table(_tiny_split(), split="validation")
