"""Gradescope's autograder `results.json` (written to /autograder/results/results.json there).

What students see is kept consistent with what hidden checks hide. Per Gradescope's spec
(docs/platforms.md), a test marked `after_due_date` or `after_published` hides the student's
total until then, so the top-level `output`, which students always see, never states the total
while such checks exist: it gives the public checks' points only. `hidden` tests are never
shown, yet Gradescope still shows the total (their points included), which is why
`after_published` is the default.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field

from grader.export.common import GRADABLE_TEST, ExportModel, graded_checks, points, unreadable_reason
from grader.report import GradeReport

Visibility = Literal["hidden", "after_due_date", "after_published", "visible"]
# How hidden checks are shown (`grade --gradescope-hidden`); public checks are always visible.
HiddenVisibility = Literal["after_published", "after_due_date", "hidden"]
HIDDEN_VISIBILITIES: tuple[str, ...] = get_args(HiddenVisibility)
DEFAULT_HIDDEN_VISIBILITY: HiddenVisibility = "after_published"

_WHEN_SHOWN = {
    "after_published": "when your instructor publishes grades",
    "after_due_date": "after the due date",
    "hidden": "to your instructor only",
}


class GradescopeTest(ExportModel):
    name: str
    score: float = Field(ge=0)
    max_score: float = Field(ge=0)
    status: Literal["passed", "failed"]
    output: str = ""
    output_format: Literal["text"] = "text"
    tags: list[str] = Field(default_factory=list)
    visibility: Visibility = "visible"


class GradescopeResults(ExportModel):
    score: float = Field(ge=0)
    execution_time: int = Field(ge=0, description="seconds")
    output: str
    output_format: Literal["text"] = "text"
    visibility: Visibility = "visible"
    stdout_visibility: Visibility = "hidden"
    tests: list[GradescopeTest]
    extra_data: dict[str, Any] = Field(default_factory=dict)


def _summary(report: GradeReport, tests: list[GradescopeTest], hidden_visibility: HiddenVisibility) -> str:
    if report.status == "error":
        return f"Your submission could not be graded: {unreadable_reason(report)}\nScore: 0 / {points(report.max_score)}"
    hidden = [t for t in tests if t.visibility != "visible"]
    if hidden:  # the total would give away how the hidden checks went
        public = [t for t in tests if t.visibility == "visible"]
        lines = [f"Public checks: {points(sum(t.score for t in public))} / {points(sum(t.max_score for t in public))} points.",
                 f"Hidden checks ({points(sum(t.max_score for t in hidden))} points) are shown "
                 f"{_WHEN_SHOWN[hidden_visibility]}."]
    else:
        lines = [f"Score: {points(report.score)} / {points(report.max_score)}"]
    lines += [f"error: {e}" for e in report.errors] + [f"note: {w}" for w in report.warnings]
    return "\n".join(lines)


def to_gradescope(report: GradeReport, hidden_visibility: HiddenVisibility = DEFAULT_HIDDEN_VISIBILITY) -> GradescopeResults:
    if report.status == "error":
        tests = [GradescopeTest(name=GRADABLE_TEST, score=0, max_score=report.max_score, status="failed",
                                output=unreadable_reason(report))]
    else:
        tests = [GradescopeTest(
            name=t.name, score=t.score, max_score=t.max_score,
            status="passed" if t.status == "passed" else "failed",
            output="" if t.status == "passed" else t.message, tags=t.functions,
            visibility=hidden_visibility if t.hidden else "visible",
        ) for t in graded_checks(report)]
    return GradescopeResults(
        score=report.score,
        execution_time=round(report.duration_s),
        output=_summary(report, tests, hidden_visibility),
        tests=tests,
        extra_data={"assignment": report.assignment, "max_score": report.max_score, "device": report.device,
                    "grader_version": report.grader_version, "sha256": report.submission.sha256},
    )
