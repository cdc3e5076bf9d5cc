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


def pytest_collection_modifyitems(items):
    """The book build's tests run first. In a fresh clone they execute every chapter on a cold data
    and results cache, as a reader's first `make book` does, so the strict (warnings are errors)
    build sees chapter 2 generate the data (progress messages and all); the student versions
    (tests/test_assignments.py) then reuse the models the book trained."""
    items.sort(key=lambda item: item.path.name != "test_book_build.py")
