"""Generate what comes from a solution notebook: the student's stub and public expected outcomes.

`build_assignment` only writes files; `grade-author build` also verifies them first
(grader/author/verify.py). Every mistake an author can make here ends in an `AuthorError`, whose
text says what to create, mark or fix; never in a traceback.
"""

from __future__ import annotations

import shutil
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from grader.author.compare import outcome_difference
from grader.author.marks import mark_advice, name_error_advice
from grader.author.stub import MarkerError, make_stub, render
from grader.checks import Assignment, Probe
from grader.course import Course
from grader.probe import ProbeOutcome, read_result
from grader.reference import run_reference

PUBLIC_SEED = 0  # public probes ignore the submission seed; see Probe.seed
GUIDE = "docs/writing-an-assignment.md"


class AuthorError(Exception):
    """A mistake in a course's files, explained for its author (`problems`: one line each)."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


@dataclass
class BuildResult:
    name: str
    stub: Path
    expected: list[Path]


def _course_frame(exc: BaseException, course: Course) -> str:
    """' (path, line N)' of the innermost traceback frame in the course's own files, or ''."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith(str(course.root)) or frame.filename.startswith("<solution"):
            return f" ({frame.filename}, line {frame.lineno})"
    return ""


def load_assignment(course: Course, name: str) -> Assignment:
    """The course's assignment `name`, or an AuthorError saying which file to create or fix."""
    checks = course.assignment_dir(name) / "checks.py"
    if not checks.is_file():
        raise AuthorError(
            f"{name}: no {checks} in the course at {course.root}. Create it, defining"
            f" ASSIGNMENT = Assignment(name={name!r}, ...) (see {GUIDE}); or, if this is the wrong course,"
            " run grade-author inside your course folder or pass --course-dir"
        )
    if not course.has_solution(name):
        raise AuthorError(
            f"{name}: no solution notebook {course.solution_path(name)}. Create it: the stub and the"
            f" expected outcomes are generated from it (see {GUIDE})"
        )
    try:
        assignment = course.load(name)
    except Exception as exc:  # whatever checks.py raises while it is imported
        cause = exc.__cause__ or exc  # Course.load wraps it for the person grading; the author wants the cause
        if isinstance(cause, SyntaxError):
            raise AuthorError(f"{name}: {cause.filename}, line {cause.lineno}: {cause.msg}") from None
        raise AuthorError(f"{name}: importing {checks} raised {type(cause).__name__}: {cause}"
                          f"{_course_frame(cause, course)}") from None
    if assignment.name != name:
        raise AuthorError(f"{name}: {checks} defines Assignment(name={assignment.name!r}); the folder and the name must match")
    return assignment


def probe_failures(course: Course, assignment: Assignment, failed: list[tuple[Probe, ProbeOutcome]], when: str = "") -> list[str]:
    """One line per distinct failure; probes failing the same way (a missing setup mark) share it."""
    lines: dict[str, list[str]] = {}
    for probe, outcome in failed:
        lines.setdefault(probe_failure(course, assignment, probe, outcome, when), []).append(probe.name)
    return [f"{'probe' if len(names) == 1 else 'probes'} {', '.join(names)} {text}" for text, names in lines.items()]


def probe_failure(course: Course, assignment: Assignment, probe: Probe, outcome: ProbeOutcome, when: str = "") -> str:
    """What went wrong with a probe on the solution (after 'probe NAME'), with a fix when one is known."""
    solution = course.solution_path(assignment.name)
    where = f"({probe.fn.__name__})"
    if outcome.status == "missing":
        names = outcome.missing or list(probe.uses)
        advice = mark_advice(solution, names, assignment.graded_names) or (
            f"define {', '.join(names)} in a cell marked `#| grade: {names[0]}`")
        return f"{where} found no {', '.join(names)} in the solution{when}: {advice}"
    if outcome.status == "error" and outcome.error is not None:
        error = outcome.error
        text = f"{error.type}: {error.message}" if error.message else error.type
        last = error.where[-1] if error.where else ""
        line = f" ({last})" if last and not last.endswith(": ") else ""  # the solution's cells have no source lines
        advice = ""
        if error.type == "NameError" and not error.where:  # raised by the probe's own code, not the solution's
            advice = "the probe's own code uses a name it does not define: import it inside the probe function"
        elif error.type == "NameError":
            advice = name_error_advice(solution, error.message, assignment.graded_names)
        return f"{where} raised {text} on the solution{when}{line}" + (f": {advice}" if advice else "")
    return f"{where} gave no result on the solution{when}: {outcome.status} {outcome.detail}".rstrip()


