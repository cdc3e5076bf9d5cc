"""The whole book builds, executed, with Sphinx warnings treated as errors."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


@pytest.mark.book
def test_book_builds_without_warnings():
    jb = Path(sys.executable).with_name("jupyter-book")
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # notebooks use the inline backend
    run = subprocess.run([str(jb), "build", str(ROOT), "--warningiserror", "--keep-going", "--all"],
                         capture_output=True, text=True, env=env, timeout=3000)
    log = run.stdout + run.stderr
    assert run.returncode == 0, f"book build failed:\n{log[-6000:]}"
    html = ROOT / "_build" / "html"
    index = (html / "book" / "intro.html").read_text()
    profile = os.environ.get("DIGITLIB_PROFILE", "quick").strip().lower() or "quick"
    assert f"Profile of this build: <strong>{profile}</strong>" in index
    assert "Getting started" in index  # the table of contents
    chapter = (html / "notebooks" / "00_getting_started.html").read_text()
    assert "Fig. 1" in chapter and "<img" in chapter  # the executed figure, numbered
    assert "profile: " + profile in chapter
