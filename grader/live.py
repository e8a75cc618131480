"""Check as you go: an assignment's public checks, run inside the student's own kernel.

`from grader import check; check("softmax")` (or `%load_ext grader` then `%grade softmax`) calls
the kernel's current definitions with the public checks' fixed inputs and prints the same rows
as `grade`'s table, in well under a second, because torch and the student's functions are
already loaded.

This is feedback, never a grade: the code being checked runs in this very process and could
change anything here. The trusted path (`grade`: a fresh sandboxed kernel, judged in the grader)
never imports this module, and the output says so. Hidden checks and solutions are not needed
and never used.
"""

from __future__ import annotations

import os
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import __version__, probe_runtime
from grader.checks import Assignment, Check
from grader.course import Course
from grader.notebook import cell_marks
from grader.probe import ProbeOutcome, ProbeResultError, probe_source, read_result, write_inputs
from grader.report import CheckResult, GradeReport, Submission
from grader.scoring import Context, score_check

# Set in the kernels `grade` starts: a check() left in a submitted notebook does nothing there.
GRADING_ENV = "GRADER_GRADING"
FEEDBACK_ONLY = "practice check in this kernel: feedback only, not your grade (run `grade {nb}` for that)"


class LiveCheckError(Exception):
    """Why check() cannot run here, in words for the student."""


@dataclass
class LiveReport:
    """What check() found; its repr is one line, so a trailing check() does not print twice."""

    assignment: str
    results: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(r.score for r in self.results)

    @property
    def max_score(self) -> float:
        return sum(r.max_score for r in self.results)

    def __repr__(self) -> str:
        return f"<{self.assignment}: {self.score:g}/{self.max_score:g} on public checks (feedback only)>"


def _user_namespace() -> dict[str, Any]:
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None:
        return shell.user_ns
    import __main__

    return vars(__main__)


def _stub_marks(course: Course, name: str) -> list[str]:
    """Graded names marked in an assignment's stub (cheap: no checks.py is imported)."""
    import nbformat

    try:
        nb = nbformat.read(course.stub_path(name), as_version=4)
    except Exception:  # an unreadable stub: that assignment simply does not match
        return []
    return [mark for cell in nb.cells if cell.cell_type == "code" for mark in cell_marks(cell)]


def _pick_assignment(course: Course, function: str | None, ns: dict[str, Any]) -> str:
    marks = {name: _stub_marks(course, name) for name in course.names()}
    if function is not None:
        owners = [name for name, graded in marks.items() if function in graded]
        if len(owners) == 1:
            return owners[0]
        if not owners:
            known = ", ".join(sorted({m for graded in marks.values() for m in graded})) or "none"
            raise LiveCheckError(f"no assignment grades a function called {function!r} (graded: {known})")
        raise LiveCheckError(f"{function!r} is graded in {', '.join(owners)}: pass assignment=\"...\"")
    defined = {name: sum(1 for m in graded if callable(ns.get(m))) for name, graded in marks.items()}
    best = max(defined.values(), default=0)
    winners = [name for name, count in defined.items() if count == best]
    if best == 0 or len(winners) != 1:
        raise LiveCheckError("cannot tell which assignment this kernel is working on: "
                             "pass a function name, e.g. check(\"softmax\"), or assignment=\"hw3\"")
    return winners[0]


def _wanted(assignment: Assignment, function: str | None) -> tuple[list[Check], list[str]]:
    checks: list[Check] = []
    notes: list[str] = []
    together: list[str] = []
    for c in assignment.checks:
        if function is not None and function not in c.probe.uses:
            continue
        if function is not None and len(c.probe.uses) > 1:
            # It needs the other functions too: check() runs it, once they are all written.
            together.append(c.name)
            continue
        if c.hidden:
            continue  # hidden checks need the instructor's solutions: never here
        if not c.probe.reference or assignment.prepare is not None:
            notes.append(f"{c.name}: runs only under `grade` (it needs the grader's own data)")
            continue
        checks.append(c)
    hidden = sum(c.points for c in assignment.checks if c.hidden and (function is None or function in c.probe.uses))
    if together:
        notes.append(f"check() with no name also runs what needs {function} with other functions: {'; '.join(together)}")
    if hidden:
        notes.append(f"{hidden:g} more point{'' if hidden == 1 else 's'} from hidden checks, graded by your instructor")
    return checks, notes