def run_on_solution(
    course: Course, assignment: Assignment, probes: list[Probe], inputs: dict[str, dict[str, Any]], seed: int,
    out_dir: Path | None = None,
) -> dict[str, ProbeOutcome]:
    """run_reference, with a solution cell that fails to run explained instead of raised."""
    solution = course.solution_path(assignment.name)
    try:
        return run_reference(solution, probes, inputs, seed, out_dir=out_dir)
    except Exception as exc:  # the solution's marked cells are executed first; one of them raised
        text = f"{type(exc).__name__}: {exc}"
        advice = name_error_advice(solution, str(exc), assignment.graded_names) if isinstance(exc, NameError) else ""
        raise AuthorError(
            f"{assignment.name}: running the marked cells of {solution.name} raised {text}{_course_frame(exc, course)}"
            + (f": {advice}" if advice else "")
        ) from None


def build_assignment(course: Course, name: str, target_dir: Path | None = None) -> BuildResult:
    """Write `<name>.ipynb` and `expected/*.safetensors` into target_dir (default: the assignment folder)."""
    assignment = load_assignment(course, name)
    try:
        solution = nbformat.read(course.solution_path(name), as_version=4)
        stub = make_stub(solution, name)
    except MarkerError as exc:
        raise AuthorError(f"{name}: {course.solution_path(name).name}, {exc}") from None
    except Exception as exc:  # not JSON, not a notebook
        raise AuthorError(f"{name}: {course.solution_path(name)} is not a readable notebook ({type(exc).__name__}: {exc})") from None
    target = target_dir or course.assignment_dir(name)
    target.mkdir(parents=True, exist_ok=True)
    stub_path = target / f"{name}.ipynb"
    stub_path.write_text(render(stub), encoding="utf-8")
    expected_dir = target / "expected"
    if expected_dir.exists():
        shutil.rmtree(expected_dir)
    expected_dir.mkdir()
    public = [p for p in assignment.probes if not p.hidden and p.reference]
    inputs = {p.name: p.make_inputs(PUBLIC_SEED) for p in public}
    outcomes = run_on_solution(course, assignment, public, inputs, PUBLIC_SEED, out_dir=expected_dir)
    broken = probe_failures(course, assignment, [(p, outcomes[p.name]) for p in public if outcomes[p.name].status != "ok"])
    if broken:
        raise AuthorError(f"{name}: the solution fails its own public probes: {'; '.join(broken)}", broken)
    return BuildResult(name, stub_path, sorted(expected_dir.iterdir()))


def stale_files(course: Course, name: str) -> list[str]:
    """What differs between the committed generated files and a fresh build (empty: up to date)."""
    with tempfile.TemporaryDirectory(prefix="grader-build-") as tmp:
        fresh = build_assignment(course, name, Path(tmp))
        problems: list[str] = []
        committed_stub = course.stub_path(name)
        if not committed_stub.is_file() or committed_stub.read_text(encoding="utf-8") != fresh.stub.read_text(encoding="utf-8"):
            problems.append(str(committed_stub))
        committed_dir = course.expected_dir(name)
        fresh_names = {p.name for p in fresh.expected}
        committed_names = {p.name for p in committed_dir.glob("*.safetensors")} if committed_dir.is_dir() else set()
        problems.extend(str(committed_dir / n) for n in sorted(fresh_names ^ committed_names))
        for file_name in sorted(fresh_names & committed_names):
            why = outcome_difference(read_result(committed_dir / file_name), read_result(Path(tmp) / "expected" / file_name))
            if why:
                problems.append(f"{committed_dir / file_name} ({why})")
        return problems
