"""hw2 graded end to end: the solution, the stub, and each typical mistake of docs/assignments.md.

The solution is graded in a fresh kernel (the path a student's `grade hw2.ipynb` takes); the
stub and the mistakes in kernels forked from the test process's shared server (tests.helpers).
"""

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

SYN_SHAPES = "synthetic_data: X of shape (n, d), y of shape (n, 1)"
SYN_NOISE = "synthetic_data: y = Xw + b + noise of std 0.01"
SYN_HIDDEN = "synthetic_data: random w and b"
DI_GENERATOR = "data_iter: a generator (yield)"
DI_ONCE = "data_iter: every example once per pass, last batch of 3"
DI_SHUFFLED = "data_iter: shuffled, a new order every pass"
DI_HIDDEN = "data_iter: random sizes"
LINREG = {"linreg: (n, d) @ (d, 1) + b", "linreg: random sizes"}
LOSS_FLAT = "squared_loss: per example, labels of shape (n,)"
LOSS_COLUMN = "squared_loss: labels of shape (n, 1)"
LOSS_HIDDEN = "squared_loss: random batches"
SGD_UPDATE = "sgd: updates in place by lr * grad / batch_size"
SGD_ZERO = "sgd: zeroes the gradients"
SGD_LEAF = "sgd: parameters stay leaf tensors that require grad"
SGD_HIDDEN = "sgd: random parameters"
E2E = "end to end: 3 epochs recover w = [2, -3.4], b = 4.2"

SYNTHETIC = "def synthetic_data(w, b, num_examples):\n    X = torch.normal(0, 1, (num_examples, len(w)))\n"
DATA_ITER_HEAD = """
def data_iter(batch_size, features, labels):
    num_examples = len(features)
    indices = list(range(num_examples))
"""
SGD_HEAD = "def sgd(params, lr, batch_size):\n    with torch.no_grad():\n        for param in params:\n"


def test_solution_gets_full_marks(tmp_path):
    report = grade(solution("hw2"), tmp_path, fork=False)
    assert_full_marks(report, 25)
    assert sum(t.hidden for t in report.tests) == 5 and all(t.status == "passed" for t in report.tests)


def test_stub_gets_zero_without_crashing(tmp_path):
    report = grade(stub("hw2"), tmp_path)
    assert_stub_scores_zero(report)


# (id, replaced cells, checks that must lose points, a phrase the student must read)
MISTAKES = [
    ("synthetic_data with y of shape (n,)",
     {"synthetic_data": SYNTHETIC + "    return X, X @ w + b + torch.normal(0, 0.01, (num_examples,))"},
     {SYN_SHAPES, SYN_HIDDEN}, "return the labels as a column"),
    ("synthetic_data with noise std 1",
     {"synthetic_data": SYNTHETIC + "    y = X @ w + b + torch.normal(0, 1, (num_examples,))\n    return X, y.reshape(-1, 1)"},
     {SYN_NOISE, SYN_HIDDEN}, "takes the standard deviation"),
    ("synthetic_data without noise",
     {"synthetic_data": SYNTHETIC + "    return X, (X @ w + b).reshape(-1, 1)"},
     {SYN_NOISE, SYN_HIDDEN}, "add noise"),
    ("synthetic_data with uniform features (not in the table)",
     {"synthetic_data": "def synthetic_data(w, b, num_examples):\n    X = torch.rand(num_examples, len(w))\n"
                        "    y = X @ w + b + torch.normal(0, 0.01, (num_examples,))\n    return X, y.reshape(-1, 1)"},
     {"synthetic_data: features drawn from N(0, 1)", SYN_HIDDEN}, "standard normal distribution"),
    ("data_iter without shuffling",
     {"data_iter": DATA_ITER_HEAD + """
    for i in range(0, num_examples, batch_size):
        batch_indices = torch.tensor(indices[i: i + batch_size])
        yield features[batch_indices], labels[batch_indices]
"""},
     {DI_SHUFFLED}, "random.shuffle"),
    ("data_iter dropping the last batch",
     {"data_iter": DATA_ITER_HEAD + """
    random.shuffle(indices)
    for i in range(0, num_examples - batch_size + 1, batch_size):
        batch_indices = torch.tensor(indices[i: i + batch_size])
        yield features[batch_indices], labels[batch_indices]
"""},
     {DI_ONCE, DI_HIDDEN}, "the last, smaller batch"),
    ("data_iter returning a list",
     {"data_iter": DATA_ITER_HEAD + """
    random.shuffle(indices)
    batches = []
    for i in range(0, num_examples, batch_size):
        batch_indices = torch.tensor(indices[i: i + batch_size])
        batches.append((features[batch_indices], labels[batch_indices]))
    return batches
"""},
     {DI_GENERATOR}, "returned a list, not a generator"),
    ("linreg with torch.mv",
     {"linreg": "def linreg(X, w, b):\n    return torch.mv(X, w) + b"},
     # the end-to-end check trains with the student's linreg, which raises
     LINREG | {E2E}, "torch.mv multiplies a matrix by a 1-D vector"),
    ("squared_loss without the reshape",
     {"squared_loss": "def squared_loss(y_hat, y):\n    return (y_hat - y) ** 2 / 2"},
     {LOSS_FLAT, LOSS_HIDDEN}, "y.reshape(y_hat.shape)"),
    ("squared_loss returning the mean",
     {"squared_loss": "def squared_loss(y_hat, y):\n    return ((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).mean()"},
     # the mean divides every gradient by the batch size a second time: 3 epochs are not enough
     {LOSS_FLAT, LOSS_COLUMN, LOSS_HIDDEN, E2E}, "do not take the mean"),
    ("sgd rebinding p",
     {"sgd": SGD_HEAD + "            param = param - lr * param.grad / batch_size\n"
                        "        for param in params:\n            param.grad.zero_()"},
     # the end-to-end model never moves from its initial parameters
     {SGD_UPDATE, SGD_HIDDEN, E2E}, "sgd rebinds `p` instead of updating it in place: the model's parameters never change"),
    ("sgd without zeroing the gradients",
     {"sgd": SGD_HEAD + "            param -= lr * param.grad / batch_size"},
     # gradients pile up across steps: training does not converge
     {SGD_ZERO, E2E}, "p.grad.zero_()"),
    ("sgd without / batch_size",
     {"sgd": SGD_HEAD + "            param -= lr * param.grad\n            param.grad.zero_()"},
     {SGD_UPDATE, SGD_HIDDEN}, "divide by batch_size"),
    ("sgd replacing the tensors in params (not in the table)",
     {"sgd": "def sgd(params, lr, batch_size):\n"
             "    for i, p in enumerate(params):\n        params[i] = p - lr * p.grad / batch_size"},
     {SGD_UPDATE, SGD_ZERO, SGD_LEAF, SGD_HIDDEN, E2E}, "replaced the tensors in params"),
]


@pytest.mark.parametrize("replace,must_lose,phrase", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_typical_mistake_loses_exactly_its_checks(tmp_path, replace, must_lose, phrase):
    report = grade(with_cells(solution("hw2"), replace=replace), tmp_path)
    assert_loses_exactly(report, must_lose, phrase)