def _run_probe(check: Check, ns: dict[str, Any], tmp: Path) -> ProbeOutcome:
    """The probe exactly as `grade` runs it (same runtime, same wire format), but in this process."""
    probe = check.probe
    in_path, out_path = tmp / f"{probe.name}.in", tmp / f"{probe.name}.out"
    write_inputs(in_path, probe.make_inputs(0))
    probe_runtime.run_probe(ns, probe_source(probe.fn, probe.helpers), probe.fn.__name__, list(probe.uses),
                            str(in_path), str(out_path), probe.seed(0))
    try:
        return read_result(out_path)
    except ProbeResultError as exc:
        return ProbeOutcome("invalid", {}, detail=str(exc))


class _RandomState:
    """The probe seeds every RNG; put the student's RNG states back afterwards."""

    def __enter__(self) -> _RandomState:
        import numpy as np
        import torch

        self._states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
        return self

    def __exit__(self, *exc: object) -> None:
        import numpy as np
        import torch

        random.setstate(self._states[0])
        np.random.set_state(self._states[1])
        torch.set_rng_state(self._states[2])


def run_checks(function: str | None = None, *, assignment: str | None = None,
               course_dir: Path | None = None, ns: dict[str, Any] | None = None) -> LiveReport:
    """Run the public checks (of one function, or all) on the definitions in `ns`."""
    ns = _user_namespace() if ns is None else ns
    course = Course.locate(course_dir)
    name = assignment or _pick_assignment(course, function, ns)
    loaded = course.load(name)
    if function is not None and function not in loaded.graded_names:
        raise LiveCheckError(f"{name} does not grade a function called {function!r} "
                             f"(it grades {', '.join(loaded.graded_names)})")
    checks, notes = _wanted(loaded, function)
    from grader.grade import load_expected

    expected = load_expected(course, loaded)
    ctx = Context(cell_of={}, cells={}, reference_available=True)
    report = LiveReport(assignment=name, notes=notes)
    outcomes: dict[str, ProbeOutcome] = {}
    with tempfile.TemporaryDirectory(prefix="grader-check-") as tmp, _RandomState():
        for c in checks:
            missing = [n for n in c.probe.uses if n not in ns]
            if missing:
                outcome = ProbeOutcome("missing", {}, missing=missing)
            elif c.probe.name not in outcomes:
                outcome = outcomes[c.probe.name] = _run_probe(c, ns, Path(tmp))
            else:
                outcome = outcomes[c.probe.name]
            result = score_check(c, outcome, expected.get(c.probe.name), ctx)
            if missing:
                result.message = f"{', '.join(missing)} is not defined in this kernel yet: run its cell first"
            report.results.append(result)
    return report


def render(report: LiveReport, notebook: str) -> None:
    from rich.console import Console

    from grader.render import render_report

    graded = GradeReport(
        assignment=report.assignment, score=report.score, max_score=report.max_score, status="graded",
        tests=report.results, submission=Submission(path=FEEDBACK_ONLY.format(nb=notebook)),
        grader_version=__version__, warnings=report.notes,
    )
    render_report(graded, Console(highlight=False))


def check(function: str | None = None, *, assignment: str | None = None,
          course_dir: str | Path | None = None) -> LiveReport | None:
    """Print the public checks of `function` (every graded function when omitted) as `grade` would."""
    if os.environ.get(GRADING_ENV):
        return None  # inside `grade`: the real checks run anyway, and this kernel is sandboxed
    try:
        report = run_checks(function, assignment=assignment, course_dir=Path(course_dir) if course_dir else None)
    except LiveCheckError as exc:
        print(f"check: {exc}")
        return None
    render(report, f"{report.assignment}.ipynb")
    return report


def load_ipython_extension(shell: Any) -> None:
    """`%load_ext grader`, then `%grade softmax` (or `%grade` for every public check)."""

    def grade_magic(line: str) -> None:
        check(line.strip() or None)

    shell.register_magic_function(grade_magic, "line", "grade")
