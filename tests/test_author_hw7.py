"""The guide's hw7 (docs/examples/hw7) grades its typical mistakes as docs/writing-an-assignment.md says.

Each mistake loses exactly the checks it should, with a message naming the fix; a correct
alternative keeps full marks. The course is a fresh folder holding only hw7, built in-process.
"""

from __future__ import annotations

import shutil

import nbformat
import pytest

from grader.author.build import build_assignment
from grader.course import Course
from tests.helpers import ROOT, assert_full_marks, assert_loses_exactly, grade, with_cells

EXAMPLE = ROOT / "docs" / "examples" / "hw7"
SCALING = {"scales the kept elements by 1/(1-p)", "random shapes and rates: scaling"}
RATE = {"drops a share p of the elements", "random shapes and rates: share dropped"}

MISTAKES = {
    "no 1/(1-p) scaling": ("""
        def dropout_layer(X, dropout):
            if dropout == 1:
                return torch.zeros_like(X)
            return (torch.rand(X.shape) > dropout).float() * X
        """, SCALING, "X / (1 - dropout)"),
    "keeps with probability p": ("""
        def dropout_layer(X, dropout):
            if dropout == 1:
                return torch.zeros_like(X)
            return (torch.rand(X.shape) < dropout).float() * X / (1.0 - dropout)
        """, RATE | {"dropout 0 keeps X as it is"}, "keep it where torch.rand(X.shape) > dropout"),
    "the same mask on every call": ("""
        def dropout_layer(X, dropout):
            if dropout == 1:
                return torch.zeros_like(X)
            g = torch.Generator().manual_seed(0)
            return (torch.rand(X.shape, generator=g) > dropout).float() * X / (1.0 - dropout)
        """, {"a new mask on every call"}, "draw a new mask"),
    "NaN at dropout 1": ("""
        def dropout_layer(X, dropout):
            return (torch.rand(X.shape) > dropout).float() * X / (1.0 - dropout)
        """, {"dropout 1 drops everything (no NaN)"}, "torch.zeros_like(X)"),
    "changes X in place": ("""
        def dropout_layer(X, dropout):
            if dropout == 1:
                return torch.zeros_like(X)
            X[torch.rand(X.shape) <= dropout] = 0
            X /= 1.0 - dropout
            return X
        """, {"leaves X unchanged", "trains a network to 0.85 held-out accuracy"}, "changed X itself"),
    "the library's dropout": ("""
        import torch.nn.functional as F

        def dropout_layer(X, dropout):
            return F.dropout(X, dropout)
        """, RATE | SCALING, "which this exercise does not allow"),
}

BERNOULLI = """
    def dropout_layer(X, dropout):
        if dropout == 1:
            return torch.zeros_like(X)
        keep = torch.bernoulli(torch.full(X.shape, 1.0 - dropout))
        return X * keep / (1.0 - dropout)
    """


@pytest.fixture(scope="module")
def hw7(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    (root / "assignments" / "hw7").mkdir(parents=True)
    (root / "solutions").mkdir()
    shutil.copy(EXAMPLE / "checks.py", root / "assignments" / "hw7" / "checks.py")
    shutil.copy(EXAMPLE / "hw7.ipynb", root / "solutions" / "hw7.ipynb")
    build_assignment(Course(root), "hw7")
    return root


def _solution(course):
    return nbformat.read(course / "solutions" / "hw7.ipynb", as_version=4)


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_typical_mistake_loses_exactly_its_checks(hw7, tmp_path, mistake):
    code, must_lose, phrase = MISTAKES[mistake]
    report = grade(with_cells(_solution(hw7), {"dropout_layer": code}), tmp_path, course_dir=hw7, assignment="hw7")
    assert_loses_exactly(report, must_lose, phrase)
    # Feedback points at the student's own lines, never into torch (backward() fails inside it).
    assert not any("_execution_engine" in t.message or "site-packages" in t.message for t in report.tests)


def test_a_correct_alternative_keeps_full_marks(hw7, tmp_path):
    report = grade(with_cells(_solution(hw7), {"dropout_layer": BERNOULLI}), tmp_path, course_dir=hw7, assignment="hw7")
    assert_full_marks(report, 12)
