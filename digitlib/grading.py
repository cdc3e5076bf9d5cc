"""Grade a folder of submitted notebooks with the book's autochecks: one CSV row per notebook.

    python -m digitlib.grading SUBMISSIONS --out grades.csv --timeout 600 --workers 1 [--executed DIR]

Who is who (the student's name comes from the layout of ``SUBMISSIONS``):

* ``SUBMISSIONS/<student>.ipynb``: one notebook per student; the name is the file name without
  ``.ipynb``. Any other file directly in ``SUBMISSIONS`` gets a row saying it is not a notebook.
* ``SUBMISSIONS/<student>/.../<notebook>.ipynb``: one folder per student, any number of
  notebooks in it; the student's other files (data, modules) are copied along for the run.
  A student folder without a notebook gets a row ``no notebook``.

Hidden files and folders (``.ipynb_checkpoints``), ``__MACOSX`` and ``__pycache__`` are skipped.

How a notebook is graded: it is executed top to bottom by :func:`digitlib.execution.execute_notebook`
(in a child process under the stall watchdog, errors allowed so that one broken cell does not
stop the rest) in a fresh temporary copy of its own files only, with a hard limit of ``timeout``
seconds. The grader puts one cell of its own in front: :func:`record_checks`, which makes every
:mod:`digitlib.checks` function also write what it reported (pass, fail, todo, or error when the
check itself raised) to a file outside the copy, the moment it reports. So a printed "PASS" that
no check produced counts for nothing, a check called from a cell without the ``autocheck`` tag
still counts, the last call of a check is the one that counts, and a notebook stopped at the time
limit keeps the checks it passed before.

Each row: ``student, notebook, status, detail, seconds``, one column per check (``pass``,
``fail``, ``todo``, ``error``: the check's ``autocheck`` cell raised before the check could
report, e.g. the function was never defined; ``missing``: the check never ran; empty: the check
does not belong to this assignment), then ``total`` (checks passed) and ``out_of``. See
:data:`STATUSES` for the status values; cells are counted from 1, as they stand in the notebook.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import io
import json
import re
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .execution import STALL_SECONDS, NotebookFailed, NotebookStalled, execute_notebook

#: default hard limit per notebook, in seconds (a chapter runs in minutes in the quick profile)
TIMEOUT = 600
#: a check's result in the CSV
RESULTS = ("pass", "fail", "todo", "error", "missing")
#: a notebook's status in the CSV, and what it means
STATUSES = {
    "ok": "ran to the end, no cell raised",
    "cell error": "ran to the end, but a cell raised (detail: the first one)",
    "timed out": "stopped at the time limit (detail: the cell it was running)",
    "stalled": "its kernel sat idle twice, no cell finishing (detail: the cell)",
    "crashed": "the kernel died (os._exit, out of memory) or could not start",
    "not a notebook": "not a readable .ipynb file (detail: why)",
    "no notebook": "a student folder without any .ipynb file",
    "grader error": "the grader itself failed on this submission (detail: the error)",
}
SKIPPED_NAMES = {"__MACOSX", "__pycache__"}
GRADER_TAG = "grader"
_say = functools.partial(print, flush=True)


class NotANotebook(ValueError):
    """A submitted file that cannot be read as a Jupyter notebook; the message says why."""


# ------------------------------------------------------------------------- in the student's kernel

def check_names() -> list[str]:
    """The names of the autochecks in :mod:`digitlib.checks` (``check_...``), in book order."""
    from . import checks

    return [name for name, value in vars(checks).items() if name.startswith("check_") and callable(value)]


def record_checks(path) -> None:
    """Make every :mod:`digitlib.checks` function also append ``{"check": name, "status": s}``
    (one JSON line, ``s`` in pass/fail/todo/error) to the file ``path`` each time it is called.

    Runs inside the student's kernel, in the cell the grader adds at the top. The checks print and
    return as before. Calling it again changes nothing."""
    from . import checks

    for name in check_names():
        check = getattr(checks, name)
        if not getattr(check, "_digitlib_recorded", False):
            setattr(checks, name, _recording(name, check, Path(path)))


def _recording(name: str, check, path: Path):
    """``check`` wrapped: it runs as before, then its verdict is appended to ``path``."""

    @functools.wraps(check)
    def recorded(*args, **kwargs):
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(_Tee(sys.stdout, printed)):
                result = check(*args, **kwargs)
        except BaseException:
            _append_record(path, name, "error")
            raise
        _append_record(path, name, verdict(result, printed.getvalue()))
        return result

    recorded._digitlib_recorded = True
    return recorded


class _Tee(io.TextIOBase):
    """A text stream that writes to all of ``streams`` (the notebook's output and a buffer)."""

    def __init__(self, *streams):
        super().__init__()
        self._streams = streams

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()


def verdict(result, printed: str) -> str:
    """A check's result as ``pass``/``fail``/``todo``, from what it returned (``True`` only for a
    pass) and the text printed while it ran (its own last PASS/FAIL/TODO line tells a stub)."""
    if result is True:
        return "pass"
    lines = [ln for ln in printed.splitlines() if ln.split(" ", 1)[0] in ("PASS", "FAIL", "TODO")]
    return "todo" if lines and lines[-1].startswith("TODO") else "fail"


def _append_record(path: Path, name: str, status: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"check": name, "status": status}) + "\n")


