"""The `grade` command: malformed input, exit codes, JSON report and its schema."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from grader.cli import main
from grader.notebook import cell_marks
from grader.report import GradeReport, report_schema
from tests.helpers import ROOT, solution, stub, with_cells, write

GRADE = [sys.executable, "-m", "grader.cli"]


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(GRADE + args, capture_output=True, text=True, cwd=ROOT, timeout=300)


MALFORMED = {
    "not-json.ipynb": b"this is not a notebook",
    "empty.ipynb": b"",
    "binary.ipynb": bytes(range(256)) * 4,
    "json-but-not-notebook.ipynb": b'{"hello": "world"}',
    "no-cells.ipynb": json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}).encode(),
    "old-format.ipynb": json.dumps({"nbformat": 2, "worksheets": []}).encode(),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_notebook_gets_a_zero_report_and_a_reason(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(MALFORMED[name])
    out = tmp_path / "r.json"
    result = run([str(path), "--assignment", "hw3", "-o", str(out)])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    report = GradeReport.model_validate_json(out.read_text())
    assert report.status == "error" and report.score == 0
    assert len(report.errors) == 1 and "\n" not in report.errors[0] and name in report.errors[0]


def test_a_missing_path_is_a_usage_error_and_a_folder_needs_an_output_dir(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main([str(tmp_path / "nope.ipynb"), "-o", str(out), "--json"]) == 2
    assert "no such file" in capsys.readouterr().err and not out.exists()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.ipynb").write_text("{}")
    assert main([str(tmp_path), "--json"]) == 2  # a folder is bulk grading: it needs -o OUTDIR


def test_a_folder_without_notebooks_says_so_and_exits_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a notebook")
    assert main([str(tmp_path / "empty"), "-o", str(tmp_path / "out")]) == 2
    assert "no notebooks" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["--assignment", "file name"])
def test_a_broken_notebook_of_a_known_assignment_reports_its_max_score(tmp_path, how):
    path = tmp_path / ("hw3_alice.ipynb" if how == "file name" else "submission.ipynb")
    path.write_bytes(b"{ this is not json")
    out = tmp_path / "r.json"
    args = [str(path), "-o", str(out)] + (["--assignment", "hw3"] if how == "--assignment" else [])
    assert main(args) == 0
    report = GradeReport.model_validate_json(out.read_text())
    assert report.status == "error" and report.assignment == "hw3"
    assert report.max_score == 18 and report.score == 0 and report.percent == 0


def test_assignment_option_wins_over_metadata_with_a_warning(tmp_path):
    nb = stub("hw3")
    nb.metadata["grader"] = {"assignment": "hw2"}
    nb.cells = nb.cells[:2]  # the setup cell only: fast
    out = tmp_path / "r.json"
    assert main([str(write(nb, tmp_path / "hw2.ipynb")), "--assignment", "hw3", "-o", str(out)]) == 0
    report = GradeReport.model_validate_json(out.read_text())
    assert report.assignment == "hw3" and report.status == "graded" and report.max_score == 18
    assert any("'hw2'" in w and "--assignment" in w for w in report.warnings), report.warnings


def test_an_unknown_assignment_option_is_a_report_that_names_the_known_ones(tmp_path):
    out = tmp_path / "r.json"
    assert main([str(write(stub("hw3"), tmp_path / "x.ipynb")), "--assignment", "hw99", "-o", str(out)]) == 0
    report = GradeReport.model_validate_json(out.read_text())
    assert report.status == "error" and "unknown assignment 'hw99'" in report.errors[0] and "hw3" in report.errors[0]


def test_unknown_assignment_is_a_zero_report(tmp_path):
    nb = solution("hw3")
    nb.metadata["grader"] = {"assignment": "hw99"}
    out = tmp_path / "r.json"
    assert main([str(write(nb, tmp_path / "x.ipynb")), "-o", str(out)]) == 0
    report = GradeReport.model_validate_json(out.read_text())
    assert report.status == "error" and "unknown assignment 'hw99'" in report.errors[0]


def test_assignment_from_file_name_when_metadata_is_absent(tmp_path):
    nb = stub("hw3")
    del nb.metadata["grader"]
    nb.cells = nb.cells[:2]  # the setup cell only: fast
    out = tmp_path / "r.json"
    assert main([str(write(nb, tmp_path / "HW3_alice.ipynb")), "-o", str(out)]) == 0
    assert GradeReport.model_validate_json(out.read_text()).assignment == "hw3"


def test_usage_errors_exit_2():
    assert run([]).returncode == 2
    assert run(["x.ipynb", "--timeout", "-1"]).returncode == 2
    assert run(["x.ipynb", "--fail-under", "150"]).returncode == 2
    assert run(["x.ipynb", "--device", "tpu"]).returncode == 2


def test_schema_is_printed_and_reports_validate_against_it(tmp_path):
    result = run(["--schema"])
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema == json.loads(json.dumps(report_schema()))
    out = tmp_path / "r.json"
    graded = run([str(ROOT / "solutions" / "hw3.ipynb"), "-o", str(out), "--fail-under", "100"])
    assert graded.returncode == 0, graded.stdout + graded.stderr
    data = json.loads(out.read_text())
    jsonschema.validate(data, schema)
    for key in ("assignment", "score", "max_score", "tests", "submission", "device", "duration_s", "grader_version", "errors"):
        assert key in data
    assert data["submission"]["sha256"] and data["device"] == "cpu"
    assert "18 / 18" in graded.stdout


def test_fail_under_exits_1_below_threshold(tmp_path):
    nb = stub("hw3")
    out = tmp_path / "r.json"
    result = run([str(write(nb, tmp_path / "hw3.ipynb")), "-o", str(out), "--fail-under", "60", "--json"])
    assert result.returncode == 1
    printed = json.loads(result.stdout)
    assert printed["score"] == 0 and printed == json.loads(out.read_text())


def copy_course(dest: Path, names: tuple[str, ...] = ("hw3",)) -> Path:
    """A course folder of one's own (no solutions/): what a student or a new author has."""
    for name in names:
        shutil.copytree(ROOT / "assignments" / name, dest / "assignments" / name)
    return dest


