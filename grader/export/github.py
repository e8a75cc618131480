"""GitHub Actions: the Markdown step summary, and GitHub Classroom's autograding result.

Classroom's reporter action (`classroom-resources/autograding-grading-reporter`) reads one
`result=<base64 JSON>` output per grading step and records the sum of `tests[].score` out of
`max_score`; a top-level status `fail` or `error` fails the workflow run. See docs/platforms.md.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from grader.export.common import GRADABLE_TEST, ExportModel, graded_checks, points, skipped_checks, unreadable_reason
from grader.report import CheckResult, GradeReport

ICON = {"passed": "✅", "failed": "❌", "error": "💥", "timeout": "⏱️", "skipped": "➖"}

ClassroomStatus = Literal["pass", "fail", "error"]


class ClassroomTest(ExportModel):
    name: str
    status: ClassroomStatus
    score: float = Field(ge=0)
    message: str
    test_code: str = ""
    filename: str
    line_no: int = 0
    duration: int = Field(default=0, ge=0, description="milliseconds")


class ClassroomResult(ExportModel):
    """What `autograding-command-grader` writes, so the reporter reads ours the same way."""

    version: Literal[1] = 1
    status: ClassroomStatus
    max_score: float = Field(ge=0)
    tests: list[ClassroomTest]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_step_summary(report: GradeReport) -> str:
    skipped = skipped_checks(report)
    pending = sum(t.max_score for t in skipped)
    title = f"### {report.assignment or 'submission'}: {points(report.score)} / {points(report.max_score)}"
    title += f", {points(pending)} points pending" if skipped else f" ({report.percent:g}%)"
    lines = [title, ""]
    for error in report.errors:
        lines.append(f"> **could not grade:** {_cell(error)}")
    if skipped:
        lines.append(f"> {points(pending)} points come from hidden checks, "
                     "graded when your instructor grades (they need the solutions).")
    if report.tests:
        lines += ["", "| | check | points | why points were lost |", "|---|---|---:|---|"]
        for t in report.tests:
            name = t.name + (" (hidden)" if t.hidden else "")
            score = "not graded here" if t.status == "skipped" else f"{points(t.score)}/{points(t.max_score)}"
            why = "" if t.status in ("passed", "skipped") else _cell(t.message)
            lines.append(f"| {ICON[t.status]} | {_cell(name)} | {score} | {why} |")
    return "\n".join(lines) + "\n\n"


def append_step_summary(markdown: str, env: Mapping[str, str] = os.environ) -> bool:
    """Add to the job's summary page when running in GitHub Actions; the one place that writes it."""
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(markdown)
    return True


def _classroom_status(check: CheckResult) -> ClassroomStatus:
    if check.status == "passed":
        return "pass"
    return "error" if check.status in ("error", "timeout") else "fail"


def to_classroom(report: GradeReport, filename: str) -> ClassroomResult:
    if report.status == "error":
        # One test that says why: with no tests the reporter logs NaN, and with max_score 0 it
        # records nothing at all. The maximum is the assignment's when the report knows it.
        failed = ClassroomTest(name=GRADABLE_TEST, status="error", score=0, message=unreadable_reason(report),
                               filename=filename)
        return ClassroomResult(status="error", max_score=report.max_score, tests=[failed])
    tests = [ClassroomTest(name=t.name, status=_classroom_status(t), score=t.score, message=t.message,
                           filename=filename, duration=round(t.duration_s * 1000))
             for t in graded_checks(report)]
    status: ClassroomStatus = "pass" if all(t.status == "pass" for t in tests) else "fail"
    return ClassroomResult(status=status, max_score=report.max_score, tests=tests)


def classroom_output_line(report: GradeReport, filename: str) -> str:
    """The `result=<base64 JSON>` line a grading step appends to $GITHUB_OUTPUT."""
    payload = to_classroom(report, filename).model_dump_json().encode()
    return "result=" + base64.b64encode(payload).decode() + "\n"
