"""Build (or verify) what is generated from a solution notebook: the stub and public expected outcomes."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.author.compare import outcome_difference
from grader.author.stub import make_stub, render
from grader.course import Course
from grader.probe import read_result
from grader.reference import run_reference

PUBLIC_SEED = 0  # public probes ignore the submission seed; see Probe.seed


@dataclass
class BuildResult:
    name: str
    stub: Path
    expected: list[Path]


def build_assignment(course: Course, name: str, target_dir: Path | None = None) -> BuildResult:
    """Write `<name>.ipynb` and `expected/*.safetensors` into target_dir (default: the assignment folder)."""
    assignment = course.load(name)
    solution = nbformat.read(course.solution_path(name), as_version=4)
    target = target_dir or course.assignment_dir(name)
    target.mkdir(parents=True, exist_ok=True)
    stub_path = target / f"{name}.ipynb"
    stub_path.write_text(render(make_stub(solution, name)), encoding="utf-8")
    expected_dir = target / "expected"
    if expected_dir.exists():
        shutil.rmtree(expected_dir)
    expected_dir.mkdir()
    public = [p for p in assignment.probes if not p.hidden and p.reference]
    inputs = {p.name: p.make_inputs(PUBLIC_SEED) for p in public}
    outcomes = run_reference(course.solution_path(name), public, inputs, PUBLIC_SEED, out_dir=expected_dir)
    broken = [f"{n}: {o.status} {o.error.describe() if o.error else o.detail}" for n, o in outcomes.items() if o.status != "ok"]
    if broken:
        raise RuntimeError(f"{name}: the solution fails its own public probes: {'; '.join(broken)}")
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
