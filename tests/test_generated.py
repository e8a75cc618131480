"""Stubs and public expected outcomes are generated from solutions/; stale copies fail here."""

from __future__ import annotations

import shutil

import nbformat
import pytest

from grader.author.build import stale_files
from grader.course import Course
from tests.helpers import ROOT

COURSE = Course(ROOT)
WITH_SOLUTIONS = [n for n in COURSE.names() if COURSE.has_solution(n)]


@pytest.mark.parametrize("name", WITH_SOLUTIONS)
def test_committed_stub_and_expected_outcomes_are_current(name):
    assert stale_files(COURSE, name) == [], "run `grade-author build` and commit the result"


@pytest.mark.parametrize("name", WITH_SOLUTIONS)
def test_stub_hides_every_solution_and_names_its_assignment(name):
    solution = nbformat.read(COURSE.solution_path(name), as_version=4)
    stub = nbformat.read(COURSE.stub_path(name), as_version=4)
    assert stub.metadata["grader"]["assignment"] == name
    stub_text = "\n".join(c.source for c in stub.cells)
    assert "begin solution" not in stub_text
    for cell in solution.cells:
        if "#| begin solution" in cell.source:
            body = cell.source.split("#| begin solution")[1].split("#| end solution")[0].strip()
            assert body and body not in stub_text
    assert all(not c.get("outputs") for c in stub.cells if c.cell_type == "code")


def test_a_changed_solution_makes_the_stub_stale(tmp_path):
    course_root = tmp_path / "course"
    shutil.copytree(ROOT / "assignments" / "hw3", course_root / "assignments" / "hw3")
    (course_root / "solutions").mkdir()
    nb = nbformat.read(ROOT / "solutions" / "hw3.ipynb", as_version=4)
    nb.cells[0].source += "\n\nA new paragraph."
    nbformat.write(nb, course_root / "solutions" / "hw3.ipynb")
    stale = stale_files(Course(course_root), "hw3")
    assert stale == [str(course_root / "assignments" / "hw3" / "hw3.ipynb")]
