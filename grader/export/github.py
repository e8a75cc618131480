"""GitHub Actions: a Markdown step summary, and GitHub Classroom's autograding reporter output."""

from __future__ import annotations

import base64
import json
from typing import Any

from grader.report import GradeReport

ICON = {"passed": "✅", "failed": "❌", "error": "💥", "timeout": "⏱️", "skipped": "➖"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_step_summary(report: GradeReport) -> str:
    title = f"### {report.assignment or 'submission'}: {report.score:g} / {report.max_score:g} ({report.percent:g}%)"
    lines = [title, ""]
    for error in report.errors:
        lines.append(f"> **could not grade:** {_cell(error)}")
    if report.tests:
        lines += ["| | check | points | why points were lost |", "|---|---|---:|---|"]
        for t in report.tests:
            name = t.name + (" (hidden)" if t.hidden else "")
            lines.append(f"| {ICON[t.status]} | {_cell(name)} | {t.score:g}/{t.max_score:g} "
                         f"| {'' if t.status == 'passed' else _cell(t.message)} |")
    return "\n".join(lines) + "\n\n"


def to_classroom(report: GradeReport, filename: str) -> dict[str, Any]:
    def status(s: str) -> str:
        return {"passed": "pass", "failed": "fail"}.get(s, "error" if s in ("error", "timeout") else "fail")

    tests = [{"name": t.name, "status": status(t.status), "score": t.score, "message": t.message,
              "test_code": "", "filename": filename, "line_no": 0, "duration": round(t.duration_s * 1000)}
             for t in report.tests]
    overall = "error" if report.status == "error" else ("pass" if report.score >= report.max_score else "fail")
    return {"version": 1, "status": overall, "max_score": report.max_score, "tests": tests}


def classroom_output_line(report: GradeReport, filename: str) -> str:
    """The `result=<base64 JSON>` line a grading step appends to $GITHUB_OUTPUT."""
    payload = json.dumps(to_classroom(report, filename)).encode()
    return "result=" + base64.b64encode(payload).decode() + "\n"
