"""The human-readable view of a report: one row per check, a reason for every lost point.

Every string from a report is printed literally: wrapped in `rich.text.Text`, never parsed as
rich markup (a message quoting `y_hat[range(n), y]` or `[/]` must appear as written), with
escape sequences and control characters stripped, and cut to a bounded length.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.plaintext import MESSAGE_LIMIT, SHORT_LIMIT, clean
from grader.report import GradeReport

STYLE = {"passed": "green", "failed": "red", "error": "red", "timeout": "yellow", "skipped": "dim"}
SYMBOL = {"passed": "✓", "failed": "✗", "error": "!", "timeout": "⏱", "skipped": "–"}


def literal(text: object, style: str = "", limit: int = MESSAGE_LIMIT) -> Text:
    """`text` exactly as written (no markup), minus control codes, at most `limit` characters."""
    return Text(clean(str(text), limit), style=style)


def _points(value: float) -> str:
    return f"{value:g}"


def render_report(report: GradeReport, console: Console) -> None:
    title = f"{report.assignment or 'unknown assignment'} · {report.submission.path}"
    if report.status == "error":
        console.print(literal(f"✗ {title}: could not be graded", "bold red"))
        for error in report.errors:
            console.print(literal(f"  {error}"))
        console.print(literal(f"Score: 0 / {_points(report.max_score)}", "bold"))
        return
    table = Table(title=literal(title), title_justify="left", show_lines=False, expand=False)
    table.add_column("", width=1)
    table.add_column("check")
    table.add_column("points", justify="right", no_wrap=True)
    table.add_column("why points were lost", overflow="fold")
    for test in report.tests:
        style = STYLE[test.status]
        name = test.name + (" (hidden)" if test.hidden else "")
        # A hidden check that did not run here is neither won nor lost: "–/1", not "0/1".
        points = f"–/{_points(test.max_score)}" if test.status == "skipped" else f"{_points(test.score)}/{_points(test.max_score)}"
        table.add_row(
            Text(SYMBOL[test.status], style=style), literal(name, limit=SHORT_LIMIT), Text(points, style=style),
            literal("" if test.status == "passed" else test.message),
        )
    console.print(table)
    for error in report.errors:
        console.print(literal(f"error: {error}", "red"))
    for warning in report.warnings:
        console.print(literal(f"note: {warning}", "yellow"))
    console.print(score_line(report))
    console.print(Text(f"graded in {report.duration_s:.1f} s on {report.device}", style="dim"))


def score_line(report: GradeReport) -> Text:
    if not report.pending_score:
        return Text(f"Score: {_points(report.score)} / {_points(report.max_score)} ({report.percent:g}%)", style="bold")
    graded_here = report.max_score - report.pending_score
    line = Text(f"Score: {_points(report.score)} / {_points(graded_here)} ({report.percent:g}%)", style="bold")
    line.append(f"  + {_points(report.pending_score)} points from hidden checks your instructor will grade"
                f" (out of {_points(report.max_score)} in all)", style="dim")
    return line
