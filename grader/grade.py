"""Grade one submission: identify, prepare, execute, score, report.

Every path out of `grade_notebook` returns a `GradeReport`: problems a student can cause end in
the report's `errors` with score 0, and so does any failure of the grader itself (a bug, a
recursion limit, a scratch folder that cannot be removed), in single and in bulk mode alike.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from grader import __version__, memory_room
from grader.checks import Assignment, Check, GradingContext, Prepared, Probe
from grader.course import Course, UnknownAssignment
from grader.device import resolve_device
from grader.diagnose import failed_cells
from grader.kernel_env import KERNEL_VARIABLES, forks_kernels, kernel_threads, zygote_environment
from grader.kernel_lease import KernelLease, LeaseTerms
from grader.notebook import (
    LoadedNotebook,
    SubmissionError,
    cell_marks,
    load_notebook,
    locate_graded_cells,
    metadata_assignment,
)
from grader.plaintext import clean
from grader.probe import ProbeOutcome, ProbeResultError, read_result
from grader.reference import SETUP_ADVICE, start_reference
from grader.report import CheckResult, GradeReport, Submission, error_report
from grader.sandbox import bwrap
from grader.sandbox.policy import sandbox_environment
from grader.scoring import Context, score_check
from grader.scratch import scratch_folder
from grader.student_kernel import CellPlan, StudentRun
from grader.timing import Deadline, Stages, Timeouts
from grader.zygote.client import Zygote

log = logging.getLogger(__name__)
__all__ = ["KERNEL_VARIABLES", "kernel_threads", "zygote_environment"]  # kept here for callers


@dataclass(frozen=True)
class GradeOptions:
    """What the person grading chose (plain, picklable values: bulk and cluster modes send it on)."""

    assignment: str | None = None
    device: str = "auto"
    cell_timeout_s: float | None = None  # None: the assignment's own default
    probe_timeout_s: float | None = None  # None: each probe's own limit (--timeout sets both)
    budget_s: float | None = None  # wall time of the whole grading; None: the assignment's
    course_dir: Path | None = None
    sandbox: bool = True  # False (--no-sandbox): the kernel runs with the grader's own rights
    data_root: Path | None = None  # real data sets (--data-root); None: $GRADER_DATA_ROOT, else generated data
    low_memory: bool | None = None  # --low-memory; None: when less than 2 GB is free (grader/memory_room.py)
    # --exec-kernels: start each kernel as a process of its own (through bwrap when it is there)
    # instead of forking it from a fork server; also what happens where fork servers are not
    # supported (not Linux) or the fork server cannot start.
    exec_kernels: bool = False


DATA_ROOT_ENV = "GRADER_DATA_ROOT"
# What the grader itself may add to the budget: starting and stopping kernels, cleaning up.
OVERHEAD_S = 30.0


def resolve_data_root(options: GradeOptions) -> Path | None:
    if options.data_root is not None:
        return Path(options.data_root)
    return Path(os.environ[DATA_ROOT_ENV]) if os.environ.get(DATA_ROOT_ENV) else None


def kernel_environment(scratch: Path) -> dict[str, str]:
    """The kernel's environment, built here only: the grader's minus anything named like a secret,
    every home, cache and config folder inside the scratch folder, and KERNEL_VARIABLES."""
    return sandbox_environment(dict(os.environ) | KERNEL_VARIABLES, scratch)


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


class Unusable(Exception):
    """The submission cannot be graded; the message says why (becomes an error report)."""


@dataclass
class Grading:
    """The state of one grading as it goes through its stages."""

    path: Path
    options: GradeOptions
    zygote: Zygote | None
    # A single grading's own fork server while it starts (alongside loading the notebook).
    zygote_starting: Future[None] | None = None
    own_zygote: Zygote | None = None
    spare: KernelLease | None = None  # a kernel started before the grading (--watch)
    launched: Zygote | None = None  # this grading's own fork server, launched by the caller
    started: float = field(default_factory=time.monotonic)
    course: Course | None = None
    loaded: LoadedNotebook | None = None
    sha256: str | None = None
    assignment: Assignment | None = None
    device: str = "cpu"
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stages: Stages = field(default_factory=Stages)

    def failed(self, message: str) -> GradeReport:
        """An error report with everything known so far (the assignment's points, the file's hash)."""
        a = self.assignment
        return error_report(self.path, message, sha256=self.sha256, assignment=a.name if a else None,
                            max_score=a.max_score if a else 0.0, started=self.started)

    # -- stage 1: which assignment, and can the notebook be read -------------------------------------
    def identify(self) -> None:
        self.course = Course.locate(self.options.course_dir)
        load_error: SubmissionError | None = None
        try:
            self.loaded = load_notebook(self.path)
            self.sha256 = self.loaded.sha256
        except SubmissionError as exc:
            load_error, self.sha256 = exc, exc.sha256
        metadata = metadata_assignment(self.loaded) if self.loaded else None
        chosen = self.course.identify(self.options.assignment, metadata, self.path.name)
        if chosen.name is not None:
            try:
                self.assignment = self.course.load(chosen.name)
            except UnknownAssignment as exc:
                raise Unusable(str(exc)) from None
        if load_error is not None:  # still 0 of the assignment's points when it is known
            raise Unusable(str(load_error))
        if chosen.error is not None:
            raise Unusable(chosen.error)
        self.warnings.extend(chosen.warnings)
        assert self.loaded is not None
        self.warnings.extend(self.loaded.warnings)


def _error_result(check: Check, message: str) -> CheckResult:
    return CheckResult(name=check.name, score=0.0, max_score=check.points, status="error", message=message,
                       hidden=check.hidden, functions=list(check.probe.uses))


def score_all(assignment: Assignment, outcomes: dict[str, ProbeOutcome], expected: dict[str, ProbeOutcome],
              ctx: Context) -> list[CheckResult]:
    """Each check scored on its own: one that cannot be scored costs its points, never the report."""
    not_run = ProbeOutcome("dead", {}, detail="the kernel was not running, so this check could not run")
    results = []
    for check in assignment.checks:
        try:
            results.append(score_check(check, outcomes.get(check.probe.name, not_run), expected.get(check.probe.name), ctx))
        except Exception as exc:
            log.exception("scoring %s failed", check.name)
            results.append(_error_result(check, f"the grader could not score this check ({type(exc).__name__});"
                                                " tell your instructor"))
    return results


async def _execute(g: Grading) -> tuple[StudentRun, dict[str, ProbeOutcome], dict[str, ProbeOutcome], bool]:
    """Stage 2: prepare, start the reference, run the student's cells and probes in the sandbox."""
    assert g.assignment is not None and g.loaded is not None and g.course is not None
    assignment, options, course = g.assignment, g.options, g.course
    name = assignment.name
    device = g.device
    seed = int(g.loaded.sha256[:8], 16)
    probes = sorted(assignment.probes, key=lambda p: len(p.uses))  # single-function probes first
    with g.stages.stage("inputs"):
        inputs = {p.name: p.make_inputs(seed) | ({"device": device} if assignment.needs_device else {}) for p in probes}
    hidden = [p for p in probes if p.hidden and p.reference]
    have_reference = bool(hidden) and course.has_solution(name)

    terms = lease_terms(options, assignment, device, g.zygote if g.zygote_starting is None else g.own_zygote)
    lease = await _take_spare(g, terms) or KernelLease(terms, kernel_environment)
    try:
        return await _run_in(g, lease, probes, inputs, hidden, have_reference, seed)
    finally:
        with g.stages.stage("scratch clean-up"):
            g.warnings.extend(lease.close())


