"""Every valid alternative earns full marks: the book's way, a vectorised way and a library
identity (where the exercise allows the library) of every graded function of hw1-hw5.

Alternative k of every function of an assignment shares one notebook, graded through the real
pipeline in a forked kernel, hidden checks included.
"""

from __future__ import annotations

import pytest

from tests.alternatives import ALTERNATIVES
from tests.helpers import assert_full_marks, grade, solution, with_cells

MAX = {"hw1": 28, "hw2": 25, "hw3": 18, "hw4": 17, "hw5": 17}
KINDS = ["book", "vectorised", "library"]
CASES = [(hw, k) for hw in ALTERNATIVES for k in range(len(ALTERNATIVES[hw]))]


def test_every_graded_function_has_three_alternatives():
    from grader.course import Course
    from tests.helpers import ROOT

    course = Course(ROOT)
    for hw, alternatives in ALTERNATIVES.items():
        assert len(alternatives) == 3
        for alternative in alternatives:
            assert set(alternative) == set(course.load(hw).graded_names), hw


@pytest.mark.parametrize("hw,k", CASES, ids=[f"{hw}-{KINDS[k]}" for hw, k in CASES])
def test_valid_alternative_earns_full_marks(tmp_path, hw, k):
    report = grade(with_cells(solution(hw), replace=ALTERNATIVES[hw][k]), tmp_path)
    assert_full_marks(report, MAX[hw])
