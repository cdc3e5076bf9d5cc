"""Grading a class: a folder of fake submissions is executed and its CSV says who passed what.

One grading run (module fixture, two workers) covers: a right answer, a wrong one (with an untouched
stub), one whose cell raises before its check, one that runs past the time limit in a student folder,
and two files that are not notebooks. The other tests need no kernel.
"""
import csv
import io
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from digitlib import checks, grading
from digitlib.execution import NotebookFailed, NotebookStalled
from digitlib.grading import (NotANotebook, Submission, check_results, find_submissions, grade_submission,
                              grades_table, main, read_notebook, read_records, record_checks, verdict)

LIMIT = 30  # s per notebook in the grading run: the sleeper runs into it, the others take ~5-15 s

RIGHT_DECODE = "def my_decode(digits):\n    return ''.join(str(int(d)) for d in digits if int(d) != 10)"
WRONG_DECODE = "def my_decode(digits):\n    return ''.join(str(int(d)) for d in digits)  # keeps the blanks"
RIGHT_IOU = ("def my_iou(a, b):\n"
             "    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))\n"
             "    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))\n"
             "    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h\n"
             "    return w * h / union")
STUB_IOU = "def my_iou(a, b):\n    # YOUR CODE HERE\n    raise NotImplementedError('Exercise 6.1: not done yet.')"
CHECK_DECODE = "from digitlib.checks import check_decode\n\ncheck_decode(my_decode);"
CHECK_IOU = "from digitlib.checks import check_iou\n\ncheck_iou(my_iou);"
CRASH = "digits = load_my_data()  # not defined anywhere\n"


def _cell(source, *tags):
    return new_code_cell(source, metadata={"tags": list(tags)} if tags else {})