async def _run_in(g: Grading, lease: KernelLease, probes: list[Probe], inputs: dict[str, dict], hidden: list[Probe],
                  have_reference: bool, seed: int) -> tuple[StudentRun, dict[str, ProbeOutcome], dict[str, ProbeOutcome], bool]:
    assert g.assignment is not None and g.loaded is not None and g.course is not None
    assignment, options, course, device = g.assignment, g.options, g.course, g.device
    name = assignment.name
    prepared = Prepared()
    if assignment.prepare is not None:
        try:
            with g.stages.stage("prepare"):
                prepared = assignment.prepare(GradingContext(device, lease.scratch, resolve_data_root(options), seed))
        except Exception as exc:  # the grader's set-up (e.g. a bad --data-root), not the student's doing
            raise Unusable(f"could not prepare {name}: {exc}") from None
        for probe_name, probe_inputs in inputs.items():
            probe_inputs.update(prepared.inputs)
            probe_inputs.update(prepared.probe_inputs.get(probe_name, {}))
    timeouts = _timeouts(options, assignment, prepared.timeouts)
    deadline = Deadline(timeouts.budget_s, started=g.started)
    outcomes: dict[str, ProbeOutcome] = {}
    await _fork_server_ready(g)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # Forked from the zygote, which has imported torch for the kernels (grader/reference.py).
        reference = (start_reference(pool, course.solution_path(name), hidden, inputs, seed, course_root=course.root,
                                     assignment=name, timeout_s=timeouts.budget_s, zygote=g.zygote)
                     if have_reference else None)
        kernel_zygote = kernel_fork_server(options, g.zygote)
        with g.stages.stage("sandbox set-up"):
            session = lease.set_up(kernel_zygote)
        run = StudentRun(session, lease.io_dir, timeouts, deadline)
        try:
            with g.stages.stage("kernel start"):
                await lease.start(kernel_zygote)
        except Exception as exc:
            raise Unusable(kernel_start_message(exc)) from None
        low = options.low_memory
        if reference is not None and kernel_zygote is None and (memory_room.is_low() if low is None else low):
            # Exec'd kernels only (forked ones share torch with the reference): one torch at a
            # time in the process tree, since the reference process holds ~290 MB of its own
            # until it exits, and so does the kernel once a cell imports torch. hw3: 908 -> ~740
            # MB PSS peak, +0.5 s; the kernel's start still overlaps the reference.
            with g.stages.stage("reference (before the cells)"):
                await asyncio.wait([asyncio.wrap_future(reference)])
        try:
            with g.stages.stage("cells"):
                await run.run_cells([CellPlan(i, c.source, cell_marks(c)) for i, c in g.loaded.code_cells])
            with g.stages.stage("probes"):
                outcomes.update(await run.run_probes(probes, inputs, {p.name: p.seed(seed) for p in probes}))
        except Exception as exc:  # e.g. a restart failed: keep what ran, the rest scores as not run
            g.errors.append(f"the notebook's kernel failed: {type(exc).__name__}: {clean(str(exc), 200)}")
        finally:
            try:
                with g.stages.stage("kernel stop"):
                    await lease.stop()
            except Exception as exc:  # the sandbox's kill (lease.close) still ends what is left
                log.warning("stopping the kernel failed: %r", exc)
        with g.stages.stage("expected outcomes"):
            expected = load_expected(course, assignment)
        expected.update({p.name: ProbeOutcome("ok", dict(prepared.facts)) for p in probes if not p.reference})
        if reference is not None:
            try:
                with g.stages.stage("reference (waited for)"):
                    expected.update(reference.result())
            except Exception as exc:
                advice = f"; {SETUP_ADVICE}" if isinstance(exc, NameError) else ""
                g.errors.append(f"the reference solution failed on the hidden checks ({type(exc).__name__}: {exc}{advice});"
                                " tell your instructor")
    return run, outcomes, expected, have_reference or not hidden


