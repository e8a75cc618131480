"""The reference solution's outcomes are the same in a thread of the grader and in a process of its own."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest

from grader.course import Course
from grader.reference import ReferenceFailed, run_reference, run_reference_apart
from tests.helpers import ROOT

SEED = 12345


def _hidden(name: str):
    course = Course.locate(ROOT)
    assignment = course.load(name)
    probes = [p for p in assignment.probes if p.hidden and p.reference]
    return course, probes, {p.name: p.make_inputs(SEED) for p in probes}


def test_apart_gives_the_same_outcomes_as_in_process():
    course, probes, inputs = _hidden("hw3")
    here = run_reference(course.solution_path("hw3"), probes, inputs, SEED)
    apart = run_reference_apart(course.root, "hw3", course.solution_path("hw3"), probes, inputs, SEED, 120)
    assert set(here) == set(apart) == {p.name for p in probes}
    for name, outcome in here.items():
        assert outcome.status == apart[name].status == "ok"
        for key, value in outcome.values.items():
            other = apart[name].values[key]
            if hasattr(value, "array"):
                np.testing.assert_allclose(other.array, value.array, rtol=1e-6, atol=1e-7)
            else:
                assert other == value


def test_a_broken_solution_is_the_grader_side_failure_with_its_reason(tmp_path):
    course, probes, inputs = _hidden("hw3")
    nb = nbformat.read(course.solution_path("hw3"), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "grade: softmax" in cell.source:
            cell.source = "#| grade: softmax\ndef softmax(X):\n    raise RuntimeError('solution bug')\n"
    broken = tmp_path / "hw3.ipynb"
    nbformat.write(nb, broken)
    outcomes = run_reference_apart(course.root, "hw3", broken, probes, inputs, SEED, 120)
    softmax = next(n for n in outcomes if "softmax" in n)
    assert outcomes[softmax].status == "error" and outcomes[softmax].error.message == "solution bug"

    nb.cells.insert(0, nbformat.v4.new_code_cell("#| grade: setup\nimport no_such_module_anywhere"))
    nbformat.write(nb, broken)
    with pytest.raises(ReferenceFailed, match="no_such_module_anywhere"):
        run_reference_apart(course.root, "hw3", broken, probes, inputs, SEED, 120)
