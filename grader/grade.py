"""Grade one submission: load, execute, probe, judge, report.

Every path out of `grade_notebook` returns a `GradeReport`; problems a student can cause end in
the report's `errors` with score 0, never as a traceback.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from grader import __version__
from grader.checks import Assignment, GradingContext, Prepared
from grader.course import Course, UnknownAssignment
from grader.device import resolve_device
from grader.execute import KernelSession, write_kernelspec
from grader.notebook import SubmissionError, cell_marks, identify_assignment, load_notebook, locate_graded_cells
from grader.probe import ProbeOutcome, ProbeResultError, read_result
from grader.reference import start_reference
from grader.report import CheckResult, GradeReport, Submission
from grader.sandbox.session import KernelSandbox
from grader.scoring import Context, score_check
from grader.student_kernel import CellPlan, StudentRun
from grader.zygote.client import Zygote


@dataclass(frozen=True)
class GradeOptions:
    assignment: str | None = None
    device: str = "auto"
    cell_timeout_s: float | None = None  # None: the assignment's own default
    probe_timeout_s: float | None = None  # None: each probe's own limit (--timeout sets both)
    budget_s: float | None = None
    course_dir: Path | None = None
    zygote: Zygote | None = None  # bulk grading: fork kernels from a pre-imported server
    sandbox: bool = True  # False (--no-sandbox): the kernel runs with the grader's own rights
    data_root: Path | None = None  # real data sets (--data-root); None: $GRADER_DATA_ROOT, else generated data


DATA_ROOT_ENV = "GRADER_DATA_ROOT"


def resolve_data_root(options: GradeOptions) -> Path | None:
    if options.data_root is not None:
        return Path(options.data_root)
    return Path(os.environ[DATA_ROOT_ENV]) if os.environ.get(DATA_ROOT_ENV) else None


def _failed_report(path: Path, message: str, started: float, sha: str | None = None,
                   assignment: str | None = None, max_score: float = 0.0) -> GradeReport:
    return GradeReport(
        assignment=assignment, score=0.0, max_score=max_score, status="error",
        submission=Submission(path=str(path), sha256=sha), grader_version=__version__,
        duration_s=round(time.monotonic() - started, 3), errors=[message],
    )


def kernel_environment(scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PYTHONHASHSEED": "0",
        "MPLBACKEND": "Agg",
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        # Under the sandbox's RLIMIT_AS (4 GB), each thread's malloc arena reserves 64 MB of address
        # space: a kernel training a CNN (hw6) ran out with glibc's default of 8 arenas per core.
        "MALLOC_ARENA_MAX": "2",
        # A practice `check()` left in a submission does nothing while it is graded (grader/live.py).
        "GRADER_GRADING": "1",
    })
    return env


def load_expected(course: Course, assignment: Assignment) -> dict[str, ProbeOutcome]:
    expected: dict[str, ProbeOutcome] = {}
    for probe in assignment.probes:
        if probe.hidden or not probe.reference:
            continue
        path = course.expected_dir(assignment.name) / f"{probe.name}.safetensors"
        try:
            expected[probe.name] = read_result(path)
        except ProbeResultError as exc:
            expected[probe.name] = ProbeOutcome("invalid", {}, detail=f"{path.name}: {exc}")
    return expected


async def grade_notebook_async(path: Path, options: GradeOptions = GradeOptions()) -> GradeReport:
    started = time.monotonic()
    path = Path(path)
    try:
        loaded = load_notebook(path)
    except SubmissionError as exc:
        return _failed_report(path, str(exc), started, exc.sha256)
    name = identify_assignment(loaded, options.assignment)
    course = Course.locate(options.course_dir)
    if name is None:
        return _failed_report(path, "cannot tell which assignment this is: pass --assignment NAME", started, loaded.sha256)
    try:
        assignment = course.load(name)
    except UnknownAssignment as exc:
        return _failed_report(path, str(exc), started, loaded.sha256, name)

    device = resolve_device(options.device)
    seed = int(loaded.sha256[:8], 16)
    probes = sorted(assignment.probes, key=lambda p: len(p.uses))  # single-function probes first
    inputs = {p.name: p.make_inputs(seed) | ({"device": device} if assignment.needs_device else {}) for p in probes}
    hidden = [p for p in probes if p.hidden and p.reference]
    have_reference = bool(hidden) and course.has_solution(name)
    errors: list[str] = []
    warnings = list(loaded.warnings)

    with ThreadPoolExecutor(max_workers=1) as pool, tempfile.TemporaryDirectory(prefix="grader-") as tmp:
        scratch = Path(tmp) / "work"
        # Probe files live outside the scratch dir, so the student's code cannot swap the directory
        # itself for a symlink (files inside it are written and read with safe_io).
        io_dir = Path(tmp) / "probe-io"
        io_dir.mkdir()
        scratch.mkdir()
        prepared = Prepared()
        if assignment.prepare is not None:
            try:
                prepared = assignment.prepare(GradingContext(device, scratch, resolve_data_root(options), seed))
            except Exception as exc:  # the grader's set-up (e.g. a bad --data-root), not the student's doing
                return _failed_report(path, f"could not prepare {name}: {exc}", started, loaded.sha256, name,
                                      assignment.max_score)
            for probe_inputs in inputs.values():
                probe_inputs.update(prepared.inputs)
        reference = start_reference(pool, course.solution_path(name), hidden, inputs, seed) if have_reference else None
        budget = options.budget_s or assignment.notebook_budget_s
        sandbox = KernelSandbox(Path(tmp), scratch, enabled=options.sandbox, cuda=device.startswith("cuda"),
                                cpu_s=max(1800, int(3 * budget)), extra_write=[str(io_dir)])
        session = KernelSession(scratch, write_kernelspec(Path(tmp) / "jupyter", sandbox.kernel_argv()),
                                sandbox.environment(kernel_environment(scratch)), zygote=options.zygote,
                                on_stop=sandbox.kill_all)
        cell_timeout = options.cell_timeout_s or assignment.cell_timeout_s
        run = StudentRun(session, io_dir, cell_timeout, options.budget_s or assignment.notebook_budget_s,
                         probe_timeout_s=options.probe_timeout_s)
        outcomes: dict[str, ProbeOutcome] = {}
        try:
            async with session:
                plans = [CellPlan(i, c.source, cell_marks(c)) for i, c in loaded.code_cells]
                await run.run_cells(plans)
                for probe in probes:
                    if probe.name in prepared.timeouts:
                        probe = replace(probe, timeout_s=prepared.timeouts[probe.name])
                    outcomes[probe.name] = await run.run_probe(probe, inputs[probe.name], probe.seed(seed))
        except Exception as exc:  # the kernel could not even start: report it, keep what ran
            errors.append(f"the notebook's kernel failed: {type(exc).__name__}: {str(exc)[:200]}")
        finally:
            warnings.extend(sandbox.warnings())
            sandbox.close()
        expected = load_expected(course, assignment)
        expected.update({p.name: ProbeOutcome("ok", dict(prepared.facts)) for p in probes if not p.reference})
        if reference is not None:
            try:
                expected.update(reference.result())
            except Exception as exc:
                errors.append(f"the reference solution failed on the hidden checks ({type(exc).__name__}: {exc}); tell your instructor")
    warnings.extend(run.notes)

    ctx = Context(
        cell_of=locate_graded_cells(loaded, list(assignment.graded_names)),
        cells={r.index: r for r in run.records},
        reference_available=have_reference or not hidden,
        sources={i: c.source for i, c in loaded.code_cells},
    )
    not_run = ProbeOutcome("dead", {}, detail="the kernel was not running, so this check could not run")
    tests: list[CheckResult] = [
        score_check(check, outcomes.get(check.probe.name, not_run), expected.get(check.probe.name), ctx)
        for check in assignment.checks
    ]
    return GradeReport(
        assignment=name,
        score=round(sum(t.score for t in tests), 4),
        max_score=assignment.max_score,
        status="graded",
        tests=tests,
        submission=Submission(path=str(path), sha256=loaded.sha256),
        device=device,
        duration_s=round(time.monotonic() - started, 3),
        grader_version=__version__,
        checks_sha256=course.fingerprint(name),
        errors=errors,
        warnings=warnings,
        cells=run.records,
    )


def grade_notebook(path: Path, options: GradeOptions = GradeOptions()) -> GradeReport:
    return asyncio.run(grade_notebook_async(path, options))
