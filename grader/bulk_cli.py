"""The terminal side of bulk grading: progress bar, Ctrl-C, grades.csv, the per-check summary."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from rich.console import Console, JustifyMethod
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from grader.bulk import BulkResult, collect_rows, grade_folder, local_runner, summarize, summary_markdown, write_csv
from grader.export.github import append_step_summary
from grader.grade import GradeOptions
from grader.plaintext import SHORT_LIMIT, clean
from grader.render import literal
from grader.report import fails_under, write_atomic
from grader.sandbox_summary import SandboxSummary, summarize_sandbox
from grader.zygote.process import Zygote

EXIT_INTERRUPTED = 130


def run_bulk(root: Path, out_dir: Path, options: GradeOptions, jobs: int, force: bool,
             fail_under: float | None, cluster: str | None = None, launched: Zygote | None = None) -> int:
    """`launched`: a fork server the caller launched for this run (it still stops it)."""
    console = Console(stderr=True, highlight=False)
    if cluster:
        from grader.cluster import dask_runner

        runner = dask_runner(cluster)
    else:
        runner = local_runner(jobs, launched)
    progress = Progress(
        TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[last]}", markup=False),
        console=console, transient=False,
    )
    state: dict = {}

    def on_start(total: int) -> None:
        state["task"] = progress.add_task("grading", total=total, last="")

    def on_done(item, report) -> None:
        if report is not None:
            last = clean(f"{item.relative}: {report.score:g}/{report.max_score:g}", 120)
            progress.update(state["task"], advance=1, last=last)

    async def main() -> BulkResult | None:
        task = asyncio.ensure_future(grade_folder(root, out_dir, options, runner, force, on_start, on_done))
        loop = asyncio.get_running_loop()
        # Ctrl-C cancels the batch; reports already written stay, grades.csv is still written.
        loop.add_signal_handler(signal.SIGINT, task.cancel)
        try:
            return await task
        except asyncio.CancelledError:
            return None
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    with progress:
        try:
            result = asyncio.run(main())
        except KeyboardInterrupt:
            # nbclient restores Python's default SIGINT handler each time it ends a kernel, so a
            # Ctrl-C may arrive as KeyboardInterrupt; asyncio.run has cancelled and finished every
            # grading (kernels stopped, scratch folders removed) before this point.
            result = None
    out_dir.mkdir(parents=True, exist_ok=True)
    from grader.bulk import find_submissions

    items = result.items if result is not None else find_submissions(root, out_dir)
    rows, reports = collect_rows(items, out_dir)
    write_csv(rows, out_dir / "grades.csv")
    summary = summarize(reports)
    sandbox = summarize_sandbox(reports)
    markdown = _with_sandbox_section(summary_markdown(summary, rows), sandbox)
    write_atomic(out_dir / "summary.md", markdown)
    append_step_summary(markdown)
    _print_sandbox(Console(highlight=False), sandbox)
    _print_summary(Console(highlight=False), summary, rows, result, out_dir)
    if result is None or result.interrupted:
        console.print("[yellow]interrupted: reports written so far are kept; run again to finish[/]")
        return EXIT_INTERRUPTED
    if fail_under is not None and (any(fails_under(r, fail_under) for r in reports.values())
                                   or len(reports) < len(rows)):
        return 1
    return 0


def _print_summary(console: Console, summary, rows, result, out_dir: Path) -> None:
    table = Table(title="checks across submissions", title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("assignment", "left"), ("check", "left"), ("pass rate", "right"), ("mean points", "right"))
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for entry in summary:
        table.add_row(literal(entry.assignment, limit=SHORT_LIMIT), literal(entry.name, limit=SHORT_LIMIT),
                      f"{entry.pass_rate:.0%}", f"{entry.mean_points:.2f}/{entry.max_points:g}")
    console.print(table)
    bad = [r for r in rows if r.status != "graded"]
    for row in bad:
        line = literal(f"✗ {row.submission}", "red", limit=SHORT_LIMIT)
        line.append_text(literal(f": {row.reason}"))
        console.print(line)
    graded = len(result.graded) if result else 0
    skipped = len(result.skipped) if result else 0
    console.print(Text(f"{len(rows)} submissions: {graded} graded now, {skipped} already current, {len(bad)} could not be graded"))
    console.print(literal(f"wrote {out_dir / 'grades.csv'} and {out_dir / 'summary.md'}"))


def _with_sandbox_section(markdown: str, sandbox: SandboxSummary) -> str:
    """The run's missing protections right under summary.md's title, once for all notebooks."""
    title, _, rest = markdown.partition("\n\n")
    return f"{title}\n\n{sandbox.markdown()}\n{rest}"


def _print_sandbox(console: Console, sandbox: SandboxSummary) -> None:
    for line in sandbox.lines():  # literal text: a submission's file name is not markup
        console.print(line, markup=False, soft_wrap=True, style="yellow" if sandbox.usual or sandbox.differing else "dim")
