"""The benchmark's experiment table: selecting experiments by name."""
import pytest

from digitlib import bench
from digitlib.config import PROFILES


def test_unknown_experiment_names_list_the_choices():
    with pytest.raises(SystemExit, match="mnist_strong"):
        bench.experiment_rows(PROFILES["quick"], only=["mnist_strongest"])


def test_only_selects_the_named_experiments(monkeypatch):
    trained = []

    class FakeResult:
        params, images_per_second, train_seconds = 10, 100.0, 1.0
        metrics = {"test": {"position_accuracy": 0.5, "sequence_accuracy": 0.25}}

    def fake_run(exp, profile, verbose=0):
        trained.append(exp.name)
        return FakeResult()

    monkeypatch.setattr("digitlib.training.run_experiment", fake_run)
    rows = bench.experiment_rows(PROFILES["full"], only=["mnist_cnn", "mnist_strong"])
    assert trained == ["mnist_cnn", "mnist_strong"]
    assert [r[0] for r in rows] == ["mnist_cnn", "mnist_strong"]  # no SVHN reference row for MNIST only
    assert rows[0][-1] == "0.9785 / 0.89625"  # the report's MNIST numbers, as published, beside ours


def test_full_estimates_use_the_full_profiles_experiments(monkeypatch):
    from digitlib import experiments

    class OneImagePerSecond:
        train_seconds, images_per_second = 60.0, 1.0

    monkeypatch.setattr(experiments, "run_experiment", lambda exp, profile, verbose=0: OneImagePerSecond())
    table = experiments.chapter_training_times(PROFILES["quick"])
    full = PROFILES["full"]
    fit = int(full.mnist_train_sequences * (1 - full.validation_fraction))  # 36,000
    # chapter 5: three networks on all 36,000 sequences for 20 epochs (not quick's first 500)
    assert table.loc["5 An Inception experiment", "estimated for full, hours"] == round(3 * fit * full.epochs / 3600, 1)
    # chapter 4: mnist_cnn for 20 epochs, mnist_strong for its 10
    assert table.loc["4 Reading MNIST sequences", "estimated for full, hours"] == round(fit * (20 + 10) / 3600, 1)
    assert table.loc["4 Reading MNIST sequences", "measured here (quick), minutes"] == 2.0


def test_training_flops_count_every_convolution_and_dense_layer():
    from digitlib.models import SVHN_SHAPE, build_model

    # multiply-adds of one forward pass of the report's network, layer by layer (valid padding)
    macs = (46 * 46 * 9 * 9 * 3 * 32  # conv_9x9 on 54x54x3
            + 19 * 19 * 5 * 5 * 32 * 32  # conv_5x5 on 23x23x32
            + 7 * 7 * 3 * 3 * 32 * 64  # conv_3x3 on 9x9x32
            + 3136 * 256 + 256 * 128  # dense_1, dense_2
            + 128 * (5 * 11 + 6 + 20))  # the heads
    assert bench.training_flops(build_model("svhn_localizer", SVHN_SHAPE)) == 6 * macs  # about 165 MFLOP


def test_training_throughput_measures_the_bare_fit_and_the_runner():
    from dataclasses import replace

    from digitlib.experiments import book_experiments

    exp = replace(book_experiments(PROFILES["quick"])["mnist_cnn"], batch_size=8).resolved(PROFILES["quick"])
    speeds = bench.training_throughput(exp, steps=2)
    assert speeds["bare"] > 0 and speeds["runner"] > 0 and speeds["flops"] > 0


def test_book_timings_are_recorded_per_chapter_and_read_back(tmp_path, monkeypatch):
    from digitlib.execution import Execution, read_book_timings, record_book_build, record_book_timing

    monkeypatch.setenv("DIGITLIB_PROFILE", "quick")
    assert read_book_timings(tmp_path, "quick") == {}
    assert bench.book_target_rows(tmp_path, "quick") == [
        ("book execution", "not recorded: run `make book` first", "<= 15 min")]
    for name, seconds, peak in (("01_a.ipynb", 30.0, 900 * 2 ** 20), ("02_b.ipynb", 400.0, 1200 * 2 ** 20)):
        record_book_timing(tmp_path, tmp_path / name, Execution(None, seconds, peak, 1))
    timings = read_book_timings(tmp_path, "quick")
    assert timings["02_b.ipynb"]["seconds"] == 400.0 and timings["02_b.ipynb"]["peak_mib"] == 1200
    assert bench.book_target_rows(tmp_path, "full")[0][1].startswith("not recorded")  # kept per profile
    rows = bench.book_target_rows(tmp_path, "quick")
    assert rows[0][1] == "7.2 min" and rows[1][0] == "slowest chapter: 02_b.ipynb" and rows[2][1] == "1,200 MiB"
    record_book_build(tmp_path, 300.0, 2, 2)  # two at a time: the build's wall time, not the sum
    rows = bench.book_target_rows(tmp_path, "quick")
    assert rows[0][1] == "5.0 min" and "2 chapters, 2 at a time" in rows[0][0] and rows[1][1] == "6.7 min"


def test_the_slowest_chapter_says_how_long_it_shared_the_cores(tmp_path, monkeypatch):
    from digitlib.execution import Execution, book_overlaps, record_book_overlaps, record_book_timing

    monkeypatch.setenv("DIGITLIB_PROFILE", "quick")
    spans = {"05_inception.ipynb": (0.0, 100.0), "07_loss_weights.ipynb": (60.0, 300.0),
             "09_summary.ipynb": (300.0, 320.0)}
    beside = book_overlaps(spans)
    assert beside == {"05_inception.ipynb": {"07_loss_weights.ipynb": 40.0},
                      "07_loss_weights.ipynb": {"05_inception.ipynb": 40.0}, "09_summary.ipynb": {}}
    for name, (start, end) in spans.items():
        record_book_timing(tmp_path, tmp_path / name, Execution(None, end - start, 2 ** 30, 1))
    record_book_overlaps(tmp_path, spans)
    assert bench.book_target_rows(tmp_path, "quick")[1][:2] == (
        "slowest chapter: 07_loss_weights.ipynb (40 s beside 05)", "4.0 min")
    record_book_timing(tmp_path, tmp_path / "07_loss_weights.ipynb", Execution(None, 250.0, 2 ** 30, 1))
    assert bench.book_target_rows(tmp_path, "quick")[1][0] == "slowest chapter: 07_loss_weights.ipynb"  # not known
    record_book_overlaps(tmp_path, {"07_loss_weights.ipynb": (0.0, 250.0)})  # a build of chapter 7 alone
    assert bench.book_target_rows(tmp_path, "quick")[1][0] == "slowest chapter: 07_loss_weights.ipynb (alone)"
