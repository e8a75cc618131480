"""JUnit XML: one <testcase> per check, for CI systems that render test results.

A test's name is the check's name and nothing else, so a CI's test history follows one check
across submissions and re-runs. Points go where the Jenkins xUnit schema (junit-10.xsd) has
room for them: the suite's properties (`points: <check>`), a lost-points message, and the
test's system-out. Built with junitparser rather than by hand.
"""

from __future__ import annotations

from junitparser import Error, Failure, Skipped, TestCase, TestSuite

from grader.export.common import GRADABLE_TEST, points, unreadable_reason
from grader.report import CheckResult, GradeReport


def _seconds(value: float) -> float:
    return round(max(value, 0.0), 3)  # the schema's SUREFIRE_TIME allows three decimals


def _with_text(result: Failure | Error, text: str) -> Failure | Error:
    result.text = text  # CI pages show the body; the message attribute is often cut short
    return result


def _case(suite_name: str, check: CheckResult) -> TestCase:
    case = TestCase(check.name, classname=suite_name, time=_seconds(check.duration_s))
    earned = f"{points(check.score)} / {points(check.max_score)} points"
    if check.status == "failed":
        case.result = [_with_text(Failure(f"{earned}: {check.message}", "failed"), check.message)]
    elif check.status in ("error", "timeout"):
        case.result = [_with_text(Error(f"{earned}: {check.message}", check.status), check.message)]
    elif check.status == "skipped":
        case.result = [Skipped(check.message or "not graded here")]
    case.system_out = earned + (" (hidden check)" if check.hidden else "")
    return case


def to_junit(report: GradeReport) -> str:
    name = report.assignment or "submission"
    suite = TestSuite(name)
    for key, value in (("score", points(report.score)), ("max_score", points(report.max_score)),
                       ("status", report.status), ("device", report.device),
                       ("submission", report.submission.path), ("grader_version", report.grader_version)):
        suite.add_property(key, value)
    for check in report.tests:
        suite.add_property(f"points: {check.name}", f"{points(check.score)}/{points(check.max_score)}")
    if report.status == "error":  # nothing could be graded: one case says why
        case = TestCase(GRADABLE_TEST, classname=name, time=0.0)
        reason = unreadable_reason(report)
        case.result = [_with_text(Error(f"0 / {points(report.max_score)} points: {reason}", "error"), reason)]
        case.system_out = f"0 / {points(report.max_score)} points"
        suite.add_testcase(case)
    for check in report.tests:
        suite.add_testcase(_case(name, check))
    suite.update_statistics()
    suite.time = _seconds(report.duration_s)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + suite.tostring().decode() + "\n"
