"""The whole book builds, executed, with Sphinx warnings treated as errors."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from digitlib.execution import execute_book

MEMORY_LIMIT = 2 * 1024 ** 3  # Binder's usual limit


@pytest.mark.book
def test_every_chapter_runs_top_to_bottom():
    """The instructor notebooks execute without an error, each under the stall watchdog, into the
    book's execution cache (what `make book` does before it renders), each kernel under Binder's
    2 GB (in a fresh clone this run trains every model)."""
    for path, run in execute_book(ROOT).items():
        if run is not None:
            print(f"{path}: {run.seconds:.0f} s, {run.attempts} attempt(s), peak kernel memory "
                  f"{run.peak_memory / 2 ** 20:.0f} MiB")
            assert run.peak_memory < MEMORY_LIMIT, f"{path} peaked at {run.peak_memory / 2 ** 30:.2f} GiB"


@pytest.mark.book
def test_book_builds_without_warnings():
    execute_book(ROOT)  # nothing to do after the test above; the build must not execute by itself
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
    assert "Reading MNIST sequences" in index and "Weighing the losses" in index  # the table of contents
    chapter = (html / "notebooks" / "01_introduction.html").read_text()
    assert "Fig. 1.1" in chapter and "<img" in chapter  # the executed figure, numbered
    assert "profile: " + profile in chapter
    solutions = (html / "notebooks" / "06_house_numbers.html").read_text()
    assert "tag_solution" in solutions and "tag_hide-cell" in solutions  # solutions behind a click


@pytest.mark.book
def test_launch_buttons_open_the_right_notebook():
    """The Binder and Colab links the config produces point at each chapter's own file."""
    import re

    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]["url"].removeprefix("https://github.com/")
    branch = config["repository"]["branch"]
    html = ROOT / "_build" / "html" / "notebooks"
    pages = sorted(html.glob("*.html"))
    assert pages, "build the book first (test_book_builds_without_warnings)"
    for page in pages:
        text = page.read_text()
        notebook = f"notebooks/{page.stem}.ipynb"
        assert (ROOT / notebook).exists()
        binder = re.findall(r'href="(https://mybinder.org/[^"]+)"', text)
        colab = re.findall(r'href="(https://colab.research.google.com/[^"]+)"', text)
        assert binder and colab, f"no launch buttons on {page.name}"
        assert binder[0].startswith(f"https://mybinder.org/v2/gh/{repo}/{branch}?urlpath=")
        assert binder[0].endswith(notebook.replace("/", "%2F")) or binder[0].endswith(notebook), binder[0]
        assert colab[0] == f"https://colab.research.google.com/github/{repo}/blob/{branch}/{notebook}", colab[0]
