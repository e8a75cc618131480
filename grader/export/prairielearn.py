"""PrairieLearn external grader results (/grade/results/results.json, at most 1 MB)."""

from __future__ import annotations

import json
from typing import Any

from grader.report import GradeReport

MAX_BYTES = 1_000_000
MESSAGE_LIMIT = 2_000


def to_prairielearn(report: GradeReport) -> dict[str, Any]:
    if report.status == "error":
        return {"gradable": False, "format_errors": report.errors, "score": 0.0, "message": "; ".join(report.errors)}
    tests: list[dict[str, Any]] = [
        {"name": t.name, "description": ", ".join(t.functions), "points": t.score, "max_points": t.max_score,
         "message": t.message[:MESSAGE_LIMIT], "output": ""}
        for t in report.tests
    ]
    result = {
        "gradable": True,
        "score": report.score / report.max_score if report.max_score else 0.0,
        "message": f"{report.score:g} / {report.max_score:g} points",
        "output": "\n".join(report.errors + report.warnings)[:MESSAGE_LIMIT],
        "tests": tests,
    }
    while len(json.dumps(result)) > MAX_BYTES and any(t["message"] for t in tests):
        for test in tests:  # shrink messages until the file fits PrairieLearn's limit
            test["message"] = test["message"][: len(test["message"]) // 2]
    return result
