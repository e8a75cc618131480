"""hw3 graded end to end: the solution, the stub, and each typical mistake of docs/assignments.md."""

from __future__ import annotations

import pytest

from tests.helpers import (
    assert_full_marks,
    assert_loses_exactly,
    assert_stub_scores_zero,
    grade,
    solution,
    stub,
    with_cells,
)

SOFTMAX_ALL = {
    "softmax: values on a non-square batch",
    "softmax: rows sum to 1",
    "softmax: numerically stable for large scores",
    "softmax: random batches",
}
E2E = "end to end: trained model reaches 0.85 held-out accuracy"
CE = {"cross_entropy: per-example loss", "cross_entropy: random batches"}
ACC_PROBS = {"accuracy: counts correct predictions from probabilities", "accuracy: random batches"}
ACC_LABELS = "accuracy: accepts predicted labels"
EVAL_FRACTION = "evaluate_accuracy: fraction over all examples"
EVAL_MODE = "evaluate_accuracy: puts a module in eval mode"


@pytest.mark.parametrize("fork", [True, False], ids=["forked-kernel", "exec-kernel"])
def test_solution_gets_full_marks(tmp_path, fork):
    report = grade(solution("hw3"), tmp_path, fork=fork)
    assert_full_marks(report, 18)
    assert len(report.tests) >= 8
    assert any(t.hidden for t in report.tests) and all(t.status == "passed" for t in report.tests)


def test_stub_gets_zero_without_crashing(tmp_path):
    report = grade(stub("hw3"), tmp_path)
    assert_stub_scores_zero(report)


# (id, replaced cells, checks that must lose points, a phrase the student must read)
MISTAKES = [
    ("softmax without max subtraction",
     {"softmax": "def softmax(X):\n    X_exp = X.exp()\n    return X_exp / X_exp.sum(dim=1, keepdim=True)"},
     {"softmax: numerically stable for large scores"}, "subtract each row's max"),
    ("softmax without keepdim",
     {"softmax": "def softmax(X):\n    X_exp = torch.exp(X - X.max())\n    return X_exp / X_exp.sum(dim=1)"},
     SOFTMAX_ALL | {E2E}, "keepdim=True"),
    ("cross_entropy with y_hat[:, y]",
     {"cross_entropy": "def cross_entropy(y_hat, y):\n    return -torch.log(y_hat[:, y])"},
     CE | {E2E}, "y_hat[:, y] picks whole columns"),
    ("cross_entropy returning the mean",
     {"cross_entropy": "def cross_entropy(y_hat, y):\n    return -torch.log(y_hat[range(len(y_hat)), y]).mean()"},
     CE, "do not take the mean"),
    ("accuracy without argmax",
     {"accuracy": "def accuracy(y_hat, y):\n    return float((y_hat.type(y.dtype) == y).sum())"},
     # evaluate_accuracy calls the student's accuracy, so it fails with it
     ACC_PROBS | {EVAL_FRACTION, EVAL_MODE}, "argmax"),
    ("accuracy returning a fraction",
     {"accuracy": "def accuracy(y_hat, y):\n"
                  "    if y_hat.ndim > 1:\n        y_hat = y_hat.argmax(dim=1)\n"
                  "    return float((y_hat == y).float().mean())"},
     ACC_PROBS | {ACC_LABELS, EVAL_FRACTION}, "not the fraction"),
    ("evaluate_accuracy averaging per-batch accuracies",
     {"evaluate_accuracy": "def evaluate_accuracy(net, data_iter):\n"
                           "    if isinstance(net, torch.nn.Module):\n        net.eval()\n"
                           "    accs = [accuracy(net(X), y) / len(y) for X, y in data_iter]\n"
                           "    return sum(accs) / len(accs)"},
     {EVAL_FRACTION}, "mean of per-batch accuracies"),
    ("evaluate_accuracy without net.eval()",
     {"evaluate_accuracy": "def evaluate_accuracy(net, data_iter):\n"
                           "    correct, total = 0.0, 0\n"
                           "    for X, y in data_iter:\n"
                           "        correct += accuracy(net(X), y)\n        total += y.numel()\n"
                           "    return correct / total"},
     {EVAL_MODE}, "net.eval()"),
]


@pytest.mark.parametrize("replace,must_lose,phrase", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_typical_mistake_loses_exactly_its_checks(tmp_path, replace, must_lose, phrase):
    report = grade(with_cells(solution("hw3"), replace=replace), tmp_path)
    assert_loses_exactly(report, must_lose, phrase)


def test_marks_survive_reordering_edits_and_extra_cells(tmp_path):
    nb = solution("hw3")
    code = [c for c in nb.cells if c.cell_type == "code"]
    graded, rest = code[1:], code[:1]
    # setup first, then graded cells in reverse order (definitions only), plus scratch cells
    nb.cells = rest + [nbformat_cell("x = 41 + 1")] + list(reversed([c for c in graded if "#| grade:" in c.source]))
    nb.cells.append(nbformat_cell("print('my own experiments')"))
    report = grade(nb, tmp_path)
    assert report.score == report.max_score


def test_a_deleted_mark_is_found_by_its_def(tmp_path):
    nb = solution("hw3")
    for cell in nb.cells:
        cell.source = cell.source.replace("#| grade: softmax\n", "")
    report = grade(nb, tmp_path)
    assert report.score == report.max_score


def nbformat_cell(source: str):
    import nbformat

    return nbformat.v4.new_code_cell(source)


SOFTMAX_CHECKS = {"softmax: values on a non-square batch", "softmax: rows sum to 1",
                  "softmax: numerically stable for large scores", "softmax: random batches"}


@pytest.mark.parametrize("replace,must_lose,phrase", [
    ({"softmax": "import torch.nn.functional as F\n\ndef softmax(X):\n    return F.softmax(X, dim=1)"},
     SOFTMAX_CHECKS, "writing softmax yourself"),
    ({"softmax": "def softmax(X):\n    return X.softmax(dim=1)"}, SOFTMAX_CHECKS, "softmax"),
    ({"cross_entropy": "from torch.nn.functional import nll_loss\n\ndef cross_entropy(y_hat, y):\n"
                       "    return nll_loss(torch.log(y_hat), y, reduction='none')"},
     CE, "nll_loss"),
], ids=["F.softmax", "the softmax method", "nll_loss imported under its name"])
def test_library_softmax_or_cross_entropy_loses_exactly_their_checks(tmp_path, replace, must_lose, phrase):
    report = grade(with_cells(solution("hw3"), replace=replace), tmp_path)
    assert_loses_exactly(report, must_lose, phrase)
