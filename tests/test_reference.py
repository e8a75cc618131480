"""The reference solution's outcomes are the same in-process (grade-author), in a process forked
from the fork server (every grading on Linux) and in one exec'd (where fork servers are not used)."""

from __future__ import annotations

import time

import nbformat
import numpy as np
import psutil
import pytest

from grader.course import Course
from grader.reference import ReferenceFailed, run_reference, run_reference_apart
from tests.helpers import ROOT, shared_zygote

SEED = 12345


def _hidden(name: str):
    course = Course.locate(ROOT)
    assignment = course.load(name)
    probes = [p for p in assignment.probes if p.hidden and p.reference]
    return course, probes, {p.name: p.make_inputs(SEED) for p in probes}


FORKED = pytest.mark.parametrize("forked", [True, False], ids=["forked", "exec"])


@FORKED
def test_apart_gives_the_same_outcomes_as_in_process(forked):
    course, probes, inputs = _hidden("hw3")
    here = run_reference(course.solution_path("hw3"), probes, inputs, SEED)
    zygote = shared_zygote() if forked else None
    apart = run_reference_apart(course.root, "hw3", course.solution_path("hw3"), probes, inputs, SEED, 120, zygote)
    assert set(here) == set(apart) == {p.name for p in probes}
    for name, outcome in here.items():
        assert outcome.status == apart[name].status == "ok"
        for key, value in outcome.values.items():
            other = apart[name].values[key]
            if hasattr(value, "array"):
                np.testing.assert_allclose(other.array, value.array, rtol=1e-6, atol=1e-7)
            else:
                assert other == value


@FORKED
def test_a_broken_solution_is_the_grader_side_failure_with_its_reason(tmp_path, forked):
    course, probes, inputs = _hidden("hw3")
    zygote = shared_zygote() if forked else None
    nb = nbformat.read(course.solution_path("hw3"), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "grade: softmax" in cell.source:
            cell.source = "#| grade: softmax\ndef softmax(X):\n    raise RuntimeError('solution bug')\n"
    broken = tmp_path / "hw3.ipynb"
    nbformat.write(nb, broken)
    outcomes = run_reference_apart(course.root, "hw3", broken, probes, inputs, SEED, 120, zygote)
    softmax = next(n for n in outcomes if "softmax" in n)
    assert outcomes[softmax].status == "error" and outcomes[softmax].error.message == "solution bug"

    nb.cells.insert(0, nbformat.v4.new_code_cell("#| grade: setup\nimport no_such_module_anywhere"))
    nbformat.write(nb, broken)
    with pytest.raises(ReferenceFailed, match="no_such_module_anywhere"):
        run_reference_apart(course.root, "hw3", broken, probes, inputs, SEED, 120, zygote)


def test_a_forked_reference_that_does_not_finish_is_stopped(tmp_path):
    course, probes, inputs = _hidden("hw3")
    nb = nbformat.read(course.solution_path("hw3"), as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell("#| grade: setup\nimport os, time\nopen('pid', 'w').write(str(os.getpid()))\ntime.sleep(600)"))
    slow = tmp_path / "hw3.ipynb"
    nbformat.write(nb, slow)
    started = time.monotonic()
    with pytest.raises(ReferenceFailed, match="did not finish within 2 s"):
        run_reference_apart(course.root, "hw3", slow, probes, inputs, SEED, 2, shared_zygote())
    assert time.monotonic() - started < 30
    assert not any(p.info["cmdline"] and "grader.zygote.server" in " ".join(p.info["cmdline"]) and p.pid != shared_zygote()._process.pid
                   and p.ppid() == shared_zygote()._process.pid and p.status() != psutil.STATUS_ZOMBIE
                   for p in psutil.process_iter(["cmdline"]))


def test_a_fork_servers_reference_runs_find_nbformats_validators_ready(monkeypatch):
    """A fork server for many gradings builds nbformat's validators once (fastjsonschema writes
    and compiles Python for each: ~20 ms of every reference run before)."""
    import nbformat.validator

    from grader.notebook import load_notebook
    from grader.zygote.server import warm_reference

    monkeypatch.setattr(nbformat.validator, "validators", {})
    warm_reference()
    warmed = dict(nbformat.validator.validators)
    for name in ("hw1", "hw3", "hw6"):  # what a reference run loads
        load_notebook(ROOT / "solutions" / f"{name}.ipynb")
    assert nbformat.validator.validators == warmed  # none built again
