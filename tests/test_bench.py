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
