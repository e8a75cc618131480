"""The grade report: the one object that crosses from the grader to every consumer.

Everything a student, a CI job or an LMS sees is derived from `GradeReport`; exporters never
look at anything else. The JSON Schema of this model is what `grade --schema` prints.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from grader import __version__
from grader.plaintext import MESSAGE_LIMIT, SHORT_LIMIT, clean

CheckStatus = Literal["passed", "failed", "error", "timeout", "skipped"]
CellStatus = Literal["ok", "error", "timeout", "skipped", "dead"]

# Any of these may hold text from the student's code or notebook: stored without terminal escape
# sequences or control characters, and cut to a bounded length (with a note saying so).
Message = Annotated[str, AfterValidator(lambda text: clean(text, MESSAGE_LIMIT))]
ShortText = Annotated[str, AfterValidator(lambda text: clean(text, SHORT_LIMIT))]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckResult(_Model):
    """One graded check: its points and, when points were lost, why."""

    name: ShortText
    score: float = Field(ge=0)
    max_score: float = Field(ge=0)
    status: CheckStatus
    message: Message = ""
    hidden: bool = False
    functions: list[str] = Field(default_factory=list, description="the graded functions this check calls")
    duration_s: float = 0.0


class CellRecord(_Model):
    """How one notebook cell fared during headless execution."""

    index: int
    status: CellStatus
    duration_s: float = 0.0
    marks: list[ShortText] = Field(default_factory=list, description="graded names defined in this cell")
    error: Message | None = Field(default=None, description="exception type and first line of its message")


class Submission(_Model):
    path: Annotated[str, AfterValidator(lambda text: clean(text, 4096))]
    sha256: str | None = None


class GradeReport(_Model):
    assignment: ShortText | None
    score: float = Field(ge=0)
    max_score: float = Field(ge=0)
    status: Literal["graded", "error"] = Field(
        description="'error' when the submission could not be graded at all (see errors)"
    )
    tests: list[CheckResult] = Field(default_factory=list)
    submission: Submission
    device: str = "cpu"
    duration_s: float = 0.0
    grader_version: str
    checks_sha256: str | None = Field(
        default=None, description="fingerprint of the assignment's checks and expected outcomes used"
    )
    errors: list[Message] = Field(default_factory=list, description="why points could not be awarded")
    warnings: list[Message] = Field(default_factory=list)
    cells: list[CellRecord] = Field(default_factory=list)
    timings: dict[str, float] = Field(
        default_factory=dict, description="wall seconds of each stage of the grading (scripts/bench_bulk.py's profile)"
    )
    pending_score: float = Field(
        default=0.0, ge=0,
        description="points of hidden checks not run here (no solutions/ offline): the instructor grades them; "
        "they are left out of `percent`",
    )
    percent: float = Field(
        default=0.0,
        description="score / (max_score - pending_score) in percent: of the points graded here; always recomputed",
    )

    @model_validator(mode="after")
    def _derive_percent(self) -> GradeReport:
        graded_max = self.max_score - self.pending_score
        self.percent = round(100.0 * self.score / graded_max, 2) if graded_max > 0 else 0.0
        return self


def error_report(path: Path | str, message: str, *, sha256: str | None = None, assignment: str | None = None,
                 max_score: float = 0.0, started: float | None = None) -> GradeReport:
    """The report of a submission that could not be graded: 0 of the assignment's points, and why.

    The one place such reports are made (single, bulk and cluster grading), so they look alike.
    """
    duration = round(time.monotonic() - started, 3) if started is not None else 0.0
    return GradeReport(
        assignment=assignment, score=0.0, max_score=max_score, status="error",
        submission=Submission(path=str(path), sha256=sha256), grader_version=__version__,
        duration_s=duration, errors=[message],
    )


def fails_under(report: GradeReport, fail_under: float) -> bool:
    """--fail-under counts the points graded here: hidden checks left to the instructor are not lost."""
    if report.status == "graded" and report.max_score > 0 and report.pending_score >= report.max_score:
        return False  # nothing could be graded here, so nothing to hold against the threshold
    return report.percent < fail_under


def report_schema() -> dict:
    return GradeReport.model_json_schema(mode="serialization")


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file in the same directory and rename, so a reader never sees half a file."""
    path = Path(path)
    if path.exists() and not path.is_file():
        # /dev/null, a FIFO, /dev/stdout: write through. Renaming over it would replace the device
        # with a regular file (as root, `-o /dev/null` broke /dev/null for the whole machine).
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(report: GradeReport, path: Path) -> None:
    write_atomic(path, report.model_dump_json(indent=2) + "\n")


def read_report(path: Path) -> GradeReport:
    return GradeReport.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