def _timeouts(options: GradeOptions, assignment: Assignment, per_probe_s: dict[str, float] | None = None) -> Timeouts:
    return Timeouts.resolve(budget_s=options.budget_s, cell_s=options.cell_timeout_s, probe_s=options.probe_timeout_s,
                            default_budget_s=assignment.notebook_budget_s, default_cell_s=assignment.cell_timeout_s,
                            per_probe_s=per_probe_s)


def kernel_fork_server(options: GradeOptions, zygote: Zygote | None) -> Zygote | None:
    """The fork server to fork the kernel from; None: exec it. Where a forked child cannot make the
    sandbox's namespaces but bubblewrap can (unprivileged user namespaces restricted to allowed
    programs, as Ubuntu 24.04's AppArmor rule does), the kernel is exec'd through bwrap: the
    sandbox comes before the memory saved (the reference is still forked)."""
    if zygote is None or not options.sandbox or zygote.namespaces_missing is None:
        return zygote
    if bwrap.unusable_reason() is None:
        log.info("kernels are exec'd through bwrap: a forked kernel could not make namespaces (%s)",
                 zygote.namespaces_missing)
        return None
    return zygote


def lease_terms(options: GradeOptions, assignment: Assignment, device: str, zygote: Zygote | None) -> LeaseTerms:
    kernel_zygote = kernel_fork_server(options, zygote)
    return LeaseTerms(sandbox=options.sandbox, cuda=device.startswith("cuda"), zygote_id=id(kernel_zygote) if kernel_zygote else 0,
                      cpu_s=max(1800, int(3 * _timeouts(options, assignment).budget_s)))


