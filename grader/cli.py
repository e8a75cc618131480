"""`grade`: the command students, CI jobs and instructors type.

Exit status: 0 a report was produced; 1 `--fail-under` was not met (or, with `--check-sandbox`,
a protection is missing); 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from grader import __version__
from grader.device import DEVICES, DeviceUnavailable, resolve_device

if TYPE_CHECKING:
    from grader.grade import GradeOptions
    from grader.report import GradeReport
    from grader.zygote.process import Zygote

EXIT_OK, EXIT_BELOW_THRESHOLD, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 128 + 2  # the shell's status for SIGINT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grade",
        description="Grade a Jupyter notebook submission: run it headlessly, check the graded "
        "functions against the reference, and report points with a reason for every lost point.",
    )
    parser.add_argument("notebook", nargs="?", type=Path,
                        help="the submission (.ipynb), or a folder of submissions to grade in bulk")
    parser.add_argument("-o", "--output", type=Path, metavar="REPORT.json|OUTDIR",
                        help="write the JSON report here (atomically); for a folder, the output folder")
    parser.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    parser.add_argument("--assignment", metavar="NAME",
                        help="grade as this assignment (e.g. hw3); wins over the notebook's metadata and file name")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="where training checks run (default: auto = cuda, else mps, else cpu)")
    parser.add_argument("--timeout", type=float, metavar="S", help="per-cell time limit in seconds (default: the assignment's, usually 60)")
    parser.add_argument("--budget", type=float, metavar="S", help="time limit for running the whole notebook (default: the assignment's)")
    parser.add_argument("--fail-under", type=float, metavar="PERCENT", help="exit 1 when the score is below this percentage of the maximum")
    parser.add_argument("--course-dir", type=Path, metavar="DIR",
                        help="the course folder holding assignments/ (and solutions/); default: the current folder or"
                        " the nearest parent that is a course, else $GRADER_COURSE_DIR, else the grader's own checkout")
    parser.add_argument("--data-root", type=Path, metavar="DIR",
                        help="where real data sets live, e.g. a folder holding cifar-10-batches-py (default: $GRADER_DATA_ROOT;"
                        " without either, a small generated data set in the same format is used)")
    parser.add_argument("--exec-kernels", action="store_true",
                        help="start each kernel as a Python process of its own (through bubblewrap where it works) instead"
                        " of forking it from a fork server that has imported torch once for the kernel and the reference"
                        " together (the default on Linux: hw3 ~570 MB and ~2.8 s; exec'd: ~910 MB and ~4.5 s)")
    parser.add_argument("--low-memory", action="store_true", default=None,
                        help="with --exec-kernels (or off Linux): compute the reference before the notebook's cells, so"
                        " torch is loaded once at a time (hw3: ~740 MB peak instead of ~910 MB, 0.5 s slower); automatic"
                        " when less than 2 GB of memory is free, e.g. in a 768 MB Gradescope container")
    parser.add_argument("--junit", type=Path, metavar="PATH", help="also write JUnit XML (one testcase per check)")
    parser.add_argument("--gradescope", type=Path, metavar="PATH", help="also write Gradescope's results.json")
    parser.add_argument("--gradescope-hidden", choices=("after_published", "after_due_date", "hidden"),
                        default="after_published",
                        help="when Gradescope shows students the hidden checks (public ones are always visible;"
                        " default: after_published, which also hides the total until then)")
    parser.add_argument("--prairielearn", type=Path, metavar="PATH", help="also write PrairieLearn's results.json")
    parser.add_argument("--github-classroom", action="store_true",
                        help="append GitHub Classroom's `result=` line to $GITHUB_OUTPUT (printed when unset)")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="folders: submissions graded at once (default: the number of cores)")
    parser.add_argument("--force", action="store_true", help="folders: re-grade even submissions whose report is current")
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="folders: grade on a Dask cluster (e.g. tcp://scheduler:8786) instead of this machine")
    parser.add_argument("--feedback", type=Path, metavar="PATH.html",
                        help="also write the feedback page to hand back (folders always write OUT/feedback/)")
    parser.add_argument("--similarity", action="store_true",
                        help="folders: also compare the graded functions across submissions (OUT/similarity.csv;"
                        " or run `grade similarity DIR`)")
    parser.add_argument("--watch", action="store_true",
                        help="re-grade the notebook every time it is saved, from a warm fork server (Ctrl-C stops)")
    parser.add_argument("--schema", action="store_true", help="print the JSON Schema of the report and exit")
    parser.add_argument("--check-sandbox", action="store_true",
                        help="print which sandbox protections are active on this machine; exit 1 if any is missing")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run the notebook without the sandbox (trusted notebooks only; the report says so)")
    parser.add_argument("--version", action="version", version=f"grader {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Ctrl-C at any moment (even while the heavy modules are still being imported, before bulk
    grading installs its own handler) ends with exit status 130 and one line, not a traceback.
    Module-level imports stay light (no rich, no torch) so that window before this point is short.

    SIGTERM (a cancelled CI job, `kill`, a container stopping) is handled the same way: Python's
    default would end the process at once and leave kernels, fork servers and temporary folders
    behind; as an interrupt, every kernel is stopped and every folder removed, and finished
    reports are kept."""
    previous = _sigterm_as_interrupt()
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("grade: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _sigterm_as_interrupt() -> signal.Handlers | Callable | int | None:
    """Install the SIGTERM handler; return the one it replaces (None where none can be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None  # main() called from a thread: signals are the caller's business
    return signal.signal(signal.SIGTERM, _raise_interrupt)


def _main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["similarity"] and not Path("similarity").exists():  # a sub-command, unless a file is so named
        from grader.classview.commands import similarity_main

        return similarity_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.schema:
        from grader.report import report_schema

        print(json.dumps(report_schema(), indent=2))
        return EXIT_OK
    if args.check_sandbox:
        from grader.sandbox.check import main as check_sandbox

        return check_sandbox()
    if args.notebook is None:
        parser.print_usage(sys.stderr)
        print("grade: error: a notebook to grade is required (or --schema)", file=sys.stderr)
        return EXIT_USAGE
    for flag, value in (("--timeout", args.timeout), ("--budget", args.budget)):
        if value is not None and value <= 0:
            print(f"grade: error: {flag} must be a positive number of seconds", file=sys.stderr)
            return EXIT_USAGE
    if args.fail_under is not None and not 0 <= args.fail_under <= 100:
        print("grade: error: --fail-under is a percentage between 0 and 100", file=sys.stderr)
        return EXIT_USAGE
    if not args.notebook.exists():
        print(f"grade: error: {args.notebook}: no such file or folder", file=sys.stderr)
        return EXIT_USAGE
    if args.data_root is not None and not args.data_root.is_dir():
        print(f"grade: error: --data-root {args.data_root} is not a folder", file=sys.stderr)
        return EXIT_USAGE
    try:
        if not args.cluster:  # on a cluster, the workers' devices count, not this machine's
            resolve_device(args.device)
    except DeviceUnavailable as exc:
        print(f"grade: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    from grader.kernel_env import forks_kernels
    from grader.scratch import scratch_folder

    # A folder always has a fork server (kernels aside, it forks the reference runs), a single
    # notebook one where kernels are forked; on a cluster, the workers start their own.
    bulk = args.notebook.is_dir()
    if args.watch or (args.cluster if bulk else not forks_kernels(args.exec_kernels)):
        return _run(args, None)
    with scratch_folder(prefix="grader-zw-") as workdir:
        fork_server = _launch_fork_server(workdir, bulk_jobs(args.jobs) if bulk else 1, many=bulk)
        try:
            return _run(args, fork_server)
        finally:
            if fork_server is not None:  # the grading stops it; not if it ended before it needed it
                fork_server.stop()


def bulk_jobs(jobs: int | None) -> int:
    """How many submissions of a folder are graded at once: --jobs, else one per core."""
    return jobs if jobs is not None and jobs > 0 else os.cpu_count() or 1


def _run(args: argparse.Namespace, fork_server: Zygote | None) -> int:
    """Everything after the arguments were checked (a single grading's fork server is launched)."""
    from grader.grade import GradeOptions, grade_notebook
    from grader.render import render_report
    from grader.report import fails_under, write_report

    options = GradeOptions(
        assignment=args.assignment, device=args.device, cell_timeout_s=args.timeout, probe_timeout_s=args.timeout,
        budget_s=args.budget, course_dir=args.course_dir, sandbox=not args.no_sandbox, data_root=args.data_root,
        low_memory=args.low_memory,
        exec_kernels=args.exec_kernels,
    )
    if args.notebook.is_dir():
        if args.watch:
            print("grade: error: --watch follows one notebook, not a folder", file=sys.stderr)
            return EXIT_USAGE
        if args.output is None or args.json:
            print("grade: error: grading a folder needs -o OUTDIR (and no --json)", file=sys.stderr)
            return EXIT_USAGE
        if args.jobs is not None and args.jobs < 1:
            print("grade: error: --jobs must be at least 1", file=sys.stderr)
            return EXIT_USAGE
        import time

        from grader.bulk import find_submissions

        if not find_submissions(args.notebook, args.output):
            print(f"grade: error: {args.notebook} holds no notebooks (*.ipynb) to grade", file=sys.stderr)
            return EXIT_USAGE

        from grader.bulk_cli import run_bulk
        from grader.classview.commands import finish_bulk_run

        started = time.monotonic()
        code = run_bulk(args.notebook, args.output, options, bulk_jobs(args.jobs), args.force, args.fail_under, args.cluster,
                        launched=fork_server)
        for line in finish_bulk_run(args.output, args.notebook, time.monotonic() - started, args.jobs,
                                    args.similarity, args.course_dir, args.assignment):
            print(line, file=sys.stderr)
        return code
    if args.watch and (args.json or args.fail_under is not None):
        print("grade: error: --watch prints the table after every save (no --json or --fail-under)", file=sys.stderr)
        return EXIT_USAGE
    if args.similarity:
        print("grade: error: --similarity compares the submissions of a folder (grade DIR -o OUT --similarity)", file=sys.stderr)
        return EXIT_USAGE
    if args.watch:
        return watch_notebook(args.notebook, options, args.output)
    report = grade_notebook(args.notebook, options, launched=fork_server)
    if args.output:
        write_report(report, args.output)
    if args.feedback:
        from grader.classview.build import write_feedback

        target = args.feedback / f"{args.notebook.stem}.html" if args.feedback.is_dir() else args.feedback
        try:
            write_feedback(report, target)
        except OSError as exc:
            print(f"grade: error: cannot write the feedback page {target}: {exc.strerror}", file=sys.stderr)
    from grader.export.write import ExportTargets, write_exports

    targets = ExportTargets(args.junit, args.gradescope, args.prairielearn, args.github_classroom,
                            gradescope_hidden=args.gradescope_hidden)
    for line in write_exports(report, targets):
        print(line, file=sys.stderr)  # stdout may be carrying the JSON report
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        from rich.console import Console

        render_report(report, Console(highlight=False))
    if args.fail_under is not None and fails_under(report, args.fail_under):
        return EXIT_BELOW_THRESHOLD
    return EXIT_OK


def _launch_fork_server(workdir: Path, jobs: int, many: bool) -> Zygote | None:
    """Launch the fork server of a grading (or of a folder's, `many`) now, so that it imports
    torch while this process imports the grader (~0.4 s of the ~3 s a grading takes)."""
    from grader.kernel_env import zygote_environment
    from grader.zygote.process import Zygote

    zygote = Zygote(workdir, zygote_environment(jobs), many=many)
    try:
        zygote.launch()
    except OSError:  # the grading starts one itself, and reports why if that fails too
        zygote.stop()
        return None
    return zygote


def watch_notebook(notebook: Path, options: GradeOptions, output: Path | None) -> int:
    """`--watch`: the table after every save; exit status 130 after Ctrl-C, with nothing left running."""
    from rich.console import Console
    from rich.text import Text

    from grader.render import render_report
    from grader.report import write_report
    from grader.watch import run_watch

    console = Console(highlight=False)

    def show(report: GradeReport, seconds: float) -> None:
        if output:
            write_report(report, output)
        render_report(report, console)
        console.print(Text(f"re-graded in {seconds:.2f} s; watching {notebook} for saves (Ctrl-C stops)", style="dim"))
        console.file.flush()  # through a pipe, stdout is block-buffered: show each grade as it comes

    return run_watch(notebook, options, show)


if __name__ == "__main__":
    sys.exit(main())