def read_records(path) -> list[dict]:
    """The records :func:`record_checks` wrote to ``path``, oldest first (``[]`` if there are none;
    a line cut short by a killed kernel is skipped)."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            records.append(json.loads(line))
    return [r for r in records if isinstance(r, dict) and {"check", "status"} <= r.keys()]


# ------------------------------------------------------------------------------------ submissions

@dataclass(frozen=True)
class Submission:
    """One thing to grade: ``student``'s ``notebook`` (its path below the student's folder, or the
    file name in the flat layout) at ``path``; ``home`` is the student's folder, copied for the
    run (``None`` in the flat layout: the notebook runs alone)."""

    student: str
    notebook: str
    path: Path
    home: Path | None = None

    @property
    def assignment(self) -> str:
        """Submissions with the same assignment share their check columns: the notebook's name in
        the folder layout; everything in the flat layout is one assignment."""
        return self.notebook if self.home is not None else ""

    @property
    def label(self) -> str:
        return f"{self.student}/{self.notebook}" if self.home is not None else self.notebook


def _skipped(name: str) -> bool:
    return name.startswith(".") or name in SKIPPED_NAMES


def find_submissions(folder, exclude=()) -> list[Submission]:
    """Every submission in ``folder`` (layouts in the module docstring), sorted by student.

    ``exclude``: paths to leave out (the grades CSV when it is written inside ``folder``).
    Raises ``FileNotFoundError`` (no such folder), ``NotADirectoryError`` (a file) or
    ``ValueError`` (nothing to grade in it)."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"the submissions folder {folder} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file: give the folder that holds the submissions")
    excluded = {Path(p).resolve() for p in exclude}
    found = []
    for entry in sorted(folder.iterdir()):
        if _skipped(entry.name) or entry.resolve() in excluded:
            continue
        if entry.is_dir():
            found.extend(_student_folder(entry))
        elif entry.is_file():
            found.append(Submission(entry.stem, entry.name, entry))
    if not found:
        raise ValueError(f"nothing to grade in {folder}: expected <student>.ipynb files or one folder per student")
    return found


def _student_folder(home: Path) -> list[Submission]:
    """The notebooks in one student's folder, or one ``no notebook`` placeholder."""
    notebooks = sorted(p for p in home.rglob("*.ipynb")
                       if p.is_file() and not any(_skipped(part) for part in p.relative_to(home).parts))
    if not notebooks:
        return [Submission(home.name, "", home, home)]
    return [Submission(home.name, p.relative_to(home).as_posix(), p, home) for p in notebooks]


