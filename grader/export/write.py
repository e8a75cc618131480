"""Write the exports asked for on the command line, plus the GitHub step summary when in Actions."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.export.github import classroom_output_line, to_step_summary
from grader.export.gradescope import to_gradescope
from grader.export.junit import to_junit
from grader.export.prairielearn import to_prairielearn
from grader.report import GradeReport, write_atomic


@dataclass(frozen=True)
class ExportTargets:
    junit: Path | None = None
    gradescope: Path | None = None
    prairielearn: Path | None = None
    github_classroom: bool = False


def _append(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def write_exports(report: GradeReport, targets: ExportTargets, env: Mapping[str, str] = os.environ) -> list[str]:
    """Returns lines to print (a GitHub Classroom result when $GITHUB_OUTPUT is not set)."""
    printed: list[str] = []
    if targets.junit:
        write_atomic(targets.junit, to_junit(report))
    if targets.gradescope:
        write_atomic(targets.gradescope, json.dumps(to_gradescope(report), indent=2) + "\n")
    if targets.prairielearn:
        write_atomic(targets.prairielearn, json.dumps(to_prairielearn(report), indent=2) + "\n")
    if targets.github_classroom:
        line = classroom_output_line(report, Path(report.submission.path).name)
        if env.get("GITHUB_OUTPUT"):
            _append(env["GITHUB_OUTPUT"], line)
        else:
            printed.append(line.rstrip("\n"))
    if env.get("GITHUB_STEP_SUMMARY"):
        _append(env["GITHUB_STEP_SUMMARY"], to_step_summary(report))
    return printed
