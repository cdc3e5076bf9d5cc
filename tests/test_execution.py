"""The watchdog executor: stalls are killed, named and retried once; errors are named, not retried."""
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from conftest import ROOT
from digitlib.execution import (NotebookFailed, NotebookStalled, book_cache_path, book_notebooks,
                                execute_book, execute_notebook)

# A cell that sits idle (no CPU, no output) is what a stalled execution looks like from outside.
IDLE_ONCE = ("import pathlib, time\nmarker = pathlib.Path('attempted')\n"
             "if not marker.exists():\n    marker.write_text('1')\n    time.sleep(600)\nprint('ran')")


def _notebook(*sources):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_outputs_come_back_and_the_input_is_not_changed(tmp_path):
    nb = _notebook("x = 6 * 7", "print(x)")
    run = execute_notebook(nb, tmp_path)
    assert run.notebook.cells[1].outputs[0]["text"] == "42\n"
    assert run.attempts == 1 and run.seconds > 0 and run.peak_memory > 10 * 2 ** 20
    assert nb.cells[1].outputs == []


def test_figures_are_kept_whatever_backend_the_caller_set(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")  # as the test suite's conftest does
    run = execute_notebook(_notebook("import matplotlib.pyplot as plt\nplt.plot([1, 2]);"), tmp_path)
    assert any("image/png" in o.get("data", {}) for o in run.notebook.cells[0].outputs)


def test_a_stall_is_killed_named_and_retried_once(tmp_path):
    messages = []
    run = execute_notebook(_notebook("x = 1", IDLE_ONCE), tmp_path, stall_seconds=4, log=messages.append)
    assert run.attempts == 2
    assert run.notebook.cells[1].outputs[0]["text"] == "ran\n"
    assert len(messages) == 1
    assert "no progress for 4 s" in messages[0] and "at cell 1 ('import pathlib, time')" in messages[0]


def test_a_second_stall_raises(tmp_path):
    nb = _notebook("import time\ntime.sleep(600)")
    with pytest.raises(NotebookStalled, match=r"(?s)at cell 0 \('import time'\).*then.*at cell 0"):
        execute_notebook(nb, tmp_path, stall_seconds=3, log=lambda m: None)


def test_the_hard_limit_ends_a_busy_cell(tmp_path):
    nb = _notebook("while True:\n    pass")
    with pytest.raises(NotebookStalled, match="hard limit of 6 s at cell 0"):
        execute_notebook(nb, tmp_path, timeout=6, retries=0)


def test_an_error_names_its_cell_and_is_not_retried(tmp_path):
    nb = _notebook("x = 1", "y = x / 0", "print('never')")
    with pytest.raises(NotebookFailed, match=r"cell 1 \('y = x / 0'\) raised ZeroDivisionError: division by zero"):
        execute_notebook(nb, tmp_path)
    run = execute_notebook(nb, tmp_path, allow_errors=True)
    assert run.notebook.cells[1].outputs[0]["ename"] == "ZeroDivisionError"
    assert run.notebook.cells[2].outputs[0]["text"] == "never\n"


def test_the_book_cache_is_filled_and_then_reused(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    nbformat.write(_notebook("print('chapter')"), tmp_path / "notebooks" / "01_a.ipynb")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nparts:\n  - chapters:\n"
                                       "      - file: notebooks/01_a\n")
    monkeypatch.setenv("DIGITLIB_PROFILE", "quick")
    first = execute_book(tmp_path, log=lambda m: None)
    assert first[str(tmp_path / "notebooks" / "01_a.ipynb")].notebook.cells[0].outputs
    assert (book_cache_path(tmp_path) / "global.db").exists()
    again = execute_book(tmp_path, log=lambda m: None)
    assert list(again.values()) == [None]  # found in the cache, not executed


def test_the_book_lists_every_chapter():
    assert [p.name for p in book_notebooks(ROOT)] == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


def _fake_book(tmp_path, names):
    (tmp_path / "notebooks").mkdir()
    for i, name in enumerate(names):
        nbformat.write(_notebook(f"print({i})"), tmp_path / "notebooks" / name)
    entries = "".join(f"      - file: notebooks/{n[:-len('.ipynb')]}\n" for n in names)
    (tmp_path / "_toc.yml").write_text(f"format: jb-book\nroot: intro\nparts:\n  - chapters:\n{entries}")


def _recording_executor(monkeypatch, events, fail=()):
    """Replace the kernel by a fake that sleeps a little and records when each chapter starts and ends."""
    import threading
    import time

    from digitlib import execution

    lock = threading.Lock()

    def fake(path, **kwargs):
        with lock:
            events.append(("start", path.name))
        time.sleep(0.3)
        with lock:
            events.append(("end", path.name))
        if path.name in fail:
            raise NotebookFailed(f"{path.name} failed")
        return execution.Execution(nbformat.read(path, as_version=4), 0.3, 1, 1)

    monkeypatch.setattr(execution, "execute_notebook", fake)


def test_the_book_runs_two_chapters_at_once_each_after_what_it_needs(tmp_path, monkeypatch):
    from digitlib.execution import BOOK_NEEDS, book_order, read_book_build

    names = list(BOOK_NEEDS) + ["09_summary.ipynb"]  # the summary is not listed: it waits for all
    _fake_book(tmp_path, names)
    monkeypatch.setenv("DIGITLIB_PROFILE", "quick")
    events = []
    _recording_executor(monkeypatch, events)
    runs = execute_book(tmp_path, log=lambda m: None)  # quick's default: two at a time
    assert list(runs) == [str(tmp_path / "notebooks" / n) for n in names]
    at = {(kind, name): i for i, (kind, name) in enumerate(events)}
    for path, before in book_order(book_notebooks(tmp_path)).items():
        for need in before:
            assert at[("end", need.name)] < at[("start", path.name)], f"{path.name} started before {need.name} ended"
    running = max(sum(1 if k == "start" else -1 for k, _ in events[:i + 1]) for i in range(len(events)))
    assert running == 2  # never more than two, and two did run together
    build = read_book_build(tmp_path, "quick")
    assert build["chapters"] == len(names) and build["workers"] == 2 and build["seconds"] > 0
    assert [p.name for p in book_order(book_notebooks(tmp_path))[tmp_path / "notebooks" / "09_summary.ipynb"]] \
        == names[:-1]
    # the long chains start first (data, then house numbers; MNIST, then Inception), the short
    # chapters fill in, and chapter 7 waits for chapter 5 so that the two trainings do not share the cores
    starts = [name for kind, name in events if kind == "start"]
    assert set(starts[:2]) == {"02_exploring_the_data.ipynb", "04_mnist_sequences.ipynb"}
    assert at[("end", "05_inception.ipynb")] < at[("start", "07_loss_weights.ipynb")]
    assert starts.index("01_introduction.ipynb") > starts.index("06_house_numbers.ipynb")


def test_a_failed_chapter_stops_the_book_and_its_error_is_raised(tmp_path, monkeypatch):
    names = ["02_exploring_the_data.ipynb", "06_house_numbers.ipynb", "07_loss_weights.ipynb"]
    _fake_book(tmp_path, names)
    monkeypatch.setenv("DIGITLIB_PROFILE", "quick")
    events = []
    _recording_executor(monkeypatch, events, fail={"06_house_numbers.ipynb"})
    with pytest.raises(NotebookFailed, match="06_house_numbers"):
        execute_book(tmp_path, log=lambda m: None, workers=2)
    assert ("start", "07_loss_weights.ipynb") not in events  # it needs chapter 6
    with pytest.raises(ValueError, match="workers must be at least 1"):
        execute_book(tmp_path, log=lambda m: None, workers=0)
