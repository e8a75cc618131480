"""Where a course lives on disk, and loading one assignment from it.

A course is a folder with `assignments/<name>/` (stub, checks.py, expected/) and, on the
instructor's side only, `solutions/<name>.ipynb`. An instructor adds an assignment by adding
such a folder; nothing in the grader package names an assignment.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.checks import Assignment
from grader.plaintext import clean

COURSE_ENV = "GRADER_COURSE_DIR"
# An assignment name is a folder name of the course, never a path: letters, digits, _ and -.
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class UnknownAssignment(Exception):
    """The assignment cannot be used; the message says why, in words for the person grading."""


def _is_course(folder: Path) -> bool:
    try:
        return any((sub / "checks.py").is_file() for sub in (folder / "assignments").iterdir())
    except OSError:
        return False


@dataclass(frozen=True)
class Identified:
    """Which assignment a submission is, and what the grader noticed deciding it."""

    name: str | None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # why no assignment could be chosen


@dataclass(frozen=True)
class Course:
    root: Path

    @classmethod
    def locate(cls, explicit: Path | None = None) -> Course:
        """The course a command works on.

        `--course-dir` if given; else the first course folder among the current directory and its
        parents (a command run inside a course works on that course), then $GRADER_COURSE_DIR,
        then the checkout the grader runs from. A course folder has `assignments/<name>/checks.py`.
        """
        if explicit:
            return cls(Path(explicit).resolve())
        cwd = Path.cwd().resolve()
        candidates = [cwd, *cwd.parents]
        if os.environ.get(COURSE_ENV):
            candidates.append(Path(os.environ[COURSE_ENV]))
        candidates.append(Path(__file__).resolve().parent.parent)
        for candidate in candidates:
            if _is_course(candidate):
                return cls(candidate.resolve())
        return cls(cwd)

    @property
    def assignments_dir(self) -> Path:
        return self.root / "assignments"

    def names(self) -> list[str]:
        """The course's assignments: the folders under assignments/ with a valid name."""
        try:
            folders = [p for p in self.assignments_dir.iterdir() if p.is_dir()]
        except OSError:
            return []
        return sorted(p.name for p in folders if NAME.fullmatch(p.name) and not p.name.startswith("_"))

    def assignment_dir(self, name: str) -> Path:
        # Membership, not a path join of whatever string came in: only a folder the scan found.
        if name not in self.names():
            raise UnknownAssignment(self._unknown(name))
        return self.assignments_dir / name

    def _unknown(self, name: str) -> str:
        if not self.assignments_dir.is_dir():
            return f"{self.root} is not a course folder: it has no assignments/ folder (pass --course-dir)"
        shown = clean(name, 80)
        known = ", ".join(self.names()) or "none found"
        if not NAME.fullmatch(name):
            return (f"{shown!r} is not a valid assignment name (letters, digits, _ and - only, at most 64);"
                    f" known assignments: {known}")
        return f"unknown assignment {shown!r} (known: {known})"

    def check_name(self, name: str) -> str:
        """`name` if it is one of this course's assignments, else UnknownAssignment saying why not."""
        if NAME.fullmatch(name) and name in self.names():
            return name
        raise UnknownAssignment(self._unknown(name))

    def identify(self, requested: str | None, metadata: object, file_name: str) -> Identified:
        """Which assignment to grade: --assignment, else the notebook's metadata, else the file name.

        Every candidate must be one of the course's assignments; none is ever joined into a path.
        """
        warnings: list[str] = []
        meta = clean(metadata, 80) if isinstance(metadata, str) else None
        if requested is not None:
            try:
                name = self.check_name(requested)
            except UnknownAssignment as exc:
                return Identified(None, warnings, str(exc))
            if meta is not None and meta != name:
                warnings.append(f"the notebook says it is {meta!r}, but it was graded as {name!r} (--assignment)")
            return Identified(name, warnings)
        meta_problem = None
        if meta is not None:
            try:
                return Identified(self.check_name(metadata), warnings)  # type: ignore[arg-type]
            except UnknownAssignment as exc:
                meta_problem = f"the notebook's metadata names an assignment that cannot be used: {exc}"
        from_file = self.from_file_name(file_name)
        if from_file is not None:
            if meta_problem:
                warnings.append(f"{meta_problem}; graded as {from_file!r}, which its file name names")
            return Identified(from_file, warnings)
        if meta_problem:
            return Identified(None, warnings, f"{meta_problem}; pass --assignment NAME")
        known = ", ".join(self.names()) or "none found"
        return Identified(None, warnings, "cannot tell which assignment this is (neither its metadata nor its file name"
                                          f" names one): pass --assignment NAME (known: {known})")

    def from_file_name(self, file_name: str) -> str | None:
        """The assignment whose name appears in the file name as a word ("HW3_alice" -> hw3), if just one does."""
        stem = Path(file_name).stem.lower()
        # Words split at anything but letters and digits; a plain split, linear in the name's length.
        words = set(re.split(r"[^a-z0-9]+", stem))
        found = [n for n in self.names() if n.lower() in words or n.lower() == stem]
        if len(found) == 1:
            return found[0]
        return None

    def stub_path(self, name: str) -> Path:
        return self.assignment_dir(name) / f"{name}.ipynb"

    def expected_dir(self, name: str) -> Path:
        return self.assignment_dir(name) / "expected"

    def solution_path(self, name: str) -> Path:
        return self.root / "solutions" / f"{self.check_name(name)}.ipynb"

    def has_solution(self, name: str) -> bool:
        try:
            return self.solution_path(name).is_file()
        except UnknownAssignment:
            return False

    def fingerprint(self, name: str) -> str:
        """Changes whenever the checks of `name`, a file they ship (e.g. hw6's initial weights)
        or its public expected outcomes change."""
        digest = hashlib.sha256()
        folder = self.assignment_dir(name)
        shipped = sorted(p for p in folder.rglob("*") if "__pycache__" not in p.parts and p.name != "checks.py")
        files = [folder / "checks.py", *shipped, *sorted(self.expected_dir(name).glob("*"))]
        if self.has_solution(name):
            files.append(self.solution_path(name))
        for path in files:
            if path.is_file():
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()

    def load(self, name: str) -> Assignment:
        folder = self.assignment_dir(name)
        checks_file = folder / "checks.py"
        if not checks_file.is_file():
            raise UnknownAssignment(
                f"assignment {name!r} has no checks: create {checks_file} defining"
                f" ASSIGNMENT = Assignment(name={name!r}, ...) (see docs/writing-an-assignment.md)")
        spec = importlib.util.spec_from_file_location(f"grader_assignment_{name}", checks_file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the author's code: say where, not a traceback
            raise UnknownAssignment(f"{checks_file} could not be loaded: {type(exc).__name__}: {clean(str(exc), 300)}"
                                    " (a problem in the course's checks; tell your instructor)") from exc
        assignment = getattr(module, "ASSIGNMENT", None)
        if not isinstance(assignment, Assignment):
            raise UnknownAssignment(f"{checks_file} does not define ASSIGNMENT = Assignment(...)")
        return assignment