def test_offline_hidden_checks_are_pending_not_lost(tmp_path):
    course = copy_course(tmp_path / "course")
    out = tmp_path / "r.json"
    result = run([str(ROOT / "solutions" / "hw3.ipynb"), "--course-dir", str(course), "-o", str(out), "--fail-under", "100"])
    assert result.returncode == 0, result.stdout + result.stderr
    report = GradeReport.model_validate_json(out.read_text())
    hidden = [t for t in report.tests if t.hidden]
    assert hidden and all(t.status == "skipped" for t in hidden)
    assert report.pending_score == sum(t.max_score for t in hidden) == 3
    assert report.score == 15 and report.max_score == 18 and report.percent == 100
    assert "–/1" in result.stdout and "0/1" not in result.stdout
    assert "3 points from hidden checks your instructor will grade" in " ".join(result.stdout.split())


def test_a_command_run_inside_a_course_folder_uses_that_course(tmp_path, monkeypatch):
    from grader.course import COURSE_ENV, Course

    course = copy_course(tmp_path / "course")
    (course / "notes").mkdir()
    monkeypatch.setenv(COURSE_ENV, str(ROOT))
    monkeypatch.chdir(course / "notes")
    assert Course.locate().root == course.resolve()  # the cwd's parents before $GRADER_COURSE_DIR
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(COURSE_ENV, str(course))
    assert Course.locate().root == course.resolve()  # then $GRADER_COURSE_DIR, before the checkout
    monkeypatch.delenv(COURSE_ENV)
    assert Course.locate().root == ROOT  # then the checkout the grader runs from


def test_an_assignment_folder_without_checks_says_what_to_create(tmp_path):
    course = copy_course(tmp_path / "course")
    (course / "assignments" / "hw7").mkdir()
    out = tmp_path / "r.json"
    nb = write(stub("hw3"), tmp_path / "hw7.ipynb")
    assert main([str(nb), "--course-dir", str(course), "--assignment", "hw7", "-o", str(out)]) == 0
    report = GradeReport.model_validate_json(out.read_text())
    assert report.status == "error" and "create" in report.errors[0]
    assert str(course / "assignments" / "hw7" / "checks.py") in report.errors[0]


