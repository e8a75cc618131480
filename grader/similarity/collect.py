"""Gather the graded functions of every submission in a folder, and what to discount per assignment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from grader.course import Course
from grader.notebook import (
    SETUP,
    LoadedNotebook,
    SubmissionError,
    cell_marks,
    load_notebook,
    locate_graded_cells,
    metadata_assignment,
)
from grader.similarity.fingerprint import kgram_hashes
from grader.similarity.normalize import FunctionCode, graded_function, module_tokens


@dataclass
class AssignmentCode:
    name: str
    functions: list[str]
    ignored: set[int]  # k-gram hashes of the stub, the given code and the reference solution
    code: dict[str, dict[str, FunctionCode]] = field(default_factory=dict)  # function -> submission -> code


@dataclass
class Collection:
    assignments: dict[str, AssignmentCode] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # submission -> why it was not compared


def find_notebooks(root: Path, out_dir: Path | None = None) -> list[Path]:
    """The same submissions bulk grading finds (its names are relative to `root` as in grades.csv)."""
    root = root.resolve()
    out = out_dir.resolve() if out_dir else None
    return [p for p in sorted(root.rglob("*.ipynb"))
            if ".ipynb_checkpoints" not in p.parts and not (out and out in p.resolve().parents)]


def _code_cells(path: Path) -> list[str]:
    try:
        loaded = load_notebook(path)
    except SubmissionError:
        return []
    return [cell.source for _, cell in loaded.code_cells if isinstance(cell.source, str)]


def _assignment(course: Course, name: str, k: int) -> AssignmentCode | None:
    stub = course.stub_path(name)
    if not stub.is_file():
        return None
    loaded = load_notebook(stub)
    functions = list(dict.fromkeys(m for _, c in loaded.code_cells for m in cell_marks(c) if m != SETUP))
    ignored: set[int] = set()
    # Everything the course gives (the stub's signatures, docstrings, helper cells and training
    # loop; any other .py or notebook in the assignment's folder) and the reference solution:
    # code matching these is what the course handed out or expects, not evidence of copying.
    sources = [c.source for _, c in loaded.code_cells]
    for extra in sorted(course.assignment_dir(name).rglob("*")):
        if extra.suffix == ".py":
            sources.append(extra.read_text(encoding="utf-8", errors="replace"))
        elif extra.suffix == ".ipynb" and extra != stub:
            sources += _code_cells(extra)
    if course.has_solution(name):
        sources += _code_cells(course.solution_path(name))
    for source in sources:
        ignored.update(kgram_hashes(module_tokens(source), k))
    return AssignmentCode(name, functions, ignored)


def collect(root: Path, course: Course, k: int, out_dir: Path | None = None,
            assignment: str | None = None) -> Collection:
    result = Collection()
    missing: set[str] = set()
    for path in find_notebooks(root, out_dir):
        submission = str(path.resolve().relative_to(root.resolve()))
        try:
            loaded = load_notebook(path)
        except SubmissionError as exc:
            result.skipped[submission] = str(exc)
            continue
        # Membership in the course, never a path from the notebook (see Course.identify).
        name = course.identify(assignment, metadata_assignment(loaded), path.name).name
        if name is None or name in missing:
            result.skipped[submission] = "its assignment is unknown" if name is None else f"no stub for {name}"
            continue
        if name not in result.assignments:
            found = _assignment(course, name, k)
            if found is None:
                missing.add(name)
                result.skipped[submission] = f"no stub for {name}"
                continue
            result.assignments[name] = found
        entry = result.assignments[name]
        try:
            functions = _functions(loaded, entry.functions)
        except Exception as exc:  # a notebook's JSON is hostile input: one bad file must not stop the class
            result.skipped[submission] = f"its code could not be read ({type(exc).__name__})"
            continue
        for function, code in functions.items():
            entry.code.setdefault(function, {})[submission] = code
    return result


def _functions(loaded: LoadedNotebook, names: list[str]) -> dict[str, FunctionCode]:
    cells = dict(loaded.code_cells)
    found = {}
    for function, index in locate_graded_cells(loaded, names).items():
        code = graded_function(cells[index].source, function)
        if code is not None:
            found[function] = code
    return found
