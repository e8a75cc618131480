"""hw1 graded end to end: the solution, the stub, and each typical mistake of docs/assignments.md.

The solution is graded in a fresh kernel (the path a student's `grade hw1.ipynb` takes); the
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

TO_MATRIX_VALUES = "to_matrix: shape and values (20 elements, 4 columns)"
TO_MATRIX_DTYPE = "to_matrix: keeps the dtype"
TO_MATRIX_VIEW = "to_matrix: returns a view of x, not a copy"
TO_MATRIX_HIDDEN = "to_matrix: random lengths"
FLATTEN_PUBLIC = "flatten_batch: (N, C, H, W) to (N, C*H*W)"
FLATTEN_ONE = "flatten_batch: a batch of one"
FLATTEN_HIDDEN = "flatten_batch: random shapes"
BROADCAST_OK = "broadcast_shape: broadcastable shapes"
BROADCAST_BAD = "broadcast_shape: incompatible shapes raise ValueError"
BROADCAST_HIDDEN = "broadcast_shape: agrees with torch.broadcast_shapes on random shapes"
PAIRWISE_VALUES = "pairwise_diff: values for n != m"
PAIRWISE_HIDDEN = "pairwise_diff: random sizes"
PAIRWISE_SPEED = "pairwise_diff: fast on n = m = 2000 (no Python loops)"
ROW_NORMALIZE_ALL = {"row_normalize: a non-square matrix", "row_normalize: a square matrix", "row_normalize: random shapes"}
ADD_INPLACE = "add_inplace: updates Y in place and returns it"


def test_solution_gets_full_marks(tmp_path):
    report = grade(solution("hw1"), tmp_path, fork=False)
    assert_full_marks(report, 28)
    assert sum(t.hidden for t in report.tests) == 6 and all(t.status == "passed" for t in report.tests)


def test_stub_gets_zero_without_crashing(tmp_path):
    report = grade(stub("hw1"), tmp_path)
    assert_stub_scores_zero(report)


# (id, replaced cells, checks that must lose points, a phrase the student must read)
MISTAKES = [
    ("to_matrix with a hard-coded row count",
     {"to_matrix": """
        def to_matrix(x, n_cols):
            if len(x) % n_cols != 0:
                raise ValueError("does not fit")
            return x.reshape(3, n_cols)
        """},
     {TO_MATRIX_VALUES, TO_MATRIX_HIDDEN}, "compute the number of rows from len(x)"),
    ("to_matrix returning a float copy",
     {"to_matrix": """
        def to_matrix(x, n_cols):
            if len(x) % n_cols != 0:
                raise ValueError("does not fit")
            return torch.tensor(x.tolist(), dtype=torch.float32).reshape(len(x) // n_cols, n_cols)
        """},
     {TO_MATRIX_DTYPE, TO_MATRIX_VIEW}, "returned a copy"),
    ("to_matrix leaving the error to reshape (not in the table)",
     {"to_matrix": "def to_matrix(x, n_cols):\n    return x.reshape(-1, n_cols)"},
     {"to_matrix: ValueError when len(x) is not a multiple of n_cols"}, "raised RuntimeError, expected ValueError"),
    ("flatten_batch flattening the batch dimension too",
     {"flatten_batch": "def flatten_batch(X):\n    return X.reshape(-1)"},
     {FLATTEN_PUBLIC, FLATTEN_ONE, FLATTEN_HIDDEN}, "batch dimension was flattened too"),
    ("flatten_batch breaking for N=1 (squeeze)",
     {"flatten_batch": "def flatten_batch(X):\n    return X.squeeze().flatten(start_dim=1)"},
     {FLATTEN_ONE}, "X.squeeze() also drops dimension 0"),
    ("broadcast_shape aligning from the left",
     {"broadcast_shape": """
        def broadcast_shape(a, b):
            n = max(len(a), len(b))
            a, b = tuple(a) + (1,) * (n - len(a)), tuple(b) + (1,) * (n - len(b))
            out = []
            for x, y in zip(a, b):
                if x != y and x != 1 and y != 1:
                    raise ValueError("not broadcastable")
                out.append(y if x == 1 else x)
            return tuple(out)
        """},
     {BROADCAST_OK, BROADCAST_HIDDEN}, "align the shapes on the right"),
    ("broadcast_shape accepting (2, 3, 4) + (2, 4)",
     {"broadcast_shape": """
        def broadcast_shape(a, b):
            n = max(len(a), len(b))
            a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
            return tuple(max(x, y) for x, y in zip(a, b))
        """},
     {BROADCAST_BAD, BROADCAST_HIDDEN}, "compatible only when they are equal or one of them is 1"),
    ("pairwise_diff transposed",
     {"pairwise_diff": "def pairwise_diff(a, b):\n    return a.reshape(1, -1) - b.reshape(-1, 1)"},
     {PAIRWISE_VALUES, PAIRWISE_HIDDEN}, "transposed"),
    ("pairwise_diff with Python loops",
     {"pairwise_diff": """
        def pairwise_diff(a, b):
            out = torch.zeros(len(a), len(b))
            for i in range(len(a)):
                for j in range(len(b)):
                    out[i, j] = a[i] - b[j]
            return out
        """},
     {PAIRWISE_SPEED}, "Python loops"),
    ("row_normalize without keepdim",
     {"row_normalize": "def row_normalize(X):\n    return X / X.sum(dim=1)"},
     ROW_NORMALIZE_ALL, "keepdim=True"),
    ("add_inplace with Y = Y + X",
     {"add_inplace": "def add_inplace(Y, X):\n    Y = Y + X\n    return Y"},
     {ADD_INPLACE}, "`Y = Y + X`"),
]


@pytest.mark.parametrize("replace,must_lose,phrase", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_typical_mistake_loses_exactly_its_checks(tmp_path, replace, must_lose, phrase):
    report = grade(with_cells(solution("hw1"), replace=replace), tmp_path)
    assert_loses_exactly(report, must_lose, phrase)