async def _take_spare(g: Grading, terms: LeaseTerms) -> KernelLease | None:
    """The spare kernel, if it was started on these terms; else it is discarded."""
    spare, g.spare = g.spare, None
    if spare is None:
        return None
    if spare.terms == terms:
        return spare
    await spare.discard()
    return None


async def wait_for_spare(spare: asyncio.Future[KernelLease | None]) -> KernelLease | None:
    """Wait for a spare kernel to be ready; if Ctrl-C comes meanwhile, it is discarded, not lost
    (cancelling its start midway could leave a kernel and a folder nobody removes)."""
    try:
        return await asyncio.shield(spare)
    except asyncio.CancelledError:
        await discard_spare(spare)
        raise


async def discard_spare(spare: asyncio.Future[KernelLease | None]) -> None:
    """Stop a spare kernel, also when Ctrl-C came while it was starting (let it finish starting
    first, under a second: a start cut in the middle could leave a kernel nobody stops)."""
    try:
        lease = await spare
    except Exception:
        return
    if lease is not None:
        await lease.discard()


async def open_spare(options: GradeOptions, zygote: Zygote, assignment_name: str | None) -> KernelLease | None:
    """A kernel started now for the next grading of this assignment (`--watch`); None if it cannot be."""
    if assignment_name is None:
        return None
    try:
        assignment = Course.locate(options.course_dir).load(assignment_name)
        lease = KernelLease(lease_terms(options, assignment, resolve_device(options.device), zygote), kernel_environment)
    except Exception as exc:  # the next grading starts its own kernel, and reports what is wrong
        log.warning("could not prepare a spare kernel: %r", exc)
        return None
    try:
        await lease.start(kernel_fork_server(options, zygote))
    except Exception as exc:
        log.warning("could not start a spare kernel: %r", exc)
        lease.close()
        return None
    return lease


def kernel_start_message(exc: BaseException) -> str:
    """Why the kernel could not start, as the grader's failure (never the student's zero)."""
    text = f"{type(exc).__name__}: {clean(str(exc), 300)}"
    advice = "check that ipykernel is installed for this Python and that the temporary folder is writable"
    if "too long" in str(exc).lower():
        advice = "the temporary folder's path is too long for the kernel's sockets: set TMPDIR to a short path such as /tmp"
    return f"the grader could not start a Python kernel for this notebook ({text}); {advice}. This is not the student's doing."


