"""The grade report: the one object that crosses from the grader to every consumer.

Everything a student, a CI job or an LMS sees is derived from `GradeReport`; exporters never
look at anything else. The JSON Schema of this model is what `grade --schema` prints.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CheckStatus = Literal["passed", "failed", "error", "timeout", "skipped"]
CellStatus = Literal["ok", "error", "timeout", "skipped", "dead"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckResult(_Model):
    """One graded check: its points and, when points were lost, why."""

    name: str
    score: float = Field(ge=0)
    max_score: float = Field(ge=0)
    status: CheckStatus
    message: str = ""
    hidden: bool = False
    functions: list[str] = Field(default_factory=list, description="the graded functions this check calls")
    duration_s: float = 0.0


class CellRecord(_Model):
    """How one notebook cell fared during headless execution."""

    index: int
    status: CellStatus
    duration_s: float = 0.0
    marks: list[str] = Field(default_factory=list, description="graded names defined in this cell")
    error: str | None = Field(default=None, description="exception type and first line of its message")


class Submission(_Model):
    path: str
    sha256: str | None = None


class GradeReport(_Model):
    assignment: str | None
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
    errors: list[str] = Field(default_factory=list, description="why points could not be awarded")
    warnings: list[str] = Field(default_factory=list)
    cells: list[CellRecord] = Field(default_factory=list)
    percent: float = Field(default=0.0, description="score / max_score in percent; always recomputed")

    @model_validator(mode="after")
    def _derive_percent(self) -> GradeReport:
        self.percent = round(100.0 * self.score / self.max_score, 2) if self.max_score else 0.0
        return self


def report_schema() -> dict:
    return GradeReport.model_json_schema(mode="serialization")


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file in the same directory and rename, so a reader never sees half a file."""
    path = Path(path)
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
