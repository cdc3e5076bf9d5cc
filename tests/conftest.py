import os
import sys
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


@pytest.fixture(autouse=True)
def _no_compiled_model_across_tests():
    """Each test trains from a clean process state: the compiled model a run keeps for the next
    (digitlib.training.compiled_model) is freed after every test."""
    yield
    training = sys.modules.get("digitlib.training")
    if training is not None and training._kept is not None:
        training.free_compiled_model()


def pytest_collection_modifyitems(items):
    """The book build's tests run first. In a fresh clone they execute every chapter on a cold data
    and results cache, as a reader's first `make book` does, so the strict (warnings are errors)
    build sees chapter 2 generate the data (progress messages and all); the student versions
    (tests/test_assignments.py) then reuse the models the book trained."""
    items.sort(key=lambda item: item.path.name != "test_book_build.py")
