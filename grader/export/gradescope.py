"""Gradescope's autograder `results.json` (written to /autograder/results/results.json there)."""

from __future__ import annotations

from typing import Any

from grader.report import GradeReport


def to_gradescope(report: GradeReport) -> dict[str, Any]:
    tests = [
        {
            "name": test.name,
            "score": test.score,
            "max_score": test.max_score,
            "status": "passed" if test.status == "passed" else "failed",
            "output": test.message if test.status != "passed" else "",
            "tags": test.functions,
            # hidden checks: students see them after grades are published, never their inputs
            "visibility": "after_published" if test.hidden else "visible",
        }
        for test in report.tests
    ]
    lines = [f"Score: {report.score:g} / {report.max_score:g}"] + [f"error: {e}" for e in report.errors]
    lines += [f"note: {w}" for w in report.warnings]
    return {
        "score": report.score,
        "execution_time": round(report.duration_s),
        "output": "\n".join(lines),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"assignment": report.assignment, "device": report.device,
                       "grader_version": report.grader_version, "sha256": report.submission.sha256},
    }