def read_notebook(path) -> nbformat.NotebookNode:
    """The notebook at ``path`` (nbformat 4). Raises :class:`NotANotebook` saying why not: not a
    ``.ipynb`` file, not text, not JSON, or JSON that is not a notebook."""
    path = Path(path)
    if path.suffix != ".ipynb":
        raise NotANotebook("not a .ipynb file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NotANotebook("not a text file (a binary file named .ipynb?)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise NotANotebook(f"not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(data, dict) or "nbformat" not in data:
        raise NotANotebook("JSON, but not a notebook (no 'nbformat' field)")
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as err:  # nbformat raises several kinds for a malformed notebook
        raise NotANotebook(f"not a readable notebook ({type(err).__name__}: {_first_line(str(err))})") from None


def autocheck_names(nb) -> list[str]:
    """The checks that ``nb``'s ``autocheck`` cells call, in order (known check names only)."""
    known, names = set(check_names()), []
    for cell in _autocheck_cells(nb):
        names += [n for n in re.findall(r"\b(check_\w+)\s*\(", cell.source) if n in known and n not in names]
    return names


def _autocheck_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and "autocheck" in c.get("metadata", {}).get("tags", [])]


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")


# ---------------------------------------------------------------------------------------- grading

@dataclass
class Grade:
    """The outcome for one :class:`Submission`: a ``status`` (:data:`STATUSES`) with its
    ``detail``, the ``seconds`` it took, and ``checks``: {check name: one of :data:`RESULTS`}."""

    student: str
    notebook: str
    assignment: str
    status: str
    detail: str = ""
    seconds: float = 0.0
    checks: dict[str, str] = field(default_factory=dict)


def with_recorder(nb, records_path) -> nbformat.NotebookNode:
    """A copy of ``nb`` with the grader's cell in front: it calls :func:`record_checks`."""
    nb = copy.deepcopy(nb)
    source = ("# added by the grader (digitlib.grading): records what each digitlib.checks function reports\n"
              "from digitlib.grading import record_checks as _grader_record_checks\n"
              f"_grader_record_checks({str(records_path)!r})\n"
              "del _grader_record_checks")
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": [GRADER_TAG]})
    if nb.get("nbformat_minor", 5) < 5:  # cell ids came with nbformat 4.5: one would make it invalid
        del cell["id"]
    nb.cells.insert(0, cell)
    return nb


def _working_copy(sub: Submission, target: Path) -> Path:
    """A fresh folder holding only ``sub``'s own files; returns the notebook's working folder in it."""
    if sub.home is None:
        target.mkdir(parents=True)
        return target
    shutil.copytree(sub.home, target, symlinks=True, ignore=shutil.ignore_patterns(".*", *SKIPPED_NAMES))
    return target / sub.path.parent.relative_to(sub.home)


def first_error(executed) -> tuple[str, str]:
    """``(status, detail)`` of an executed notebook (with the grader's cell at index 0): ``ok``, or
    ``cell error`` naming the first cell that raised, counted from 1 in the student's notebook."""
    for index, cell in enumerate(executed.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                if index == 0:
                    return "crashed", (f"the grader's first cell raised {out.ename}: {_first_line(out.evalue)} "
                                       "(is digitlib installed for the python3 kernel?)")
                where = _first_line(cell.source)
                where = where if len(where) <= 60 else where[:57] + "..."
                return "cell error", f"cell {index} ({where!r}) raised {out.ename}: {_first_line(out.evalue)}"
    return "ok", ""


def check_results(expected, records, executed=None) -> dict[str, str]:
    """{check: result} for one notebook: the last recorded verdict of each check; a check of
    ``expected`` (the notebook's autocheck cells) that never reported is ``error`` when one of its
    autocheck cells raised in ``executed`` (``None``: the run was stopped), else ``missing``."""
    results = {}
    for record in records:
        results[record["check"]] = record["status"]
    raised = set()
    if executed is not None:
        for cell in _autocheck_cells(executed):
            if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                raised |= set(re.findall(r"\b(check_\w+)\s*\(", cell.source))
    for name in expected:
        results.setdefault(name, "error" if name in raised else "missing")
    return results


def _execute(sub: Submission, nb, tmp: Path, timeout: float, stall_seconds: float, stall_retries: int,
             kernel_name: str, log) -> tuple[str, str, list[dict], nbformat.NotebookNode | None]:
    """Run ``nb`` for ``sub`` in fresh copies under ``tmp``; ``(status, detail, records, executed)``.

    A stall (kernel idle) is run again from a fresh copy up to ``stall_retries`` times, within
    the same overall ``timeout``; running past ``timeout`` is final."""
    deadline = time.monotonic() + timeout
    for attempt in range(stall_retries + 1):
        records_path = tmp / f"checks-{attempt}.jsonl"
        cwd = _working_copy(sub, tmp / f"work-{attempt}")
        try:
            run = execute_notebook(with_recorder(nb, records_path), cwd, allow_errors=True,
                                   kernel_name=kernel_name, stall_seconds=stall_seconds,
                                   timeout=max(deadline - time.monotonic(), 1.0), retries=0, label=sub.label)
        except NotebookStalled as err:
            detail = _without_label(err, sub.label).replace("; killed its kernel", "")
            if time.monotonic() >= deadline:
                return "timed out", detail, read_records(records_path), None
            if attempt == stall_retries:
                return "stalled", detail, read_records(records_path), None
            log(f"{sub.label}: {detail}; running it again from a fresh copy")
        except NotebookFailed as err:
            detail = f"the kernel died or did not start ({_without_label(err, sub.label)})"
            return "crashed", detail, read_records(records_path), None
        else:
            status, detail = first_error(run.notebook)
            return status, detail, read_records(records_path), run.notebook
    raise AssertionError("unreachable")


def _without_label(err: Exception, label: str) -> str:
    text = str(err)
    return text[len(label) + 2:] if text.startswith(label + ": ") else text


def save_executed(executed, path) -> Path:
    """Write an executed notebook, without the grader's cell, to ``path`` (folders created)."""
    executed = copy.deepcopy(executed)
    executed.cells = [c for c in executed.cells if GRADER_TAG not in c.get("metadata", {}).get("tags", [])]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(executed, path)
    return path


def grade_submission(sub: Submission, *, timeout: float = TIMEOUT, stall_seconds: float = STALL_SECONDS,
                     stall_retries: int = 1, kernel_name: str = "python3", executed_dir=None,
                     log=_say) -> Grade:
    """Grade one submission (see the module docstring); never raises for what is in it.

    ``executed_dir``: where to keep the executed notebook, with its outputs, as
    ``<executed_dir>/<student>/<notebook>`` (flat layout: ``<executed_dir>/<notebook>``); a
    notebook stopped at the limit or crashed has none."""
    start = time.monotonic()
    grade = Grade(sub.student, sub.notebook, sub.assignment, "ok")
    try:
        if sub.path.is_dir():
            grade.status, grade.detail = "no notebook", f"no .ipynb file in {sub.student}/"
            return grade
        nb = read_notebook(sub.path)
        with tempfile.TemporaryDirectory(prefix="digitlib-grade-") as tmp:
            grade.status, grade.detail, records, executed = _execute(
                sub, nb, Path(tmp), timeout, stall_seconds, stall_retries, kernel_name, log)
        grade.checks = check_results(autocheck_names(nb), records, executed)
        if executed is not None and executed_dir is not None:
            save_executed(executed, Path(executed_dir) / sub.label)
    except NotANotebook as err:
        grade.status, grade.detail = "not a notebook", str(err)
    except Exception as err:  # a grader bug or an unreadable folder: record it, grade the others
        grade.status, grade.detail = "grader error", f"{type(err).__name__}: {_first_line(str(err))}"
    finally:
        grade.seconds = time.monotonic() - start
    return grade


def grades_table(grades):
    """The CSV's table (a ``pandas.DataFrame``), one row per grade sorted by student and notebook.

    Check columns: every check any submission called or has an autocheck cell for, in book order.
    A row's ``out_of`` counts the checks of its assignment (:attr:`Submission.assignment`);
    the columns of other assignments stay empty."""
    import pandas as pd

    seen = set().union(*(g.checks for g in grades)) if grades else set()
    known = check_names()
    columns = [n for n in known if n in seen] + sorted(seen - set(known))
    by_assignment = defaultdict(set)
    for g in grades:
        by_assignment[g.assignment] |= set(g.checks)
    rows = []
    for g in sorted(grades, key=lambda g: (g.student, g.notebook)):
        expected = by_assignment[g.assignment]
        row = {"student": g.student, "notebook": g.notebook, "status": g.status, "detail": g.detail,
               "seconds": round(g.seconds, 1)}
        row.update({n: g.checks.get(n, "missing") if n in expected else "" for n in columns})
        row["total"] = sum(row[n] == "pass" for n in columns)
        row["out_of"] = len(expected)
        rows.append(row)
    return pd.DataFrame(rows, columns=["student", "notebook", "status", "detail", "seconds", *columns,
                                       "total", "out_of"])


def grade_folder(folder, out_csv=None, *, timeout: float = TIMEOUT, workers: int = 1,
                 stall_seconds: float = STALL_SECONDS, stall_retries: int = 1, kernel_name: str = "python3",
                 executed_dir=None, log=_say):
    """Grade every submission in ``folder`` and return the table (``pandas.DataFrame``, columns
    in the module docstring); also write it to ``out_csv`` when given.

    ``timeout``: hard limit per notebook in seconds. ``workers``: notebooks run at the same time
    (each takes a kernel, its memory and up to all cores). ``stall_seconds``/``stall_retries``:
    the watchdog's idle-kernel detection (:mod:`digitlib.execution`). ``executed_dir``: keep the
    executed notebooks there (:func:`grade_submission`). Raises ``FileNotFoundError``
    / ``NotADirectoryError`` / ``ValueError`` for a missing, wrong or empty folder and
    ``ValueError`` for a limit or worker count below 1."""
    if timeout < 1 or workers < 1 or stall_retries < 0:
        raise ValueError(f"need timeout >= 1 s, workers >= 1, stall_retries >= 0; got {timeout}, {workers}, "
                         f"{stall_retries}")
    subs = find_submissions(folder, exclude=[p for p in (out_csv, executed_dir) if p])
    log(f"grading {len(subs)} submission(s) in {folder}: {workers} at a time, at most {timeout:.0f} s each")

    def grade(sub):
        g = grade_submission(sub, timeout=timeout, stall_seconds=stall_seconds, stall_retries=stall_retries,
                             kernel_name=kernel_name, executed_dir=executed_dir, log=log)
        order = {name: i for i, name in enumerate(check_names())}
        results = ", ".join(f"{n} {g.checks[n]}" for n in sorted(g.checks, key=lambda n: (order.get(n, len(order)), n)))
        log(f"{sub.label}: {g.status}{' (' + g.detail + ')' if g.detail else ''}, {g.seconds:.1f} s"
            + (f"; {results}" if results else ""))
        return g

    with ThreadPoolExecutor(max_workers=workers) as pool:
        table = grades_table(list(pool.map(grade, subs)))
    if out_csv:
        Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out_csv, index=False)
        log(f"wrote {out_csv}: {len(table)} row(s); " + ", ".join(f"{n} {s}" for s, n in Counter(table.status).items()))
    return table


def main(argv=None) -> int:
    """The command line (see the module docstring). Returns 0 once the CSV is written, 2 for a
    bad folder or option."""
    parser = argparse.ArgumentParser(prog="python -m digitlib.grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", help="folder of submissions: <student>.ipynb or <student>/*.ipynb")
    parser.add_argument("--out", default="grades.csv", help="CSV to write (default: grades.csv)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT,
                        help=f"hard limit per notebook, s (default {TIMEOUT})")
    parser.add_argument("--workers", type=int, default=1, help="notebooks run at the same time (default 1)")
    parser.add_argument("--stall-seconds", type=float, default=STALL_SECONDS,
                        help=f"an idle kernel this long counts as stalled and runs again (default {STALL_SECONDS})")
    parser.add_argument("--executed", metavar="DIR", help="keep the executed notebooks, with their outputs, in DIR")
    args = parser.parse_args(argv)
    try:
        grade_folder(args.submissions, args.out, timeout=args.timeout, workers=args.workers,
                     stall_seconds=args.stall_seconds, executed_dir=args.executed)
    except (FileNotFoundError, NotADirectoryError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