def test_a_solution_setup_cell_without_its_mark_says_what_to_mark(tmp_path):
    from tests.helpers import grade

    course = copy_course(tmp_path / "course")
    nb = solution("hw3")
    for cell in nb.cells:
        if cell.cell_type == "code" and cell_marks(cell) == ["setup"]:
            cell.source = "\n".join(line for line in cell.source.splitlines() if "grade: setup" not in line)
    write(nb, course / "solutions" / "hw3.ipynb")
    report = grade(solution("hw3"), tmp_path, course_dir=course)
    lost = [t for t in report.tests if t.hidden and t.score == 0]
    assert lost and all(t.status == "error" for t in lost)
    assert all("mark that cell `#| grade: setup`" in t.message and "NameError" in t.message for t in lost), \
        [t.message for t in lost]


def test_a_kernel_that_cannot_start_is_the_graders_error_not_a_zero(tmp_path, monkeypatch):
    from grader.execute import KernelSession

    async def cannot_start(self):
        raise RuntimeError("ZMQError: File name too long")

    monkeypatch.setattr(KernelSession, "start", cannot_start)
    nb = write(stub("hw3"), tmp_path / "subs" / "hw3_alice.ipynb")
    out = tmp_path / "r.json"
    assert main([str(nb), "-o", str(out)]) == 0
    report = GradeReport.model_validate_json(out.read_text())
    assert report.status == "error" and report.max_score == 18 and report.assignment == "hw3"
    assert "could not start" in report.errors[0] and "TMPDIR" in report.errors[0]
    assert main([str(tmp_path / "subs"), "-o", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "grades.csv").open()))
    assert [r["status"] for r in rows] == ["error"] and rows[0]["max_score"] == "18.0"


@pytest.mark.parametrize("which", ["not-json", "solution", "folder"])
def test_a_grading_leaves_no_fork_server_and_no_folder_behind(tmp_path, which):
    """`grade NOTEBOOK` and `grade FOLDER` launch their fork server before their own imports; it
    is stopped and its folder removed whether the grading used it (a solution, a folder with
    kernels started ahead) or ended before (not a notebook)."""
    import psutil

    path = tmp_path / "hw3.ipynb"
    if which == "solution":
        write(solution("hw3"), path)
    elif which == "folder":
        path = tmp_path / "class"
        for student in ("ann", "ben", "cy"):
            write(with_cells(solution("hw3"), append=[f"student = {student!r}"]), path / f"{student}_hw3.ipynb")
    else:
        path.write_bytes(MALFORMED["not-json.ipynb"])
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    before = {p.pid for p in psutil.process_iter()}
    args = [str(path), "-o", str(tmp_path / "out")] if which == "folder" else [str(path), "--json"]
    result = subprocess.run(GRADE + args, capture_output=True, text=True, cwd=ROOT, timeout=300,
                            env={**os.environ, "TMPDIR": str(tmpdir)})
    assert result.returncode == 0, result.stderr
    if which == "folder":
        rows = list(csv.DictReader((tmp_path / "out" / "grades.csv").open()))
        assert [r["score"] for r in rows] == ["18.0"] * 3
    else:
        report = GradeReport.model_validate_json(result.stdout)
        assert report.score == (18 if which == "solution" else 0)
    assert list(tmpdir.iterdir()) == []
    servers = [p for p in psutil.process_iter(["cmdline", "cwd"]) if p.pid not in before
               and "grader.zygote.server" in " ".join(p.info["cmdline"] or []) and str(tmpdir) in (p.info["cwd"] or "")]
    assert servers == []


def test_a_folders_fork_server_is_launched_by_the_command_and_handed_to_the_batch(tmp_path, monkeypatch):
    """It imports torch while the command imports the grader (bulk_cli, nbclient, pydantic):
    the batch waits for that one instead of starting its own, and the command stops it."""
    from grader import bulk_cli
    from grader.zygote.process import Zygote

    handed: list[Zygote | None] = []

    def runner_for(jobs, launched=None):
        handed.append(launched)

        async def run(todo, options, finish):  # grades nothing: only the wiring is under test
            pass

        return run

    monkeypatch.setattr(bulk_cli, "local_runner", runner_for)
    write(solution("hw3"), tmp_path / "subs" / "a_hw3.ipynb")
    main([str(tmp_path / "subs"), "-o", str(tmp_path / "out"), "--jobs", "3"])
    [zygote] = handed
    assert isinstance(zygote, Zygote) and zygote.many  # it pre-imports the reference's modules too
    assert zygote.env["OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 3))  # --jobs 3's share of the cores
    assert zygote._process is None  # stopped by the command
