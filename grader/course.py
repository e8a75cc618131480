"""Where a course lives on disk, and loading one assignment from it.

A course is a folder with `assignments/<name>/` (stub, checks.py, expected/) and, on the
instructor's side only, `solutions/<name>.ipynb`. An instructor adds an assignment by adding
such a folder; nothing in the grader package names an assignment.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from grader.checks import Assignment

COURSE_ENV = "GRADER_COURSE_DIR"


class UnknownAssignment(Exception):
    pass


@dataclass(frozen=True)
class Course:
    root: Path

    @classmethod
    def locate(cls, explicit: Path | None = None) -> Course:
        """--course-dir, then $GRADER_COURSE_DIR, then the checkout the package runs from, then cwd upwards."""
        candidates: list[Path] = []
        if explicit:
            candidates.append(Path(explicit))
        if os.environ.get(COURSE_ENV):
            candidates.append(Path(os.environ[COURSE_ENV]))
        candidates.append(Path(__file__).resolve().parent.parent)
        cwd = Path.cwd().resolve()
        candidates.extend([cwd, *cwd.parents])
        for candidate in candidates:
            if (candidate / "assignments").is_dir():
                return cls(candidate.resolve())
        return cls((Path(explicit) if explicit else cwd).resolve())

    @property
    def assignments_dir(self) -> Path:
        return self.root / "assignments"

    def names(self) -> list[str]:
        if not self.assignments_dir.is_dir():
            return []
        return sorted(p.name for p in self.assignments_dir.iterdir() if (p / "checks.py").is_file())

    def assignment_dir(self, name: str) -> Path:
        return self.assignments_dir / name

    def stub_path(self, name: str) -> Path:
        return self.assignment_dir(name) / f"{name}.ipynb"

    def expected_dir(self, name: str) -> Path:
        return self.assignment_dir(name) / "expected"

    def solution_path(self, name: str) -> Path:
        return self.root / "solutions" / f"{name}.ipynb"

    def has_solution(self, name: str) -> bool:
        return self.solution_path(name).is_file()

    def fingerprint(self, name: str) -> str:
        """Changes whenever the checks or public expected outcomes of `name` change."""
        digest = hashlib.sha256()
        folder = self.assignment_dir(name)
        files = [folder / "checks.py", *sorted(self.expected_dir(name).glob("*"))]
        if self.has_solution(name):
            files.append(self.solution_path(name))
        for path in files:
            if path.is_file():
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()

    def load(self, name: str) -> Assignment:
        checks_file = self.assignment_dir(name) / "checks.py"
        if not checks_file.is_file():
            known = ", ".join(self.names()) or "none found"
            raise UnknownAssignment(f"unknown assignment {name!r} (known: {known})")
        spec = importlib.util.spec_from_file_location(f"grader_assignment_{name}", checks_file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assignment = getattr(module, "ASSIGNMENT", None)
        if not isinstance(assignment, Assignment):
            raise UnknownAssignment(f"{checks_file} does not define ASSIGNMENT = Assignment(...)")
        return assignment
