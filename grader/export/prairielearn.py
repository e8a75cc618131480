"""PrairieLearn external grader results (/grade/results/results.json, at most 1 MB)."""

from __future__ import annotations

from pydantic import Field

from grader.export.common import ExportModel, graded_checks, points, unreadable_reason
from grader.report import GradeReport

MAX_BYTES = 1_000_000
MESSAGE_LIMIT = 2_000


class PrairieLearnTest(ExportModel):
    name: str
    description: str = ""
    points: float = Field(ge=0)
    max_points: float = Field(ge=0)
    message: str = ""
    output: str = ""


class PrairieLearnResults(ExportModel):
    gradable: bool
    score: float = Field(ge=0, le=1, description="fraction of the maximum")
    format_errors: list[str] | None = None
    message: str = ""
    output: str = ""
    tests: list[PrairieLearnTest] = Field(default_factory=list)


def to_prairielearn(report: GradeReport) -> PrairieLearnResults:
    if report.status == "error":
        # PrairieLearn shows format_errors and does not count the submission against the student
        return PrairieLearnResults(gradable=False, score=0.0, format_errors=report.errors or [unreadable_reason(report)],
                                   message=f"{unreadable_reason(report)} (0 / {points(report.max_score)} points)")
    tests = [PrairieLearnTest(name=t.name, description=", ".join(t.functions), points=t.score, max_points=t.max_score,
                              message=t.message[:MESSAGE_LIMIT])
             for t in graded_checks(report)]
    result = PrairieLearnResults(
        gradable=True,
        score=min(1.0, report.score / report.max_score) if report.max_score else 0.0,
        message=f"{points(report.score)} / {points(report.max_score)} points",
        output="\n".join(report.errors + report.warnings)[:MESSAGE_LIMIT],
        tests=tests,
    )
    while len(result.model_dump_json(exclude_none=True)) > MAX_BYTES and any(t.message for t in tests):
        for test in tests:  # shrink messages until the file fits PrairieLearn's limit
            test.message = test.message[: len(test.message) // 2]
    return result
