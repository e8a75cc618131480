"""hw4 graded end to end: the solution, the stub, and each typical mistake of docs/assignments.md.

The solution is graded in a fresh kernel (the path a student's `grade hw4.ipynb` takes); the
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

CENTERED = {"CenteredLayer: subtracts the mean of all elements of a matrix", "CenteredLayer: random 3-D inputs"}
REGISTERED = "MyDense: weight and bias are registered nn.Parameters"
SHAPES = "MyDense: weight is (in_units, units), bias is (units,)"
OUTPUT = "MyDense: output with the reference weights"
GRADIENTS = "MyDense: gradients reach weight and bias"
DENSE_HIDDEN = "MyDense: random sizes"
SEQ_PARAMETERS = "MySequential: its modules' parameters appear in parameters()"


def test_solution_gets_full_marks(tmp_path):
    report = grade(solution("hw4"), tmp_path, fork=False)
    assert_full_marks(report, 17)
    assert {t.name for t in report.tests if t.hidden} == {"CenteredLayer: random 3-D inputs", DENSE_HIDDEN,
                                                        "MySequential: random stacks of layers"}


def test_stub_gets_zero_without_crashing(tmp_path):
    report = grade(stub("hw4"), tmp_path)
    assert_stub_scores_zero(report)


DENSE = """\
class MyDense(nn.Module):
    def __init__(self, units, in_units):
        super().__init__()
        self.weight = {weight}
        self.bias = {bias}

    def forward(self, X):
        return {forward}
"""


def dense(weight="nn.Parameter(torch.randn(in_units, units))", bias="nn.Parameter(torch.randn(units))",
          forward="F.relu(X @ self.weight + self.bias)") -> dict[str, str]:
    return {"MyDense": DENSE.format(weight=weight, bias=bias, forward=forward)}


# (id, replaced cells, checks that must lose points, a phrase the student must read)
MISTAKES = [
    ("MyDense with unregistered tensors",
     dense(weight="torch.randn(in_units, units)", bias="torch.randn(units)"),
     {REGISTERED, GRADIENTS}, "not an nn.Parameter"),
    ("MyDense with the weight shape swapped",
     dense(weight="nn.Parameter(torch.randn(units, in_units))", forward="F.relu(X @ self.weight.T + self.bias)"),
     {SHAPES, OUTPUT, DENSE_HIDDEN}, "(units, in_units)"),
    ("MyDense without relu",
     dense(forward="X @ self.weight + self.bias"),
     {OUTPUT, DENSE_HIDDEN}, "ReLU"),
    ("MyDense computing with .data (the book's MXNet-era code)",
     dense(forward="F.relu(torch.matmul(X, self.weight.data) + self.bias.data)"),
     {GRADIENTS}, ".data"),
    ("CenteredLayer with the mean over one dimension",
     {"CenteredLayer": "class CenteredLayer(nn.Module):\n"
                       "    def forward(self, X):\n        return X - X.mean(dim=0)"},
     CENTERED, "mean over dimension 0 only"),
    ("CenteredLayer with the mean of each row",
     {"CenteredLayer": "class CenteredLayer(nn.Module):\n"
                       "    def forward(self, X):\n        return X - X.mean(dim=-1, keepdim=True)"},
     CENTERED, "mean of all elements"),
    ("MySequential keeping its modules in a plain list",
     {"MySequential": "class MySequential(nn.Module):\n"
                      "    def __init__(self, *modules):\n        super().__init__()\n"
                      "        self.layers = list(modules)\n\n"
                      "    def forward(self, X):\n        for layer in self.layers:\n            X = layer(X)\n"
                      "        return X"},
     {SEQ_PARAMETERS}, "plain Python list"),
]


@pytest.mark.parametrize("replace,must_lose,phrase", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_typical_mistake_loses_exactly_its_checks(tmp_path, replace, must_lose, phrase):
    report = grade(with_cells(solution("hw4"), replace=replace), tmp_path)
    assert_loses_exactly(report, must_lose, phrase)


def test_modules_are_built_with_keyword_arguments(tmp_path):
    """A learner who orders MyDense's parameters like the book's MyLinear(in_units, units) loses nothing."""
    swapped = dense().copy()
    swapped["MyDense"] = swapped["MyDense"].replace("def __init__(self, units, in_units)",
                                                    "def __init__(self, in_units, units)")
    report = grade(with_cells(solution("hw4"), replace=swapped), tmp_path)
    assert report.score == report.max_score, [(t.name, t.message) for t in report.tests if t.status != "passed"]


@pytest.mark.parametrize("seed", range(20))
def test_hidden_inputs_expose_every_mistake_whatever_the_seed(seed):
    import importlib.util

    import numpy as np

    from tests.helpers import ROOT

    spec = importlib.util.spec_from_file_location("hw4_checks_under_test", ROOT / "assignments" / "hw4" / "checks.py")
    checks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checks)
    rng = np.random.default_rng(seed)
    dense = checks._random_dense(rng)
    assert dense["units"] != dense["in_units"]  # a swapped weight cannot be loaded
    pre = dense["X"] @ dense["weight"] + dense["bias"]
    assert (pre < 0).any() and (pre[0] > 0).all()  # a missing relu shows; every unit gets a gradient
    X = checks.CENTERED_HIDDEN.inputs(rng)["X"].astype(np.float64)
    for dim in range(X.ndim):
        assert not np.allclose(X - X.mean(axis=dim, keepdims=True), X - X.mean(), atol=1e-3)
