"""What every exporter needs to know about a report, in one place."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from grader.report import CheckResult, GradeReport

# The one test a format gets when nothing could be graded: same name in every export, so a
# CI's test history and an LMS show it as one row that fails, with the reason.
GRADABLE_TEST = "submission can be graded"


class ExportModel(BaseModel):
    """A platform's format: unknown fields are refused, empty optional ones are left out."""

    model_config = ConfigDict(extra="forbid")

    def dump(self) -> dict:
        return self.model_dump(mode="json", exclude_none=True)


def graded_checks(report: GradeReport) -> list[CheckResult]:
    """The checks that ran: skipped ones (hidden checks without solutions/) were not graded."""
    return [t for t in report.tests if t.status != "skipped"]


def skipped_checks(report: GradeReport) -> list[CheckResult]:
    return [t for t in report.tests if t.status == "skipped"]


def unreadable_reason(report: GradeReport) -> str:
    return "; ".join(report.errors) or "the submission could not be graded"


def points(value: float) -> str:
    return f"{value:g}"
