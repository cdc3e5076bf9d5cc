"""Student versions: generated from the instructor notebooks, and they fail only at the stubs."""
import json
import re

import nbformat
import pytest

from conftest import ROOT
from digitlib.assignments import BEGIN, END, build, stub_solution

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MEMORY_LIMIT = 2 * 1024 ** 3  # Binder's usual limit


def _tags(cell):
    return set(cell.metadata.get("tags", []))


def test_stub_keeps_the_signature_and_raises_with_the_hint():
    source = "def f(x):\n    # HINT: add one\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"
    stub = stub_solution(source, "9.9 Plus one")
    assert "return x + 1" not in stub and "def f(x):" in stub
    namespace = {}
    exec(stub, namespace)
    with pytest.raises(NotImplementedError, match="Exercise 9.9 Plus one: not done yet. add one"):
        namespace["f"](1)


def test_solution_without_markers_is_refused():
    with pytest.raises(ValueError, match="needs one"):
        stub_solution("x = 1\n", "1.1")
    with pytest.raises(ValueError):
        stub_solution(f"{BEGIN}\nx = 1\n", "1.1")
    with pytest.raises(ValueError):
        stub_solution(f"x = 1\n{END}\n", "1.1")


def test_every_chapter_has_exercises_with_checked_or_stubbed_solutions():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        exercises = [c for c in nb.cells if "exercise" in _tags(c)]
        assert 2 <= len(exercises) <= 4, f"{path.name}: {len(exercises)} exercises"
        for cell in nb.cells:
            if "solution" in _tags(cell):
                assert BEGIN in cell.source and END in cell.source, path.name
                assert "hide-cell" in _tags(cell), f"{path.name}: solutions must be hidden behind a click"


def _exercises(nb):
    """``[(title, [the cells after its text, up to the next exercise or heading])]`` of a notebook."""
    exercises = []
    for cell in nb.cells:
        if "exercise" in _tags(cell):
            exercises.append((re.search(r"Exercise:\s*([^\n]+)", cell.source).group(1).strip(), []))
        elif exercises and cell.cell_type == "markdown" and cell.source.startswith("#"):
            break
        elif exercises:
            exercises[-1][1].append(cell)
    return exercises


def test_every_exercise_has_a_hidden_solution_and_the_guide_lists_its_check():
    from digitlib import checks

    guide = (ROOT / "book" / "assignments.md").read_text().splitlines()
    for path in NOTEBOOKS:
        for title, cells in _exercises(nbformat.read(path, as_version=4)):
            assert any("solution" in _tags(c) for c in cells), f"{path.name}: exercise {title} has no solution"
            called = [name for c in cells if "autocheck" in _tags(c) for name in re.findall(r"(check_\w+)\(", c.source)]
            assert all(callable(getattr(checks, name, None)) for name in called), (title, called)
            row = next((line for line in guide if line.startswith(f"| {title} |")), None)
            assert row, f"the assignment guide has no row for exercise {title}"
            assert all(f"`{name}`" in row for name in called) if called else "none: read it" in row, row


def test_student_versions_have_no_solutions_and_no_instructor_cells(tmp_path):
    written = build(ROOT / "notebooks", tmp_path)
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    for instructor_path, student_path in zip(NOTEBOOKS, written):
        teacher = nbformat.read(instructor_path, as_version=4)
        student = nbformat.read(student_path, as_version=4)
        assert BEGIN not in json.dumps(student.cells)
        solutions = [c for c in teacher.cells if "solution" in _tags(c)]
        stubs = [c for c in student.cells if "exercise-stub" in _tags(c)]
        assert len(stubs) == len(solutions)
        assert not any(_tags(c) & {"remove-cell", "instructor"} for c in student.cells)
        assert all(c.get("outputs", []) == [] for c in student.cells if c.cell_type == "code")
        for sol in solutions:  # the body of every solution is gone
            body = sol.source.split(BEGIN, 1)[1].split(END, 1)[0].strip().splitlines()[0].strip()
            assert body not in "\n".join(c.source for c in stubs)


def _every_chapter_model_is_trained() -> bool:
    from digitlib.config import active_profile, results_home
    from digitlib.experiments import book_experiments, chapter_experiments

    profile, exps = active_profile(), book_experiments()
    return all((results_home() / exps[name].key(profile) / "result.json").exists()
               for names in chapter_experiments(profile).values() for name in names)


@pytest.fixture(scope="module")
def student_runs():
    """Every student notebook executed top to bottom under the stall watchdog, errors allowed.
    When every chapter's model is already trained (`make test` builds the book first), nothing
    trains, so two notebooks run at a time: the kernels' start-up, data loading and plotting use
    one core each. Otherwise one at a time, so that no kernel waits, idle, on another's training
    (the watchdog would take that for a stall)."""
    from concurrent.futures import ThreadPoolExecutor

    from digitlib.execution import execute_notebook

    def run(path):
        return execute_notebook(build_one(path), ROOT / "notebooks", allow_errors=True,
                                label=f"student version of {path.name}")

    with ThreadPoolExecutor(max_workers=2 if _every_chapter_model_is_trained() else 1) as pool:
        futures = {path.name: pool.submit(run, path) for path in NOTEBOOKS}
        return {name: future.exception() or future.result() for name, future in futures.items()}


@pytest.mark.book
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_version_fails_only_at_the_stubs_and_fits_binder(path, student_runs):
    """Run the student notebook top to bottom (under the stall watchdog), errors allowed: every
    error must come from a stub, every autocheck must report the exercise as not done, and the
    kernel stays under 2 GB."""
    run = student_runs[path.name]
    if isinstance(run, Exception):
        raise run
    student, peak = run.notebook, run.peak_memory
    for cell in student.cells:
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        for err in errors:
            assert "exercise-stub" in _tags(cell), f"{path.name}: error outside a stub: {err.ename}: {err.evalue}\n{cell.source}"
            assert err.ename == "NotImplementedError" and err.evalue.startswith("Exercise"), err.evalue
        if "autocheck" in _tags(cell):
            text = "".join(o.get("text", "") for o in cell.outputs)
            assert text.startswith("TODO"), f"{path.name}: autocheck did not report the stub: {text!r}"
    record = ROOT / "_build" / "memory"  # kept for the README's table of peak memory per notebook
    record.mkdir(parents=True, exist_ok=True)
    (record / f"{path.stem}.txt").write_text(f"{peak / 2 ** 20:.0f}\n")
    print(f"{path.name}: peak kernel memory {peak / 2 ** 20:.0f} MiB")
    assert peak < MEMORY_LIMIT, f"{path.name} peaked at {peak / 2 ** 30:.2f} GiB, over Binder's 2 GB"


def build_one(path):
    from digitlib.assignments import student_notebook

    return student_notebook(nbformat.read(path, as_version=4))
