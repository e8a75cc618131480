"""Our exports, fed to what really reads them (tests/fixtures/consumers/README.md says where each
comes from): Gradescope's and PrairieLearn's results.json and Classroom's payload against JSON
Schemas written from the platforms' specs, JUnit XML against Jenkins xUnit's junit-10.xsd, and
the `result` line through GitHub Classroom's own reporter action (node).

The hw3 reports are graded once per test session: the solution, the example student submission
and an unreadable file (all with --assignment hw3), and the solution graded where there is no
solutions/ folder, as in a student's repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import xmlschema
from junitparser import JUnitXml

from grader.export.github import classroom_output_line, to_classroom
from grader.export.gradescope import HIDDEN_VISIBILITIES, to_gradescope
from grader.export.junit import to_junit
from grader.export.prairielearn import to_prairielearn
from grader.report import GradeReport, read_report
from tests.helpers import ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "consumers"
HW3_POINTS = 18
CASES = ["solution", "student", "unreadable"]


def _grade_bin() -> str:
    return str(Path(sys.executable).with_name("grade"))


@pytest.fixture(scope="session")
def hw3_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, GradeReport]:
    base = tmp_path_factory.mktemp("hw3-consumers")
    submissions = base / "submissions"
    submissions.mkdir()
    shutil.copy(ROOT / "solutions" / "hw3.ipynb", submissions / "solution.ipynb")
    shutil.copy(ROOT / "examples" / "submissions" / "hw3_student.ipynb", submissions / "student.ipynb")
    (submissions / "unreadable.ipynb").write_text("this is not a notebook\n")
    # A student's repository: the course's assignments, but no solutions/ for hidden checks.
    public_course = base / "public-course"
    public_course.mkdir()
    (public_course / "assignments").symlink_to(ROOT / "assignments")
    shutil.copy(ROOT / "solutions" / "hw3.ipynb", base / "hw3.ipynb")
    runs = [
        subprocess.Popen([_grade_bin(), str(submissions), "-o", str(base / "out"), "--assignment", "hw3", "--jobs", "2"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE),
        subprocess.Popen([_grade_bin(), str(base / "hw3.ipynb"), "--course-dir", str(public_course),
                          "-o", str(base / "public.json")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         cwd=base),
    ]
    for run in runs:
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, err.decode()
    reports = {case: read_report(base / "out" / f"{case}.json") for case in CASES}
    reports["public solution"] = read_report(base / "public.json")
    return reports


def schema(name: str) -> jsonschema.protocols.Validator:
    document = json.loads((FIXTURES / name).read_text())
    return jsonschema.Draft202012Validator(document)


def test_the_reports_are_what_the_acceptance_needs(hw3_reports):
    assert hw3_reports["solution"].score == pytest.approx(HW3_POINTS)
    assert 0 < hw3_reports["student"].score < HW3_POINTS
    assert hw3_reports["unreadable"].status == "error"
    assert hw3_reports["unreadable"].max_score == HW3_POINTS  # --assignment hw3: 0 of 18, never 0 of 0
    public = hw3_reports["public solution"]
    assert any(t.status == "skipped" for t in public.tests) and public.score < HW3_POINTS


@pytest.mark.parametrize("case", CASES + ["public solution"])
@pytest.mark.parametrize("hidden", HIDDEN_VISIBILITIES)
def test_gradescope_results_validate_and_keep_hidden_totals_hidden(hw3_reports, case, hidden):
    report = hw3_reports[case]
    data = to_gradescope(report, hidden).dump()
    schema("gradescope.schema.json").validate(data)
    assert data["score"] == pytest.approx(report.score)
    assert all(t["status"] == "passed" or t["output"] for t in data["tests"])
    hidden_tests = [t for t in data["tests"] if t["visibility"] != "visible"]
    if hidden_tests:
        # students see `output` always: it may not give away the total the hidden checks hide
        assert f"{report.score:g} / {report.max_score:g}" not in data["output"]
        assert f"/ {report.max_score:g}" not in data["output"]
        assert {t["visibility"] for t in hidden_tests} == {hidden}


@pytest.mark.parametrize("case", CASES + ["public solution"])
def test_prairielearn_results_validate(hw3_reports, case):
    report = hw3_reports[case]
    data = to_prairielearn(report).dump()
    schema("prairielearn.schema.json").validate(data)
    assert len(json.dumps(data)) <= 1_000_000
    if report.status == "error":
        assert data["gradable"] is False and data["format_errors"]
    else:
        assert data["score"] == pytest.approx(report.score / report.max_score)


@pytest.fixture(scope="module")
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(FIXTURES / "jenkins-junit-10.xsd"))


@pytest.mark.parametrize("case", CASES + ["public solution"])
def test_junit_validates_against_jenkins_xunit_schema(hw3_reports, junit_schema, case, tmp_path):
    xml = to_junit(hw3_reports[case])
    junit_schema.validate(xml)  # raises with the offending element and rule
    path = tmp_path / "junit.xml"
    path.write_text(xml)
    suite = next(iter(JUnitXml.fromfile(str(path))))
    assert suite.tests == max(1, len(hw3_reports[case].tests))


def test_junit_test_names_are_the_same_for_every_submission(hw3_reports, tmp_path):
    def names(case: str) -> list[str]:
        path = tmp_path / f"{case}.xml"
        path.write_text(to_junit(hw3_reports[case]))
        return [case.name for suite in JUnitXml.fromfile(str(path)) for case in suite]

    solution, student, public = names("solution"), names("student"), names("public solution")
    assert solution == student == public and len(set(solution)) == len(solution)
    assert solution == [t.name for t in hw3_reports["student"].tests]  # the check's name, no score in it


def test_junit_marks_skipped_hidden_checks_skipped_not_failed(hw3_reports, tmp_path):
    report = hw3_reports["public solution"]
    path = tmp_path / "public.xml"
    path.write_text(to_junit(report))
    suite = next(iter(JUnitXml.fromfile(str(path))))
    skipped = sum(t.status == "skipped" for t in report.tests)
    assert skipped and suite.skipped == skipped and suite.failures == 0 and suite.errors == 0


@pytest.mark.parametrize("case", CASES + ["public solution"])
def test_classroom_payload_validates(hw3_reports, case):
    payload = to_classroom(hw3_reports[case], "hw3.ipynb").dump()
    schema("classroom.schema.json").validate(payload)


def run_reporter(line: str, step_id: str = "grade") -> tuple[subprocess.CompletedProcess, dict | None]:
    """GitHub Classroom's reporter action, run the way the Actions runner runs it."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: GitHub Classroom's reporter is a node 20 program")
    env = {"PATH": os.environ.get("PATH", ""), "INPUT_RUNNERS": step_id,
           f"{step_id.upper()}_RESULTS": line.removeprefix("result=").strip()}
    proc = subprocess.run([node, str(FIXTURES / "classroom-reporter.js")], env=env, capture_output=True, text=True,
                          timeout=60)
    recorded = None
    for out_line in proc.stdout.splitlines():
        if out_line.startswith("::notice title=Autograding report::"):
            recorded = json.loads(out_line.split("::", 2)[2])
    return proc, recorded


@pytest.mark.parametrize("case", CASES + ["public solution"])
def test_classroom_reporter_records_the_reports_points(hw3_reports, case):
    report = hw3_reports[case]
    proc, recorded = run_reporter(classroom_output_line(report, "hw3.ipynb"))
    assert recorded is not None, proc.stdout + proc.stderr
    assert recorded["maxPoints"] == HW3_POINTS
    assert recorded["totalPoints"] == pytest.approx(report.score)
    assert "NaN" not in proc.stdout
    passed = all(t.status in ("passed", "skipped") for t in report.tests) and report.status == "graded"
    # the reporter fails the run when a check failed; skipped hidden checks are not failures
    assert (proc.returncode == 0) == passed, proc.stdout
