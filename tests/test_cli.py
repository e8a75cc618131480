"""The `grade` command: malformed input, exit codes, JSON report and its schema."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest

from grader.cli import main
from grader.report import GradeReport, report_schema
from tests.helpers import ROOT, solution, stub, write

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


def test_missing_file_is_reported_and_a_folder_needs_an_output_dir(tmp_path):
    out = tmp_path / "r.json"
    assert main([str(tmp_path / "nope.ipynb"), "-o", str(out), "--json"]) == 0
    report = GradeReport.model_validate_json(out.read_text())
    assert report.status == "error" and "no such file" in report.errors[0]
    assert main([str(tmp_path), "--json"]) == 2  # a folder is bulk grading: it needs -o OUTDIR


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