async def _grade(g: Grading) -> GradeReport:
    with g.stages.stage("load and identify"):
        g.identify()
    assert g.assignment is not None and g.loaded is not None and g.course is not None
    g.device = resolve_device(g.options.device)
    with own_fork_server(g):
        run, outcomes, expected, reference_available = await _execute(g)
    g.warnings.extend(run.notes)
    g.warnings.extend(failed_cells(run.records))
    ctx = Context(
        cell_of=locate_graded_cells(g.loaded, list(g.assignment.graded_names)),
        cells={r.index: r for r in run.records},
        reference_available=reference_available,
        sources={i: c.source for i, c in g.loaded.code_cells},
    )
    with g.stages.stage("scoring"):
        tests = score_all(g.assignment, outcomes, expected, ctx)
    return GradeReport(
        assignment=g.assignment.name,
        score=round(sum(t.score for t in tests), 4),
        max_score=g.assignment.max_score,
        pending_score=sum(t.max_score for t in tests if t.status == "skipped"),
        status="graded",
        tests=tests,
        submission=Submission(path=str(g.path), sha256=g.loaded.sha256),
        device=g.device,
        duration_s=round(time.monotonic() - g.started, 3),
        grader_version=__version__,
        checks_sha256=g.course.fingerprint(g.assignment.name),
        errors=g.errors,
        warnings=g.warnings,
        cells=run.records,
        timings=g.stages.seconds,
    )


async def _fork_server_ready(g: Grading) -> None:
    """Wait for the grading's own fork server; if it could not start, kernels are exec'd instead."""
    if g.zygote_starting is None:
        return
    try:
        with g.stages.stage("fork server start"):
            await asyncio.wrap_future(g.zygote_starting)
            g.zygote = g.own_zygote
    except Exception as exc:
        log.warning("the fork server did not start: %r", exc)
        g.warnings.append(f"the kernel fork server did not start ({clean(str(exc), 200)}); the kernel was started"
                          " as a process of its own (slower, same sandbox)")


@contextmanager
def own_fork_server(g: Grading) -> Iterator[None]:
    """A fork server for this grading alone, started in the background (torch is imported once,
    for the kernel and the reference together), and stopped at the end, whatever happened. The
    `grade` command launches it earlier still (`launched`), before its own imports."""
    launched = g.launched
    if g.zygote is not None or not (launched is not None or forks_kernels(g.options.exec_kernels)):
        yield
        return
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=1) as starter:
        zygote = launched or Zygote(stack.enter_context(scratch_folder(prefix="grader-zw-")), zygote_environment(jobs=1),
                                    many=False)
        g.own_zygote, g.zygote_starting = zygote, starter.submit(zygote.wait_ready if launched else zygote.start)
        try:
            yield
        finally:
            # Still starting (the notebook was found unusable first, or Ctrl-C): wait for the
            # start to end, so that the stop below leaves no fork server behind.
            wait([g.zygote_starting])
            zygote.stop()
            g.zygote = None


async def grade_notebook_async(path: Path, options: GradeOptions = GradeOptions(), zygote: Zygote | None = None,
                               spare: KernelLease | None = None, launched: Zygote | None = None) -> GradeReport:
    """Grade one notebook. `zygote`: fork kernels from this pre-imported server (bulk grading,
    --watch); without one, a grading starts its own (unless `exec_kernels`), or takes over
    `launched`, one its caller launched for it (it waits for it, uses it, stops it). `spare`: a
    kernel started ahead (open_spare), used if it fits, else discarded; either way it is closed."""
    g = Grading(Path(path), options, zygote, spare=spare, launched=launched)
    try:
        return await _grade(g)
    except Unusable as exc:
        return g.failed(str(exc))
    except Exception as exc:  # a grader bug or limit (RecursionError, ...): still a report, never a traceback
        log.exception("grading %s failed", path)
        return g.failed(f"internal grader error ({type(exc).__name__}: {clean(str(exc), 200)}); tell your instructor")
    finally:
        if g.spare is not None:  # the grading ended before it needed a kernel
            await g.spare.discard()


def grade_notebook(path: Path, options: GradeOptions = GradeOptions(), zygote: Zygote | None = None,
                   launched: Zygote | None = None) -> GradeReport:
    return asyncio.run(grade_notebook_async(path, options, zygote, launched=launched))
