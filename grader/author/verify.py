"""`grade-author build`: generate an assignment's files and prove them before they reach students.

A mistake in checks.py otherwise surfaces only when students are graded, and is blamed on them
("raised NameError on a hidden input"). So the build, in a scratch copy of the course:

1. checks that every probe is self-contained source (selfcontained.py);
2. generates the stub and the public expected outcomes (build.py);
3. runs every hidden probe against the solution on several seeds, and every check's judge on
   the solution's own outcome, which must earn full points;
4. grades the solution (full marks expected) and the stub (zero expected) with the real pipeline,
   sandboxed kernel included.

Only when all of this holds are the generated files copied into the course: a failed build
leaves the course as it was and lists every problem, naming the probe or check.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.author.build import (
    AuthorError,
    BuildResult,
    build_assignment,
    load_assignment,
    probe_failures,
    run_on_solution,
)
from grader.author.selfcontained import self_containment_problems
from grader.checks import Assignment, Check, Fail, GradingContext, Prepared
from grader.course import Course
from grader.grade import GradeOptions, grade_notebook_async
from grader.probe import ProbeOutcome
from grader.report import GradeReport

BUILD_SEEDS = (11, 22, 33, 44, 55)  # hidden probes draw new inputs per seed (sizes, values)


@dataclass
class Verified:
    name: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    result: BuildResult | None = None


def _judge_problem(check: Check, outcome: ProbeOutcome, when: str, checks_file: Path) -> str | None:
    """None when the check gives the solution's own outcome full points."""
    try:
        verdict = check.decide(outcome, outcome)
    except Fail as fail:
        return f"check {check.name!r} fails the solution{when}: {fail.message}"
    except Exception as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(checks_file)]
        at = f" (checks.py line {frames[-1].lineno})" if frames else ""
        return f"check {check.name!r}: its judge raised {type(exc).__name__}: {exc}{at}"
    if verdict.fraction < 1.0:
        return f"check {check.name!r} gives the solution {verdict.fraction:.0%} of its points{when}: {verdict.message}"
    return None


def _prepared_inputs(assignment: Assignment, scratch: Path, seed: int) -> dict[str, Any]:
    if assignment.prepare is None:
        return {}
    try:
        prepared: Prepared = assignment.prepare(GradingContext("cpu", scratch, None, seed))
    except Exception as exc:
        raise AuthorError(f"{assignment.name}: prepare() raised {type(exc).__name__}: {exc}") from None
    return dict(prepared.inputs)


def hidden_probe_problems(course: Course, assignment: Assignment, seeds: tuple[int, ...], scratch: Path) -> list[str]:
    """Each hidden probe with a reference, on each seed: it runs on the solution and its checks pass."""
    hidden = [p for p in assignment.probes if p.hidden and p.reference]
    if not hidden:
        return []
    checks_file = course.assignment_dir(assignment.name) / "checks.py"
    problems: list[str] = []
    failed: set[str] = set()
    for seed in seeds:
        extra = _prepared_inputs(assignment, scratch, seed) | ({"device": "cpu"} if assignment.needs_device else {})
        inputs = {p.name: p.make_inputs(seed) | extra for p in hidden}
        outcomes = run_on_solution(course, assignment, hidden, inputs, seed)
        when = f" (seed {seed})"
        for probe in hidden:
            if probe.name in failed:
                continue  # one line per probe is enough
            outcome = outcomes[probe.name]
            if outcome.status != "ok":
                problems += probe_failures(course, assignment, [(probe, outcome)], when)
                failed.add(probe.name)
                continue
            for check in assignment.checks:
                if check.probe is probe:
                    problem = _judge_problem(check, outcome, when, checks_file)
                    if problem:
                        problems.append(problem)
                        failed.add(probe.name)
    return problems


def grading_problems(solution: GradeReport, stub: GradeReport) -> list[str]:
    problems = [f"grading the solution failed: {e}" for e in solution.errors]
    problems += [f"grading the stub failed: {e}" for e in stub.errors]
    for test in solution.tests:
        if test.score < test.max_score:
            problems.append(f"check {test.name!r} gives the solution {test.score:g}/{test.max_score:g}"
                            f" ({test.status}): {test.message}")
    for test in stub.tests:
        if test.score > 0:
            problems.append(f"check {test.name!r} gives the untouched stub {test.score:g}/{test.max_score:g}:"
                            " points for no work; make it fail when the function is not implemented")
    return problems


async def _grade_both(course: Course, name: str) -> tuple[GradeReport, GradeReport]:
    options = GradeOptions(assignment=name, course_dir=course.root, device="cpu")
    solution, stub = await asyncio.gather(
        grade_notebook_async(course.solution_path(name), options),
        grade_notebook_async(course.stub_path(name), options),
    )
    return solution, stub


def _stage(course: Course, name: str, root: Path) -> Course:
    """A scratch course holding only this assignment and its solution."""
    shutil.copytree(course.assignment_dir(name), root / "assignments" / name,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "solutions").mkdir()
    shutil.copy2(course.solution_path(name), root / "solutions" / f"{name}.ipynb")
    return Course(root)


def build_verified(course: Course, name: str, seeds: tuple[int, ...] = BUILD_SEEDS, grade: bool = True) -> Verified:
    """Build `name` in a scratch copy, verify it, and copy the generated files into the course if it holds."""
    verified = Verified(name)
    try:
        assignment = load_assignment(course, name)
        verified.problems += self_containment_problems(assignment.probes)
        with tempfile.TemporaryDirectory(prefix="grader-build-") as tmp:
            work = _stage(course, name, Path(tmp) / "course")
            scratch = Path(tmp) / "scratch"
            scratch.mkdir()
            built = build_assignment(work, name)
            verified.problems += hidden_probe_problems(course, assignment, seeds, scratch)
            hidden = sum(1 for p in assignment.probes if p.hidden and p.reference)
            if hidden:
                probes = "probe" if hidden == 1 else "probes"
                verified.notes.append(f"{hidden} hidden {probes} ran on the solution with {len(seeds)} seeds")
            if grade and not verified.problems:
                solution, stub = asyncio.run(_grade_both(work, name))
                verified.problems += grading_problems(solution, stub)
                verified.notes.append(f"solution {solution.score:g}/{solution.max_score:g},"
                                      f" stub {stub.score:g}/{stub.max_score:g}")
            elif verified.problems:
                verified.notes.append("grading the solution and the stub was skipped until these are fixed")
            if not verified.problems:
                verified.result = _install(course, name, built)
    except AuthorError as exc:
        verified.problems += [p.removeprefix(f"{name}: ") for p in exc.problems]
    return verified


def _install(course: Course, name: str, built: BuildResult) -> BuildResult:
    target = course.assignment_dir(name)
    shutil.copy2(built.stub, course.stub_path(name))
    expected = course.expected_dir(name)
    if expected.exists():
        shutil.rmtree(expected)
    shutil.copytree(built.stub.parent / "expected", expected)
    return BuildResult(name, target / built.stub.name, sorted(expected.iterdir()))
