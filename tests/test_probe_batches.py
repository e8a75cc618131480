"""Probes share round trips (one cell runs several), yet each keeps its own limit and its own verdict.

hw3's probes without a limit of their own (all but the end-to-end training, 60 s) run as one batch.
A function that hangs, ignores interrupts, or leaves the kernel must cost its own checks and
about its own limit, as it would alone, never the sum of the batch's limits or its neighbours'
points.
"""

from __future__ import annotations

import pytest

from grader.checks import Probe
from grader.notebook import cell_marks
from grader.probe import kernel_batch_call, read_result, write_inputs
from grader.student_kernel import StudentRun
from tests.helpers import by_name, grade, lost, solution, with_cells

ACCURACY_CHECKS = {
    "accuracy: counts correct predictions from probabilities",
    "accuracy: accepts predicted labels",
    "accuracy: random batches",
}
EVALUATE_CHECKS = {"evaluate_accuracy: fraction over all examples", "evaluate_accuracy: puts a module in eval mode"}
LIMIT_S = 3.0  # every probe's (--timeout); the batch holds 9 probes, so their sum is 27 s



def _graded(tmp_path, accuracy: str):
    """hw3's solution with this accuracy; the notebook's own cells that call it (a demo line and
    the training demo, through evaluate_accuracy) are left out, so only the probes meet it."""
    nb = with_cells(solution("hw3"), replace={"accuracy": accuracy})
    for cell in nb.cells:
        if cell.cell_type == "code" and not cell_marks(cell) and "accuracy(" in cell.source:
            cell.source = "pass"
    return grade(nb, tmp_path, cell_timeout_s=10, probe_timeout_s=LIMIT_S)


def test_probes_without_a_limit_of_their_own_share_one_round_trip():
    run = StudentRun.__new__(StudentRun)  # only the rule is under test here
    run._broken, run.timeouts = {}, type("T", (), {"per_probe_s": {"other": 5.0}})()
    run._gave_up, run.deadline = (lambda: False), type("D", (), {"expired": lambda self: False})()
    assert run._batchable(Probe("p", lambda ns: {}, ("f",)))
    assert not run._batchable(Probe("p", lambda ns: {}, ("f",), timeout_s=10.0))  # timed by the grader alone
    assert not run._batchable(Probe("other", lambda ns: {}, ("f",)))  # a limit set by `prepare`
    run._broken = {"f": "timeout"}
    assert not run._batchable(Probe("p", lambda ns: {}, ("f",)))  # answered without running it


def test_a_batch_is_one_cell_that_writes_each_result_in_turn(tmp_path):
    for name in ("a", "b"):
        write_inputs(tmp_path / f"{name}.in", {"x": 2})
    code = kernel_batch_call([
        ("def a(ns, x):\n    return {'v': ns['f'](x)}\n", "a", ["f"], tmp_path / "a.in", tmp_path / "a.out", 1),
        ("def b(ns, x):\n    return {'v': ns['g'](x)}\n", "b", ["g"], tmp_path / "b.in", tmp_path / "b.out", 2),
    ])
    namespace = {"f": lambda x: x + 1, "g": lambda x: 1 / 0}
    exec(compile(code, "<batch>", "exec"), namespace)
    assert read_result(tmp_path / "a.out", ("f",)).values == {"v": 3}
    second = read_result(tmp_path / "b.out", ("g",))
    assert second.status == "error" and second.error.type == "ZeroDivisionError"  # the student's error, its own result


def test_an_endless_loop_in_a_batch_costs_its_checks_and_about_its_own_limit(tmp_path):
    report = _graded(tmp_path, "def accuracy(y_hat, y):\n    while True:\n        pass")
    assert lost(report) == ACCURACY_CHECKS | EVALUATE_CHECKS  # evaluate_accuracy calls accuracy
    tests = by_name(report)
    assert tests["accuracy: counts correct predictions from probabilities"].status == "timeout"
    assert f"did not return within {LIMIT_S:g} s" in tests["accuracy: counts correct predictions from probabilities"].message
    # The kernel answered the interrupt: no restart, and the rest of the batch ran in it.
    assert not any("restarted" in w for w in report.warnings), report.warnings
    assert report.timings["probes"] < 9 * LIMIT_S, report.timings  # not the batch's sum of limits


def test_a_function_that_ignores_interrupts_in_a_batch_is_stopped_like_one_alone(tmp_path):
    deaf = ("def accuracy(y_hat, y):\n    import signal\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "    while True:\n        pass")
    report = _graded(tmp_path, deaf)
    assert lost(report) == ACCURACY_CHECKS | EVALUATE_CHECKS
    assert by_name(report)["accuracy: counts correct predictions from probabilities"].status == "timeout"
    assert any("stopped responding during the check of accuracy" in w for w in report.warnings), report.warnings
    assert report.score == report.max_score - 3 - 3  # softmax, cross_entropy and training keep everything


@pytest.mark.parametrize("ending", ["raise SystemExit(3)", "import os\n    os._exit(3)"], ids=["SystemExit", "os._exit"])
def test_a_function_that_ends_the_cell_or_the_kernel_costs_only_its_checks(tmp_path, ending):
    report = _graded(tmp_path, f"def accuracy(y_hat, y):\n    {ending}")
    assert ACCURACY_CHECKS <= lost(report) <= ACCURACY_CHECKS | EVALUATE_CHECKS
    tests = by_name(report)
    for name in ("softmax: values on a non-square batch", "cross_entropy: per-example loss", "cross_entropy: random batches"):
        assert tests[name].score == tests[name].max_score, tests[name]
