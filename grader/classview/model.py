"""What the class report shows, as plain data computed from the grade reports (no HTML here)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from grader.report import GradeReport

# Percent bins of the score histogram: [0, 10), [10, 20), ..., [90, 100]; 100 % goes in the last.
BIN_WIDTH = 10
FAILED = ("failed", "error", "timeout")  # statuses that cost points; "skipped" is not a failure
# Numbers (sizes, values, cell numbers, line numbers) differ between students hitting the same
# mistake; grouping ignores them so one mistake is one group.
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d*)?(?:e[-+]?\d+)?", re.IGNORECASE)


def message_key(message: str) -> str:
    return _NUMBER.sub("#", " ".join(message.split()))


@dataclass
class Student:
    """One submission as the report lists it; `anchor` is its id in report.html."""

    submission: str
    anchor: str
    feedback: str | None  # relative link to its feedback page, when one was written
    report: GradeReport | None
    reason: str = ""


@dataclass
class FailureGroup:
    status: str
    example: str  # the most common exact wording in the group
    students: list[Student] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.students)


@dataclass
class CheckStats:
    name: str
    points: float
    hidden: bool
    attempts: int = 0
    passed: int = 0
    skipped: int = 0
    points_earned: float = 0.0
    groups: list[FailureGroup] = field(default_factory=list)

    @property
    def pass_rate(self) -> float:
        return self.passed / self.attempts if self.attempts else 0.0

    @property
    def mean_points(self) -> float:
        return self.points_earned / self.attempts if self.attempts else 0.0

    @property
    def failures(self) -> int:
        return sum(g.count for g in self.groups)


@dataclass
class Bin:
    low: int
    high: int
    count: int = 0

    @property
    def label(self) -> str:
        return f"{self.low}–{self.high} %" if self.high == 100 else f"{self.low}–<{self.high} %"


@dataclass
class AssignmentView:
    name: str
    students: list[Student]
    bins: list[Bin]
    checks: list[CheckStats]

    @property
    def graded(self) -> list[Student]:
        return [s for s in self.students if s.report is not None and s.report.status == "graded"]

    @property
    def mean_percent(self) -> float:
        graded = self.graded
        return sum(s.report.percent for s in graded if s.report) / len(graded) if graded else 0.0


@dataclass
class WarningCount:
    text: str
    count: int
    sandbox: bool


@dataclass
class ClassView:
    assignments: list[AssignmentView]
    ungraded: list[Student]
    warnings: list[WarningCount]
    total: int
    grading_s: float  # sum of the per-submission grading times
    wall_s: float | None  # the run's wall-clock time, when the run recorded it


def histogram(percents: list[float]) -> list[Bin]:
    bins = [Bin(low, low + BIN_WIDTH) for low in range(0, 100, BIN_WIDTH)]
    for percent in percents:
        index = min(int(percent // BIN_WIDTH), len(bins) - 1) if percent > 0 else 0
        bins[index].count += 1
    return bins


def _check_stats(students: list[Student]) -> list[CheckStats]:
    stats: dict[str, CheckStats] = {}
    grouped: dict[str, dict[tuple[str, str], list[tuple[Student, str]]]] = {}
    for student in students:
        assert student.report is not None
        for test in student.report.tests:
            entry = stats.setdefault(test.name, CheckStats(test.name, test.max_score, test.hidden))
            entry.attempts += 1
            entry.passed += test.status == "passed"
            entry.skipped += test.status == "skipped"
            entry.points_earned += test.score
            if test.status in FAILED:
                key = (test.status, message_key(test.message))
                grouped.setdefault(test.name, {}).setdefault(key, []).append((student, test.message))
    for name, groups in grouped.items():
        for (status, _), hits in groups.items():
            example = Counter(message for _, message in hits).most_common(1)[0][0]
            stats[name].groups.append(FailureGroup(status, example, [student for student, _ in hits]))
        stats[name].groups.sort(key=lambda g: (-g.count, g.example))
    return list(stats.values())


def build_view(students: list[Student], wall_s: float | None = None) -> ClassView:
    """Group the students by assignment and compute what each section of the report shows."""
    by_assignment: dict[str, list[Student]] = {}
    ungraded = []
    warnings: Counter[str] = Counter()
    for student in students:
        report = student.report
        if report is None or report.status != "graded":
            ungraded.append(student)
        if report is None:
            continue
        warnings.update(dict.fromkeys(report.warnings, 1))  # once per submission
        if report.status == "graded":
            by_assignment.setdefault(report.assignment or "unknown assignment", []).append(student)
    assignments = [
        AssignmentView(name, members, histogram([s.report.percent for s in members if s.report]), _check_stats(members))
        for name, members in sorted(by_assignment.items())
    ]
    return ClassView(
        assignments=assignments,
        ungraded=ungraded,
        warnings=[WarningCount(text, count, "sandbox" in text.lower()) for text, count in warnings.most_common()],
        total=len(students),
        grading_s=sum(s.report.duration_s for s in students if s.report),
        wall_s=wall_s,
    )
