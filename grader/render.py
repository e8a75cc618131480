"""The human-readable view of a report: one row per check, a reason for every lost point."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.report import GradeReport

STYLE = {"passed": "green", "failed": "red", "error": "red", "timeout": "yellow", "skipped": "dim"}
SYMBOL = {"passed": "✓", "failed": "✗", "error": "!", "timeout": "⏱", "skipped": "–"}


def _points(value: float) -> str:
    return f"{value:g}"


def render_report(report: GradeReport, console: Console) -> None:
    title = f"{report.assignment or 'unknown assignment'} · {report.submission.path}"
    if report.status == "error":
        console.print(Text(f"✗ {title}: could not be graded", style="bold red"))
        for error in report.errors:
            console.print(f"  {error}")
        console.print(Text(f"Score: 0 / {_points(report.max_score)}", style="bold"))
        return
    table = Table(title=title, title_justify="left", show_lines=False, expand=False)
    table.add_column("", width=1)
    table.add_column("check")
    table.add_column("points", justify="right", no_wrap=True)
    table.add_column("why points were lost", overflow="fold")
    for test in report.tests:
        style = STYLE[test.status]
        name = test.name + (" (hidden)" if test.hidden else "")
        table.add_row(
            Text(SYMBOL[test.status], style=style), name,
            Text(f"{_points(test.score)}/{_points(test.max_score)}", style=style),
            "" if test.status == "passed" else test.message,
        )
    console.print(table)
    for error in report.errors:
        console.print(Text(f"error: {error}", style="red"))
    for warning in report.warnings:
        console.print(Text(f"note: {warning}", style="yellow"))
    skipped = sum(t.max_score for t in report.tests if t.status == "skipped")
    total = Text(f"Score: {_points(report.score)} / {_points(report.max_score)} ({report.percent:g}%)", style="bold")
    if skipped:
        total.append(f"  [{_points(skipped)} points from hidden checks are graded by your instructor]", style="dim")
    console.print(total)
    console.print(Text(f"graded in {report.duration_s:.1f} s on {report.device}", style="dim"))
