"""Student versions of the chapter notebooks, generated from the instructor notebooks.

    python -m digitlib.assignments build            # writes student/*.ipynb
    python -m digitlib.assignments build --out DIR

Cell tags (documented in the book's "For instructors" page):

* ``exercise`` (markdown): the exercise text; kept.
* ``solution`` (code): the reference solution. Lines between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` are replaced by a stub that raises ``NotImplementedError`` with the
  exercise's title and the cell's ``# HINT:`` line. Everything outside the markers (a function's
  signature, imports) stays, so the student fills in the body.
* ``autocheck`` (code): calls a :mod:`digitlib.checks` function on the student's answer; kept.
* ``instructor`` or ``remove-cell`` (any): instructor-only (notes, hidden test cells); removed.

Outputs and execution counts are cleared. Solution cells lose their ``hide-cell`` tag, so students
see the stub.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
REMOVED_TAGS = {"instructor", "remove-cell"}
STUB_MESSAGE = "Exercise {title}: not done yet. {hint}"


def _exercise_title(markdown: str) -> str:
    match = re.search(r"Exercise:\s*([^\n]+)", markdown)
    return match.group(1).strip() if match else "exercise"


def stub_solution(source: str, title: str) -> str:
    """Replace each BEGIN/END SOLUTION block of ``source`` with a ``NotImplementedError`` stub."""
    lines = source.splitlines()
    hint = next((ln.split("# HINT:", 1)[1].strip() for ln in lines if "# HINT:" in ln), "See the exercise text.")
    out, inside, found = [], False, False
    for line in lines:
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"nested {BEGIN!r} in the solution of exercise {title!r}")
            inside, found = True, True
            indent = line[: len(line) - len(line.lstrip())]
            message = STUB_MESSAGE.format(title=title, hint=hint).replace('"', "'")
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(f'{indent}raise NotImplementedError("{message}")')
        elif stripped == END:
            if not inside:
                raise ValueError(f"{END!r} without {BEGIN!r} in the solution of exercise {title!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside or not found:
        raise ValueError(f"the solution of exercise {title!r} needs one {BEGIN!r} ... {END!r} block")
    return "\n".join(out)


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A student copy of an instructor notebook (the input is not changed)."""
    nb = nbformat.from_dict(nb)
    cells, title = [], "exercise"
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if tags & REMOVED_TAGS:
            continue
        if "exercise" in tags:
            title = _exercise_title(cell.source)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if "solution" in tags:
                cell.source = stub_solution(cell.source, title)
                cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t not in ("solution", "hide-cell")] + ["exercise-stub"]
        cells.append(cell)
    nb.cells = cells
    return nb


def build(source_dir="notebooks", out_dir="student") -> list[Path]:
    """Write the student version of every notebook in ``source_dir`` to ``out_dir``."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(source_dir.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        target = out_dir / path.name
        nbformat.write(student_notebook(nb), target)
        written.append(target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m digitlib.assignments", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the student versions")
    b.add_argument("--source", default="notebooks")
    b.add_argument("--out", default="student")
    args = parser.parse_args(argv)
    for path in build(args.source, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
