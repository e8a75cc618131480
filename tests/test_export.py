"""Exports for CI and LMSs, checked against the formats in docs/formats.md; the examples run."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET

import pytest

from grader.cli import build_parser, main
from grader.export.github import append_step_summary, classroom_output_line, to_classroom, to_step_summary
from grader.export.gradescope import HIDDEN_VISIBILITIES, to_gradescope
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


def error_report(max_score: float = 18) -> GradeReport:
    return sample_report(status="error", tests=[], score=0, max_score=max_score,
                         errors=["hw3.ipynb is not a valid Jupyter notebook"])


def test_junit_counts_and_messages():
    suite = ET.fromstring(to_junit(sample_report()))
    assert suite.get("tests") == "5" and suite.get("failures") == "1" and suite.get("errors") == "1" and suite.get("skipped") == "1"
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert cases["cross_entropy"].find("failure").get("message") == "0 / 2 points: got shape (2, 2)"
    assert cases["cross_entropy"].find("failure").text == "got shape (2, 2)"
    assert cases["accuracy"].find("error").get("type") == "timeout"
    assert cases["hidden skipped"].find("skipped") is not None and cases["hidden skipped"].find("failure") is None
    assert cases["softmax | rows"].find("system-out").text == "2 / 2 points"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["points: cross_entropy"] == "0/2" and properties["max_score"] == "7"


def test_junit_names_carry_no_score():
    low = sample_report()
    high = sample_report(tests=[t.model_copy(update={"score": t.max_score, "status": "passed"}) for t in low.tests])
    names = [[c.get("name") for c in ET.fromstring(to_junit(r)).findall("testcase")] for r in (low, high)]
    assert names[0] == names[1] == [t.name for t in low.tests]


def test_gradescope_fields_and_hidden_visibility():
    data = to_gradescope(sample_report()).dump()
    assert data["score"] == 3 and isinstance(data["execution_time"], int)
    assert {t["status"] for t in data["tests"]} == {"passed", "failed"}
    for test in data["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility"}
    visibility = {t["name"]: t["visibility"] for t in data["tests"]}
    assert visibility["hidden one"] == "after_published" and visibility["cross_entropy"] == "visible"
    assert "hidden skipped" not in visibility  # not graded here: not a failure either
    # students always see `output`: it gives the public checks' points, not the hidden total
    assert "3 / 7" not in data["output"] and "Public checks: 2 / 5 points." in data["output"]
    assert "1 points" in data["output"] and "publishes grades" in data["output"]


@pytest.mark.parametrize("policy", HIDDEN_VISIBILITIES)
def test_gradescope_hidden_policy_is_applied_to_hidden_checks_only(policy):
    data = to_gradescope(sample_report(), policy).dump()
    assert {t["name"]: t["visibility"] for t in data["tests"]} == {
        "softmax | rows": "visible", "cross_entropy": "visible", "accuracy": "visible", "hidden one": policy}


def test_gradescope_total_is_shown_when_no_check_is_hidden():
    report = sample_report(tests=[t for t in sample_report().tests if not t.hidden], score=2, max_score=5)
    assert to_gradescope(report).output.startswith("Score: 2 / 5")


def test_cli_offers_exactly_the_gradescope_policies():
    choices = next(a.choices for a in build_parser()._actions if a.dest == "gradescope_hidden")
    assert tuple(choices) == HIDDEN_VISIBILITIES


def test_prairielearn_score_fraction_and_ungradable():
    data = to_prairielearn(sample_report()).dump()
    assert data["gradable"] is True and abs(data["score"] - 3 / 7) < 1e-9
    assert {"name", "points", "max_points", "message"} <= set(data["tests"][0])
    assert "hidden skipped" not in {t["name"] for t in data["tests"]}
    broken = to_prairielearn(error_report()).dump()
    assert broken["gradable"] is False and broken["format_errors"] == ["hw3.ipynb is not a valid Jupyter notebook"]
    huge = sample_report(tests=[CheckResult(name=f"c{i}", score=0, max_score=1, status="failed", message="x" * 1900)
                                for i in range(800)], max_score=800)
    assert len(json.dumps(to_prairielearn(huge).dump())) <= MAX_BYTES


def test_github_summary_escapes_tables_and_classroom_payload_decodes():
    summary = to_step_summary(sample_report())
    assert "softmax \\| rows" in summary and "### hw3: 3 / 7, 1 points pending" in summary
    assert "1 points come from hidden checks" in summary
    assert "### hw3: 2 / 5 (40%)" in to_step_summary(
        sample_report(tests=[t for t in sample_report().tests if t.status != "skipped"], score=2, max_score=5))
    line = classroom_output_line(sample_report(), "hw3.ipynb")
    payload = json.loads(base64.b64decode(line.removeprefix("result=").strip()))
    assert payload["version"] == 1 and payload["status"] == "fail" and payload["max_score"] == 7
    assert [t["status"] for t in payload["tests"]] == ["pass", "fail", "error", "pass"]  # skipped left out
    assert sum(t["score"] for t in payload["tests"]) == 3


def test_skipped_hidden_checks_do_not_fail_the_classroom_run():
    tests = [CheckResult(name="public", score=2, max_score=2, status="passed"),
             CheckResult(name="hidden", score=0, max_score=1, status="skipped", hidden=True, message="needs solutions/")]
    payload = to_classroom(sample_report(tests=tests, score=2, max_score=3), "hw3.ipynb")
    assert payload.status == "pass" and [t.name for t in payload.tests] == ["public"] and payload.max_score == 3


def test_an_ungradable_report_carries_the_assignments_maximum_everywhere():
    report = error_report(18)
    classroom = to_classroom(report, "hw3.ipynb")
    assert classroom.status == "error" and classroom.max_score == 18
    assert [t.status for t in classroom.tests] == ["error"] and "not a valid" in classroom.tests[0].message
    gradescope = to_gradescope(report)
    assert gradescope.score == 0 and [t.max_score for t in gradescope.tests] == [18]
    assert "0 / 18" in gradescope.output and "not a valid" in gradescope.output
    assert "0 / 18" in to_prairielearn(report).message
    suite = ET.fromstring(to_junit(report))
    assert {p.get("name"): p.get("value") for p in suite.iter("property")}["max_score"] == "18"
    assert suite.find("testcase/error").get("message").startswith("0 / 18 points: hw3.ipynb is not")


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
            "--prairielearn", str(tmp_path / "pl.json"), "--gradescope-hidden", "hidden"]
    assert main(args) == 0
    assert ET.parse(tmp_path / "j.xml").getroot().get("tests") == "12"
    gradescope = json.loads((tmp_path / "gs.json").read_text())
    assert gradescope["score"] == 0 and "hidden" in {t["visibility"] for t in gradescope["tests"]}
    assert json.loads((tmp_path / "pl.json").read_text())["gradable"] is True
    assert "hw3: 0 / 18" in summary.read_text()


def test_the_step_summary_is_written_in_one_place_only_when_in_actions(tmp_path):
    assert append_step_summary("### a\n", {}) is False
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    assert append_step_summary("### a\n", env) and append_step_summary("### b\n", env)
    assert summary.read_text() == "### a\n### b\n"  # appended: other steps' summaries stay
    writers = [p for p in (ROOT / "grader").rglob("*.py") if "GITHUB_STEP_SUMMARY" in p.read_text()]
    assert writers == [ROOT / "grader" / "export" / "github.py"]
