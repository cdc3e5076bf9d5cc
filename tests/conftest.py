import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def quick_profile(monkeypatch):
    monkeypatch.setenv("DIGITLIB_PROFILE", "quick")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A fresh, empty dataset cache for one test."""
    path = tmp_path / "data"
    monkeypatch.setenv("DIGITLIB_DATA", str(path))
    return path
