"""Exports for CI and LMSs, checked against the formats in ../shared/formats.md; the examples run."""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from grader.cli import build_parser, main
from grader.export.github import classroom_output_line, to_step_summary
from grader.export.gradescope import to_gradescope
from grader.export.junit import to_junit
from grader.export.prairielearn import MAX_BYTES, to_prairielearn
from grader.export.write import ExportTargets, write_exports
from grader.report import CheckResult, GradeReport, Submission
from tests.helpers import ROOT, stub, write


def sample_report(**changes) -> GradeReport:
    tests = [
        CheckResult(name="softmax | rows", score=2, max_score=2, status="passed", functions=["softmax"]),
        CheckResult(name="cross_entropy", score=0, max_score=2, status="failed", message="got shape (2, 2)"),
        CheckResult(name="accuracy", score=0, max_score=1, status="timeout", message="did not return"),
        CheckResult(name="hidden one", score=1, max_score=1, status="passed", hidden=True),
        CheckResult(name="hidden skipped", score=0, max_score=1, status="skipped", hidden=True, message="hidden"),
    ]
    data = dict(assignment="hw3", score=3, max_score=7, status="graded", tests=tests,
                submission=Submission(path="hw3.ipynb", sha256="ab"), grader_version="0.1.0", duration_s=4.2)
    data.update(changes)
    return GradeReport(**data)


def test_junit_counts_and_messages():
    suite = ET.fromstring(to_junit(sample_report()))
    assert suite.get("tests") == "5" and suite.get("failures") == "1" and suite.get("errors") == "1" and suite.get("skipped") == "1"
    cases = suite.findall("testcase")
    assert cases[1].find("failure").get("message") == "got shape (2, 2)"
    assert cases[2].find("error").get("type") == "timeout"
    broken = ET.fromstring(to_junit(sample_report(status="error", tests=[], score=0, errors=["x is not a notebook"])))
    assert broken.find("testcase/error").get("message") == "x is not a notebook"


def test_gradescope_fields_and_hidden_visibility():
    data = to_gradescope(sample_report())
    assert data["score"] == 3 and isinstance(data["execution_time"], int)
    assert {t["status"] for t in data["tests"]} == {"passed", "failed"}
    for test in data["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility"}
    visibility = {t["name"]: t["visibility"] for t in data["tests"]}
    assert visibility["hidden one"] == "after_published" and visibility["cross_entropy"] == "visible"


def test_prairielearn_score_fraction_and_ungradable():
    data = to_prairielearn(sample_report())
    assert data["gradable"] is True and abs(data["score"] - 3 / 7) < 1e-9
    assert {"name", "points", "max_points", "message"} <= set(data["tests"][0])
    broken = to_prairielearn(sample_report(status="error", tests=[], score=0, errors=["empty"]))
    assert broken["gradable"] is False and broken["format_errors"] == ["empty"]
    huge = sample_report(tests=[CheckResult(name=f"c{i}", score=0, max_score=1, status="failed", message="x" * 1900)
                                for i in range(800)], max_score=800)
    assert len(json.dumps(to_prairielearn(huge))) <= MAX_BYTES


def test_github_summary_escapes_tables_and_classroom_payload_decodes():
    summary = to_step_summary(sample_report())
    assert "softmax \\| rows" in summary and "3 / 7" in summary
    line = classroom_output_line(sample_report(), "hw3.ipynb")
    payload = json.loads(base64.b64decode(line.removeprefix("result=").strip()))
    assert payload["version"] == 1 and payload["status"] == "fail" and payload["max_score"] == 7
    assert [t["status"] for t in payload["tests"]] == ["pass", "fail", "error", "pass", "fail"]
    assert sum(t["score"] for t in payload["tests"]) == 3


def test_write_exports_appends_to_github_files(tmp_path):
    env = {"GITHUB_OUTPUT": str(tmp_path / "out"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    targets = ExportTargets(tmp_path / "j.xml", tmp_path / "gs.json", tmp_path / "pl.json", github_classroom=True)
    assert write_exports(sample_report(), targets, env) == []
    assert (tmp_path / "out").read_text().startswith("result=")
    assert "### hw3" in (tmp_path / "summary.md").read_text()
    assert json.loads((tmp_path / "gs.json").read_text())["score"] == 3
    ET.parse(tmp_path / "j.xml")


def test_cli_writes_every_export(tmp_path, monkeypatch):
    nb = stub("hw3")
    nb.cells = nb.cells[:2]  # setup only: every check errors, quickly
    path = write(nb, tmp_path / "hw3.ipynb")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    args = [str(path), "--junit", str(tmp_path / "j.xml"), "--gradescope", str(tmp_path / "gs.json"),
            "--prairielearn", str(tmp_path / "pl.json")]
    assert main(args) == 0
    assert ET.parse(tmp_path / "j.xml").getroot().get("tests") == "12"
    assert json.loads((tmp_path / "gs.json").read_text())["score"] == 0
    assert json.loads((tmp_path / "pl.json").read_text())["gradable"] is True
    assert "hw3: 0 / 18" in summary.read_text()


def test_github_workflow_is_valid_and_calls_real_options():
    workflow = yaml.safe_load((ROOT / "examples" / "github-actions" / "grade.yml").read_text())
    steps = workflow["jobs"]["grade"]["steps"]
    commands = [s["run"] for s in steps if "run" in s]
    grade_lines = [c for c in commands if "/bin/grade" in c]
    assert grade_lines
    words = shlex.split(grade_lines[0].replace("$NOTEBOOK", "hw3.ipynb").replace("$ASSIGNMENT", "hw3"))
    args = build_parser().parse_args(words[1:])  # would exit 2 on an unknown option
    assert args.fail_under == 60 and args.github_classroom and args.junit == Path("junit.xml")
    assert any("make -C grader venv" in c for c in commands)


def test_gradescope_script_against_a_fake_autograder_tree(tmp_path):
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    nb = stub("hw3")
    nb.cells = nb.cells[:2]
    write(nb, root / "submission" / "my_homework.ipynb")
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), GRADER_BIN=shutil.which("grade") or str(Path(os.sys.executable).with_name("grade")))
    script = ROOT / "examples" / "gradescope" / "run_autograder"
    subprocess.run([str(script)], env=env, check=True, timeout=300, capture_output=True)
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0 and len(results["tests"]) == 12
    assert json.loads((root / "results" / "report.json").read_text())["assignment"] == "hw3"

    shutil.rmtree(root / "submission")
    (root / "submission").mkdir()
    subprocess.run([str(script)], env=env, check=True, timeout=60, capture_output=True)
    assert "No .ipynb file" in json.loads((root / "results" / "results.json").read_text())["output"]
