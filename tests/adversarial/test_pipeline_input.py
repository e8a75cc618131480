"""Hostile input to the grading pipeline itself (not the kernel): assignment names, notebook text
built to defeat the grader's parsers, deep scratch trees, markup in messages.

Each must end in a report (exit 0, no traceback) in bounded time and memory.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from rich.console import Console

from grader.cli import main
from grader.notebook import cell_marks, defined_names, mark_line_names
from grader.render import render_report
from grader.report import CellRecord, CheckResult, GradeReport, Submission
from grader.scratch import remove_tree
from tests.helpers import ROOT, grade, stub, write


def setup_only(name: str = "hw3") -> nbformat.NotebookNode:
    nb = stub(name)
    nb.cells = nb.cells[:2]  # the setup cell only: fast
    return nb


def grade_cli(tmp_path: Path, nb: nbformat.NotebookNode, *args: str, file_name: str = "submission.ipynb",
              capsys=None) -> GradeReport:
    """Through `grade` itself (a kernel of its own: slower, so used where the CLI path matters)."""
    out = tmp_path / "report.json"
    assert main([str(write(nb, tmp_path / file_name)), "-o", str(out), *args]) == 0
    if capsys is not None:
        captured = capsys.readouterr()
        assert "Traceback" not in captured.out + captured.err
    return GradeReport.model_validate_json(out.read_text())


def graded(tmp_path: Path, nb: nbformat.NotebookNode, file_name: str = "submission.ipynb", **options) -> GradeReport:
    """In-process with a forked kernel, as bulk grading does."""
    return grade(nb, tmp_path, name=file_name, **options)


# --- the assignment name is never a path -----------------------------------------------------------

def planted_checks(tmp_path: Path) -> tuple[Path, Path]:
    """A checks.py outside the course that would leave a marker if the grader ever imported it."""
    evil = tmp_path / "evil"
    evil.mkdir()
    marker = tmp_path / "imported"
    (evil / "checks.py").write_text(f"open({str(marker)!r}, 'w').write('pwned')\n")
    return evil, marker


@pytest.mark.parametrize("style", ["relative", "absolute", "dotted"])
def test_a_metadata_name_that_is_a_path_is_never_imported(tmp_path, style, capsys):
    evil, marker = planted_checks(tmp_path)
    name = {"relative": os.path.relpath(evil, ROOT / "assignments"), "absolute": str(evil),
            "dotted": "hw3/../../" + os.path.relpath(evil, ROOT)}[style]
    nb = setup_only()
    nb.metadata["grader"] = {"assignment": name}
    report = grade_cli(tmp_path, nb, capsys=capsys)
    assert not marker.exists()
    assert report.status == "error" and "cannot be used" in report.errors[0] and "--assignment" in report.errors[0]
    # With --assignment, the notebook is graded as that, and the disagreement is a warning.
    report = graded(tmp_path, nb, assignment="hw3")
    assert not marker.exists()
    assert report.status == "graded" and report.assignment == "hw3"
    assert any("--assignment" in w for w in report.warnings)


@pytest.mark.parametrize("name", ["a" * 5000, "hw3\x1b[2J", "hw3 ", "", "HW3", "__pycache__", "hw3\nhw2"])
def test_odd_metadata_names_get_a_report(tmp_path, name, capsys):
    nb = setup_only()
    nb.metadata["grader"] = {"assignment": name}
    report = grade_cli(tmp_path, nb, capsys=capsys)
    assert report.status == "error" and report.max_score == 0
    assert len(report.errors[0]) < 600 and "\x1b" not in report.errors[0]
    # ... and the file name still tells the assignment when it can.
    report = graded(tmp_path, nb, file_name="hw3_bob.ipynb")
    assert report.status == "graded" and report.assignment == "hw3" and report.warnings


@pytest.mark.parametrize("value", [{"nested": "hw3"}, 3, ["hw3"], None])
def test_metadata_that_is_not_a_string_is_ignored(tmp_path, value):
    nb = setup_only()
    nb.metadata["grader"] = {"assignment": value}
    report = graded(tmp_path, nb, file_name="hw3.ipynb")
    assert report.status == "graded" and report.assignment == "hw3"


def test_a_too_long_assignment_option_is_a_report(tmp_path, capsys):
    report = grade_cli(tmp_path, setup_only(), "--assignment", "x" * 100_000, capsys=capsys)
    assert report.status == "error" and "not a valid assignment name" in report.errors[0]


# --- parsing student text takes linear time and cannot exhaust the recursion limit -----------------

PATHOLOGICAL_MARKS = [
    "#| grade:" + " " * 50_000 + "!",  # backtracked for minutes with the old regex
    "#| grade: " + "a " * 50_000 + "!",
    "#|" + " \t" * 50_000,
    "#| grade: " + "softmax," * 50_000,
]


@pytest.mark.parametrize("line", PATHOLOGICAL_MARKS, ids=["spaces", "words", "tabs", "commas"])
def test_mark_parsing_is_linear_on_pathological_lines(line):
    cell = nbformat.v4.new_code_cell(line + "\n" + line)
    started = time.perf_counter()
    cell_marks(cell)
    assert time.perf_counter() - started < 0.5


def test_marks_are_still_read():
    cell = nbformat.v4.new_code_cell("x = 1\n  #|  grade: softmax, cross_entropy  \n#| grade: accuracy")
    assert cell_marks(cell) == ["softmax", "cross_entropy", "accuracy"]
    assert mark_line_names("#| grade: soft-max!") is None
    assert mark_line_names("# grade: softmax") is None


DEEP_SOURCES = {
    "binop": "x = 1" + " + 1" * 100_000,
    "unary": "x = " + "-" * 200_000 + "1",
    "not": "x = " + "not " * 100_000 + "True",
}


@pytest.mark.parametrize("kind", sorted(DEEP_SOURCES))
def test_a_deeply_nested_cell_is_graded_not_a_traceback(tmp_path, kind, capsys):
    assert defined_names(DEEP_SOURCES[kind]) == set()
    nb = setup_only()
    # Unmarked, so the grader parses it while looking for the graded functions' definitions.
    nb.cells.append(nbformat.v4.new_code_cell(DEEP_SOURCES[kind]))
    report = grade_cli(tmp_path, nb, "--assignment", "hw3", capsys=capsys) if kind == "binop" else graded(tmp_path, nb, assignment="hw3")
    assert report.status == "graded" and report.max_score == 18


def test_deeply_nested_notebook_metadata_gets_a_report(tmp_path, capsys):
    nesting = "[" * 5000 + "]" * 5000
    text = nbformat.writes(setup_only()).replace('"metadata": {', f'"metadata": {{"deep": {nesting}, ', 1)
    path = tmp_path / "hw3.ipynb"
    path.write_text(text)
    out = tmp_path / "r.json"
    assert main([str(path), "-o", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert GradeReport.model_validate_json(out.read_text()).assignment == "hw3"


# --- cleanup never raises ------------------------------------------------------------------------------

def build_deep_tree(root: Path, depth: int) -> None:
    fd = os.open(root, os.O_RDONLY)
    for i in range(depth):
        os.mkdir("d", dir_fd=fd)
        os.close(os.open("f", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
        inner = os.open("d", os.O_RDONLY, dir_fd=fd)
        if i % 500 == 499:
            os.chmod(fd, 0)  # an unreadable folder on the way down
        os.close(fd)
        fd = inner
    os.close(fd)


def test_a_scratch_tree_too_deep_for_recursion_or_paths_is_removed(tmp_path):
    root = tmp_path / "scratch"
    root.mkdir()
    build_deep_tree(root, 5000)  # deeper than the recursion limit, longer than PATH_MAX
    assert remove_tree(root) is True
    assert not root.exists()


def test_a_notebook_that_builds_a_deep_scratch_tree_gets_a_report(tmp_path, capsys, monkeypatch):
    nb = setup_only()
    nb.cells.append(nbformat.v4.new_code_cell(
        "import os\nfd = os.open('.', os.O_RDONLY)\n"
        "for i in range(3000):\n"
        "    os.mkdir('d', dir_fd=fd); nxt = os.open('d', os.O_RDONLY, dir_fd=fd); os.close(fd); fd = nxt\n"
        "os.close(fd)\n"))
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    report = grade_cli(tmp_path, nb, "--assignment", "hw3", capsys=capsys)
    assert report.status == "graded" and report.cells[-1].status == "ok"
    assert list(private_tmp.iterdir()) == []


# --- everything from a report is printed literally ----------------------------------------------

HOSTILE_TEXTS = ["[/]", "[bold]x[/bold]", "y_hat[range(len(y_hat)), y]", "Y[i, j] = (X[i:i + k, j:j + k] * K).sum()",
                 "[link=file:///etc/passwd]click[/link]", "[red on red]hidden[/]"]


def rendered(report: GradeReport, width: int = 400) -> str:
    buffer = io.StringIO()
    render_report(report, Console(file=buffer, width=width, force_terminal=True, color_system=None, highlight=False))
    return buffer.getvalue()


def hostile_report(text: str, status: str = "graded") -> GradeReport:
    return GradeReport(
        assignment=f"hw3{text}", score=0, max_score=2, status=status, grader_version="t",
        submission=Submission(path=f"sub{text}.ipynb"),
        tests=[CheckResult(name=f"check {text}", score=0, max_score=2, status="failed", message=f"msg {text}")],
        errors=[f"err {text}"], warnings=[f"warn {text}"],
        cells=[CellRecord(index=1, status="error", error=f"ValueError: {text}")],
    )


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
@pytest.mark.parametrize("status", ["graded", "error"])
def test_markup_in_any_report_string_is_printed_literally(text, status):
    out = rendered(hostile_report(text, status))
    for prefix in (["msg ", "check ", "warn ", "err ", "hw3", "sub"] if status == "graded" else ["err ", "hw3", "sub"]):
        assert f"{prefix}{text}" in out, (prefix, out)


def test_escape_sequences_and_control_characters_never_reach_the_terminal():
    text = "A\x1b[2J\x1b[1;1HScore: 18 / 18\x1b]0;title\x07\rB\x00\x7f\x9bC"
    report = hostile_report(text)
    assert "\x1b" not in report.tests[0].message and "\r" not in report.errors[0]
    # A report read from disk by an older grader may still hold them: rendering strips them too.
    raw = report.model_copy(update={"errors": [text]})
    object.__setattr__(raw.tests[0], "message", text)
    out = rendered(raw)
    assert "\x1b[2J" not in out and "\x1b]0" not in out and "\r" not in out and "\x00" not in out
    assert "AScore: 18 / 18BC" in out


def test_huge_messages_are_capped_in_the_report_and_the_terminal():
    huge = "x" * 5_000_000
    report = hostile_report(huge)
    assert len(report.tests[0].message) < 3000 and "truncated" in report.tests[0].message
    assert len(report.cells[0].error or "") < 3000
    started = time.perf_counter()
    out = rendered(report, width=120)
    assert time.perf_counter() - started < 5 and len(out) < 100_000


# --- the kernel's environment is built in one place, without secrets ----------------------------

def test_kernel_and_zygote_environments_carry_no_secret(tmp_path, monkeypatch):
    from grader.grade import KERNEL_VARIABLES, kernel_environment, zygote_environment

    monkeypatch.setenv("GRADER_TEST_API_TOKEN", "s3cret")
    monkeypatch.setenv("MY_PASSWORD", "hunter2")
    for env in (kernel_environment(tmp_path), zygote_environment(jobs=2)):
        assert "s3cret" not in env.values() and "hunter2" not in env.values()
        assert KERNEL_VARIABLES.items() <= env.items()
    assert kernel_environment(tmp_path)["HOME"] == str(tmp_path)


def test_hostile_inputs_get_the_same_reports_in_bulk_mode(tmp_path, capsys):
    import csv

    subs = tmp_path / "subs"
    long_name = setup_only()
    long_name.metadata["grader"] = {"assignment": "../" * 2000 + "x"}
    write(long_name, subs / "long_name.ipynb")
    marks = setup_only()
    marks.cells.append(nbformat.v4.new_code_cell(PATHOLOGICAL_MARKS[0]))
    write(marks, subs / "hw3_marks.ipynb")
    deep = setup_only()
    deep.cells.append(nbformat.v4.new_code_cell(DEEP_SOURCES["binop"]))
    write(deep, subs / "hw3_deep.ipynb")
    (subs / "hw3_broken.ipynb").write_text("{ not json")
    assert main([str(subs), "-o", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    rows = {r["submission"]: r for r in csv.DictReader((tmp_path / "out" / "grades.csv").open())}
    assert rows["long_name.ipynb"]["status"] == "error" and "cannot be used" in rows["long_name.ipynb"]["reason"]
    assert rows["hw3_marks.ipynb"]["status"] == rows["hw3_deep.ipynb"]["status"] == "graded"
    assert rows["hw3_broken.ipynb"]["status"] == "error" and rows["hw3_broken.ipynb"]["max_score"] == "18.0"
