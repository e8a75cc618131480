"""Hangs, crashes, forgery and bad values: each gets exactly the points its functions earn."""

from __future__ import annotations

import json
import pickle

import pytest

from tests.helpers import by_name, grade, lost, solution, stub, with_cells

SOFTMAX_CHECKS = {
    "softmax: values on a non-square batch",
    "softmax: rows sum to 1",
    "softmax: numerically stable for large scores",
    "softmax: random batches",
}
E2E = "end to end: trained model reaches 0.85 held-out accuracy"
WRONG_SOFTMAX = "def softmax(X):\n    return X / X.sum(dim=1, keepdim=True)"


def test_endless_loop_in_one_function_times_out_only_its_checks(tmp_path):
    nb = with_cells(solution("hw3"), replace={"softmax": "def softmax(X):\n    while True:\n        pass"})
    report = grade(nb, tmp_path, fork=False, cell_timeout_s=10, probe_timeout_s=2)
    assert lost(report) == SOFTMAX_CHECKS | {E2E}
    statuses = {t.name: t.status for t in report.tests if t.name in SOFTMAX_CHECKS | {E2E}}
    assert set(statuses.values()) == {"timeout"}, statuses
    assert any(c.status == "timeout" for c in report.cells)  # the cell that tries softmax
    assert report.score == report.max_score - 9
    assert report.duration_s < 2 * 10 + 2 + 30  # two cells call softmax, one probe, start-up margin


def test_a_loop_that_swallows_interrupts_gets_a_new_kernel(tmp_path):
    looping = (
        "import time\n"
        "def softmax(X):\n"
        "    while True:\n"
        "        try:\n            time.sleep(0.05)\n"
        "        except KeyboardInterrupt:\n            pass"
    )
    report = grade(with_cells(solution("hw3"), replace={"softmax": looping}), tmp_path, cell_timeout_s=10, probe_timeout_s=2)
    assert lost(report) == SOFTMAX_CHECKS | {E2E}
    assert any("restarted" in w for w in report.warnings), report.warnings
    assert report.score == report.max_score - 9


def test_top_level_endless_loop_before_the_def_is_a_timeout(tmp_path):
    source = "while True:\n    pass\ndef softmax(X):\n    return torch.softmax(X, dim=1)"
    report = grade(with_cells(solution("hw3"), replace={"softmax": source}), tmp_path, cell_timeout_s=10, probe_timeout_s=2)
    assert lost(report) == SOFTMAX_CHECKS | {E2E}
    check = by_name(report)["softmax: rows sum to 1"]
    assert check.status == "timeout" and "timeout" in check.message


def test_kernel_exit_inside_a_function_costs_only_that_function(tmp_path):
    source = "import os\ndef cross_entropy(y_hat, y):\n    os._exit(3)"
    report = grade(with_cells(solution("hw3"), replace={"cross_entropy": source}), tmp_path, fork=False, cell_timeout_s=10)
    ce = {"cross_entropy: per-example loss", "cross_entropy: random batches"}
    assert lost(report) == ce | {E2E}
    assert all(by_name(report)[n].status == "error" for n in ce)
    assert "died" in by_name(report)["cross_entropy: per-example loss"].message


def test_monkeypatching_comparisons_gains_nothing(tmp_path):
    patch = (
        "import torch, numpy, math\n"
        "torch.allclose = lambda *a, **k: True\n"
        "torch.equal = lambda *a, **k: True\n"
        "torch.testing.assert_close = lambda *a, **k: None\n"
        "numpy.allclose = lambda *a, **k: True\n"
        "math.isclose = lambda *a, **k: True"
    )
    nb = with_cells(solution("hw3"), replace={"softmax": WRONG_SOFTMAX}, prepend=[patch])
    report = grade(nb, tmp_path)
    assert SOFTMAX_CHECKS <= lost(report)


def test_printing_or_writing_a_fake_report_gains_nothing(tmp_path):
    out = tmp_path / "report.json"
    fake = {"assignment": "hw3", "score": 18, "max_score": 18, "status": "graded", "tests": []}
    cell = (
        f"import json\nfake = {json.dumps(fake)!r}\nprint(fake)\n"
        f"open({str(out)!r}, 'w').write(fake)\nopen('report.json', 'w').write(fake)"
    )
    nb = with_cells(stub("hw3"), append=[cell])
    path = tmp_path / "hw3.ipynb"
    import nbformat

    nbformat.write(nb, path)
    from grader.cli import main

    assert main([str(path), "-o", str(out), "--json"]) == 0
    report = json.loads(out.read_text())
    assert report["score"] == 0 and len(report["tests"]) == 12


def test_a_pickle_where_results_are_read_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Boom(str(marker)))
    # A background thread keeps replacing every probe result with a pickle payload.
    cell = (
        "import threading, os, time, glob\n"
        f"payload = {payload!r}\n"
        "def clobber():\n"
        "    while True:\n"
        "        for path in glob.glob(os.path.join(os.getcwd(), '.grader', '*')):\n"
        "            try:\n                open(path, 'wb').write(payload)\n"
        "            except OSError:\n                pass\n"
        "        time.sleep(0.001)\n"
        "threading.Thread(target=clobber, daemon=True).start()"
    )
    report = grade(with_cells(solution("hw3"), append=[cell]), tmp_path)
    assert not marker.exists()
    assert report.status == "graded"
    # Whatever the race gives, a clobbered result is an error, never a pass. (Truncating the
    # input file under safetensors' mmap can even kill the student's own kernel: also an error.)
    # Under load the busy clobbering thread can also push a check past its time limit: not a pass either.
    for test in report.tests:
        assert test.status in ("passed", "error", "timeout"), (test.name, test.status)
        if test.status == "error":
            assert any(p in test.message for p in ("could not be read", "no result", "died", "earlier check")), test.message


class _Boom:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize(
    "source,phrase",
    [
        ("def softmax(X):\n    return torch.exp(X).tolist()", "should be a torch.Tensor, got a list"),
        ("def softmax(X):\n    return torch.full_like(X, float('nan'))", "contains NaN"),
        ("def softmax(X):\n    e = torch.exp(X - X.max(dim=1, keepdim=True).values)\n    return (e / e.sum(1, keepdim=True)).sum(1)",
         "has shape"),
        ("def softmax(X):\n    return None", "got None"),
    ],
    ids=["list", "nan", "wrong-shape", "none"],
)
def test_bad_return_values_fail_with_a_reason(tmp_path, source, phrase):
    report = grade(with_cells(solution("hw3"), replace={"softmax": source}), tmp_path)
    check = by_name(report)["softmax: values on a non-square batch"]
    assert check.score == 0 and check.status == "failed"
    assert phrase in check.message, check.message
    assert {"cross_entropy: per-example loss", "evaluate_accuracy: fraction over all examples"}.isdisjoint(lost(report))
