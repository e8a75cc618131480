"""Write the exports asked for on the command line, plus the GitHub step summary when in Actions."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.export.github import append_step_summary, classroom_output_line, to_step_summary
from grader.export.gradescope import DEFAULT_HIDDEN_VISIBILITY, HiddenVisibility, to_gradescope
from grader.export.junit import to_junit
from grader.export.prairielearn import to_prairielearn
from grader.report import GradeReport, write_atomic


@dataclass(frozen=True)
class ExportTargets:
    junit: Path | None = None
    gradescope: Path | None = None
    prairielearn: Path | None = None
    github_classroom: bool = False
    gradescope_hidden: HiddenVisibility = DEFAULT_HIDDEN_VISIBILITY


def write_exports(report: GradeReport, targets: ExportTargets, env: Mapping[str, str] = os.environ) -> list[str]:
    """Returns lines to print (a GitHub Classroom result when $GITHUB_OUTPUT is not set)."""
    printed: list[str] = []
    if targets.junit:
        write_atomic(targets.junit, to_junit(report))
    if targets.gradescope:
        results = to_gradescope(report, targets.gradescope_hidden)
        write_atomic(targets.gradescope, results.model_dump_json(indent=2, exclude_none=True) + "\n")
    if targets.prairielearn:
        write_atomic(targets.prairielearn, to_prairielearn(report).model_dump_json(indent=2, exclude_none=True) + "\n")
    if targets.github_classroom:
        line = classroom_output_line(report, Path(report.submission.path).name)
        if env.get("GITHUB_OUTPUT"):
            with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as fh:
                fh.write(line)
        else:
            printed.append(line.rstrip("\n"))
    append_step_summary(to_step_summary(report), env)
    return printed