def _homework(decode, iou, before=""):
    """A small assignment in the book's format: two exercises, each with its autocheck cell."""
    nb = new_notebook(cells=[
        new_markdown_cell("```{admonition} Exercise: 1.2 Reading a label\n```", metadata={"tags": ["exercise"]}),
        _cell(before + decode, "solution"),
        _cell(CHECK_DECODE, "autocheck"),
        new_markdown_cell("```{admonition} Exercise: 6.1 Intersection over union\n```",
                          metadata={"tags": ["exercise"]}),
        _cell(iou, "solution"),
        _cell(CHECK_IOU, "autocheck"),
    ])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade a folder of fake submissions with the command; returns (folder, {student: CSV row}, header)."""
    folder = tmp_path_factory.mktemp("submissions")
    nbformat.write(_homework(RIGHT_DECODE, RIGHT_IOU), folder / "bob.ipynb")
    nbformat.write(_homework(WRONG_DECODE, STUB_IOU), folder / "cleo.ipynb")
    nbformat.write(_homework(RIGHT_DECODE, RIGHT_IOU, before=CRASH), folder / "dan.ipynb")
    (folder / "eve.ipynb").write_text("this is not JSON")
    (folder / "notes.txt").write_text("not a notebook either")
    # a student folder: her helper module comes along; she passes one check, then sleeps past the limit
    (folder / "ada").mkdir()
    (folder / "ada" / "helper.py").write_text(RIGHT_DECODE.replace("my_decode", "decode") + "\n")
    sleeper = _homework("from helper import decode as my_decode\nopen('scratch.txt', 'w').write('x')",
                        "import time\ntime.sleep(600)\n" + RIGHT_IOU)
    nbformat.write(sleeper, folder / "ada" / "homework.ipynb")
    out = folder / "grades.csv"  # inside the folder, like the executed notebooks: neither is graded
    assert main([str(folder), "--out", str(out), "--timeout", str(LIMIT), "--workers", "2",
                 "--stall-seconds", "600", "--executed", str(folder / "executed")]) == 0
    with open(out, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    return folder, {row["student"]: row for row in rows}, reader.fieldnames


def _checks(row):
    return row["check_decode"], row["check_iou"], row["total"], row["out_of"]


def test_the_csv_has_one_row_per_submission_and_one_column_per_check(graded):
    _, rows, header = graded
    assert header == ["student", "notebook", "status", "detail", "seconds", "check_decode", "check_iou",
                      "total", "out_of"]
    assert list(rows) == ["ada", "bob", "cleo", "dan", "eve", "notes"]  # sorted; grades.csv is not a row
    assert all(float(row["seconds"]) >= 0 for row in rows.values())


def test_a_right_answer_passes_every_check(graded):
    row = graded[1]["bob"]
    assert (row["notebook"], row["status"], row["detail"]) == ("bob.ipynb", "ok", "")
    assert _checks(row) == ("pass", "pass", "2", "2")


def test_executed_notebooks_are_kept_with_outputs_and_without_the_graders_cell(graded):
    folder = graded[0]
    assert sorted(p.name for p in (folder / "executed").iterdir()) == ["bob.ipynb", "cleo.ipynb", "dan.ipynb"]
    bob = nbformat.read(folder / "executed" / "bob.ipynb", as_version=4)
    assert [c.source for c in bob.cells] == [c.source for c in _homework(RIGHT_DECODE, RIGHT_IOU).cells]
    assert bob.cells[2].outputs[0].text.startswith("PASS decode a label")


def test_a_wrong_answer_fails_and_an_untouched_stub_is_todo(graded):
    row = graded[1]["cleo"]
    assert (row["status"], row["detail"]) == ("ok", "")  # a failed check is not an error of the notebook
    assert _checks(row) == ("fail", "todo", "0", "2")


def test_a_cell_that_raises_breaks_its_check_and_the_rest_still_runs(graded):
    row = graded[1]["dan"]  # his decode cell raises before my_decode is defined; his IoU is right
    assert row["status"] == "cell error"
    assert row["detail"] == ("cell 2 ('digits = load_my_data()  # not defined anywhere') raised NameError: "
                             "name 'load_my_data' is not defined")
    assert _checks(row) == ("error", "pass", "1", "2")


def test_files_that_are_not_notebooks_are_rows_with_the_reason(graded):
    rows = graded[1]
    assert (rows["eve"]["status"], rows["eve"]["detail"]) == ("not a notebook", "not JSON (Expecting value at line 1)")
    assert (rows["notes"]["notebook"], rows["notes"]["status"]) == ("notes.txt", "not a notebook")
    assert _checks(rows["eve"]) == _checks(rows["notes"]) == ("missing", "missing", "0", "2")


def test_the_time_limit_stops_a_notebook_and_keeps_the_checks_passed_before(graded):
    folder, rows, _ = graded
    row = rows["ada"]
    assert (row["notebook"], row["status"]) == ("homework.ipynb", "timed out")
    assert f"hard limit of {LIMIT} s" in row["detail"] and "time.sleep(600)" not in row["detail"]
    assert "at cell 5 ('import time')" in row["detail"]  # counted from 1, as in her notebook
    assert LIMIT <= float(row["seconds"]) < LIMIT + 20
    assert _checks(row) == ("pass", "missing", "1", "2")
    assert not (folder / "ada" / "scratch.txt").exists()  # it ran in a copy of her folder


# --------------------------------------------------------------------------- no kernel from here on

def test_bad_folders_are_refused_with_a_clear_message(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_submissions(tmp_path / "nowhere")
    (tmp_path / "file.ipynb").write_text("{}")
    with pytest.raises(NotADirectoryError, match="is a file"):
        find_submissions(tmp_path / "file.ipynb")
    (tmp_path / "empty" / ".ipynb_checkpoints").mkdir(parents=True)
    with pytest.raises(ValueError, match="nothing to grade"):
        find_submissions(tmp_path / "empty")
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(ValueError, match="timeout"):
        grading.grade_folder(tmp_path, timeout=0)


def test_students_are_named_by_file_or_folder(tmp_path):
    for path in ["alice.ipynb", "bob/hw1.ipynb", "bob/extra/hw2.ipynb", "bob/data.csv",
                 "bob/.ipynb_checkpoints/hw1-checkpoint.ipynb", "carl/readme.md", ".hidden.ipynb",
                 "__MACOSX/alice.ipynb", "grades.csv"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("{}")
    found = [(s.student, s.notebook, s.assignment) for s in find_submissions(tmp_path, [tmp_path / "grades.csv"])]
    assert found == [("alice", "alice.ipynb", ""), ("bob", "extra/hw2.ipynb", "extra/hw2.ipynb"),
                     ("bob", "hw1.ipynb", "hw1.ipynb"), ("carl", "", "")]
    carl = grade_submission(Submission("carl", "", tmp_path / "carl", tmp_path / "carl"))
    assert (carl.status, carl.detail) == ("no notebook", "no .ipynb file in carl/")


@pytest.mark.parametrize("content, reason", [
    (b"print('hello')", "not JSON"),
    (b"\x89PNG\r\n\x1a\n\x00\xff", "not a text file"),
    (b'{"cells": []}', "JSON, but not a notebook"),
    (b"[1, 2]", "JSON, but not a notebook"),
])
def test_unreadable_notebooks_say_why(tmp_path, content, reason):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotANotebook, match=reason):
        read_notebook(path)


def test_the_recorder_records_what_each_check_reported_not_what_was_printed(tmp_path, monkeypatch, capsys):
    for name in grading.check_names():  # restored after the test
        monkeypatch.setattr(checks, name, getattr(checks, name))
    path = tmp_path / "checks.jsonl"
    record_checks(path)
    record_checks(path)  # a second call must not wrap twice
    namespace = {}
    exec(RIGHT_DECODE + "\n" + WRONG_DECODE.replace("my_decode", "wrong") + "\n" + STUB_IOU, namespace)
    print("PASS intersection over union: matches the reference on fresh random inputs.")  # a fake
    assert checks.check_decode(namespace["wrong"]) is False
    assert checks.check_iou(namespace["my_iou"]) is False
    assert checks.check_decode(namespace["my_decode"]) is True
    with pytest.raises(TypeError):
        checks.check_iou()  # the check itself raises
    assert "PASS decode a label" in capsys.readouterr().out  # the student still sees the messages
    assert read_records(path) == [{"check": "check_decode", "status": "fail"},
                                  {"check": "check_iou", "status": "todo"},
                                  {"check": "check_decode", "status": "pass"},
                                  {"check": "check_iou", "status": "error"}]
    assert check_results(["check_decode", "check_iou", "check_softmax"], read_records(path)) == {
        "check_decode": "pass", "check_iou": "error", "check_softmax": "missing"}  # the last call counts


def test_the_graders_cell_keeps_an_old_notebook_valid(tmp_path):
    for minor in (4, 5):
        nb = _homework(RIGHT_DECODE, RIGHT_IOU)
        nb.nbformat_minor = minor
        if minor == 4:
            for cell in nb.cells:
                del cell["id"]
        graded = grading.with_recorder(nb, tmp_path / "r.jsonl")
        nbformat.validate(graded)
        assert graded.cells[0].metadata.tags == ["grader"] and len(graded.cells) == len(nb.cells) + 1
        assert "record_checks" in graded.cells[0].source and "record_checks" not in nb.cells[0].source


def test_verdict_trusts_the_return_value_and_the_checks_own_last_line():
    assert verdict(True, "") == "pass"
    assert verdict(False, "PASS (printed by the student's function)\nFAIL decode a label: ...") == "fail"
    assert verdict(False, "TODO decode a label: not done yet") == "todo"
    assert verdict(None, "") == "fail"


def test_a_cut_short_record_file_is_read_without_its_last_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"check": "check_iou", "status": "pass"}) + "\n{\"check\": \"check_dec")
    assert read_records(path) == [{"check": "check_iou", "status": "pass"}]
    assert read_records(tmp_path / "none.jsonl") == []


@pytest.mark.parametrize("error, status", [
    (NotebookFailed("bob.ipynb: the executing process exited with code 1"), "crashed"),
    (NotebookStalled("bob.ipynb: no progress for 90 s, kernel idle at cell 3 ('x'); killed its kernel"), "stalled"),
])
def test_a_dead_or_stalled_kernel_is_recorded_and_a_stall_is_run_once_more(tmp_path, monkeypatch, error, status):
    calls = []

    def fake_execute(nb, cwd, **kwargs):
        calls.append(kwargs["timeout"])
        raise error

    monkeypatch.setattr(grading, "execute_notebook", fake_execute)
    path = tmp_path / "bob.ipynb"
    nbformat.write(_homework(RIGHT_DECODE, RIGHT_IOU), path)
    grade = grade_submission(Submission("bob", "bob.ipynb", path), timeout=100, log=lambda m: None)
    assert grade.status == status
    assert grade.detail == {"crashed": "the kernel died or did not start (the executing process exited with code 1)",
                            "stalled": "no progress for 90 s, kernel idle at cell 3 ('x')"}[status]
    assert grade.checks == {"check_decode": "missing", "check_iou": "missing"}
    assert len(calls) == (2 if status == "stalled" else 1) and all(0 < t <= 100 for t in calls)


def test_check_columns_belong_to_their_assignment():
    grades = [grading.Grade("ann", "hw1.ipynb", "hw1.ipynb", "ok", checks={"check_decode": "pass"}),
              grading.Grade("ann", "hw6.ipynb", "hw6.ipynb", "ok",
                            checks={"check_iou": "fail", "check_scale_box": "pass"}),
              grading.Grade("ben", "hw6.ipynb", "hw6.ipynb", "not a notebook", "not JSON")]
    table = grades_table(grades)
    text = io.StringIO()
    table.to_csv(text, index=False)
    assert text.getvalue().splitlines() == [
        "student,notebook,status,detail,seconds,check_decode,check_iou,check_scale_box,total,out_of",
        "ann,hw1.ipynb,ok,,0.0,pass,,,1,1",
        "ann,hw6.ipynb,ok,,0.0,,fail,pass,1,2",
        "ben,hw6.ipynb,not a notebook,not JSON,0.0,,missing,missing,0,2",
    ]
