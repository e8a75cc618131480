"""hw5 graded end to end: the solution, the stub, and each typical mistake of docs/assignments.md.

The solution is graded in a fresh kernel (the path a student's `grade hw5.ipynb` takes); the
stub and the mistakes in kernels forked from the test process's shared server (tests.helpers).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from grader.reference import reference_namespace
from tests.helpers import (
    ROOT,
    assert_full_marks,
    assert_loses_exactly,
    assert_stub_scores_zero,
    by_name,
    grade,
    solution,
    stub,
    with_cells,
)

CONV_TABLE = "conv2d_output_size: the worked examples"
CONV_INT = "conv2d_output_size: returns an int"
CONV_TORCH = {"conv2d_output_size: agrees with nn.Conv2d (stride, padding, dilation)",
              "conv2d_output_size: random settings"}
CORR_BOOK = "corr2d: the book's example"
CORR_RECT = {"corr2d: a non-square kernel on a non-square input", "corr2d: random inputs"}
POOL_AVG = "pool2d: average pooling"
POOL_PARTIAL = "pool2d: partial windows are dropped"
POOL_HIDDEN = "pool2d: random inputs, both modes"
POOL_ALL = {"pool2d: max pooling with an int window", "pool2d: an (h, w) window", POOL_AVG, POOL_PARTIAL, POOL_HIDDEN}


def test_solution_gets_full_marks(tmp_path):
    report = grade(solution("hw5"), tmp_path, fork=False)
    assert_full_marks(report, 17)
    assert {t.name for t in report.tests if t.hidden} == {"conv2d_output_size: random settings",
                                                        "corr2d: random inputs", POOL_HIDDEN}


def test_stub_gets_zero_without_crashing(tmp_path):
    report = grade(stub("hw5"), tmp_path)
    assert_stub_scores_zero(report)


def conv(formula: str) -> dict[str, str]:
    return {"conv2d_output_size": "def conv2d_output_size(n, kernel_size, stride=1, padding=0, dilation=1):\n"
                                  f"    return {formula}"}


POOL = """\
import math

def pool2d(X, pool_size, mode="max"):
    ph, pw = (pool_size, pool_size) if isinstance(pool_size, int) else pool_size
    Y = torch.zeros({shape})
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            window = {window}
            Y[i, j] = {reduce}
    return Y
"""


def pool(shape="(X.shape[0] // ph, X.shape[1] // pw)", window="X[i * ph:(i + 1) * ph, j * pw:(j + 1) * pw]",
         reduce="window.max() if mode == 'max' else window.mean()") -> dict[str, str]:
    return {"pool2d": POOL.format(shape=shape, window=window, reduce=reduce)}


CORR = """\
def corr2d(X, K):
    kh, kw = {sizes}
    Y = torch.zeros((X.shape[0] - kh + 1, X.shape[1] - kw + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + kh, j:j + kw] * {kernel}).sum()
    return Y
"""

# (id, replaced cells, checks that must lose points, a phrase the student must read)
MISTAKES = [
    ("conv2d_output_size with true division",
     conv("(n + 2 * padding - dilation * (kernel_size - 1) - 1) / stride + 1"),
     {CONV_TABLE, CONV_INT} | CONV_TORCH, "floor division"),
    ("conv2d_output_size ignoring dilation",
     conv("(n + 2 * padding - kernel_size) // stride + 1"),
     CONV_TORCH, "dilation is ignored"),
    ("conv2d_output_size off by one",
     conv("(n + 2 * padding - dilation * (kernel_size - 1) - 1) // stride"),
     {CONV_TABLE} | CONV_TORCH, "off by one"),
    ("conv2d_output_size counting the total padding once (the book's formula)",
     conv("(n - dilation * (kernel_size - 1) - 1 + padding + stride) // stride"),
     {CONV_TABLE} | CONV_TORCH, "padding counted once"),
    ("corr2d flipping the kernel (a convolution)",
     {"corr2d": CORR.format(sizes="K.shape", kernel="K.flip(0, 1)")},
     {CORR_BOOK} | CORR_RECT, "flipped"),
    ("corr2d assuming a square kernel",
     {"corr2d": CORR.format(sizes="K.shape[0], K.shape[0]", kernel="K")},
     CORR_RECT, "need not be square"),
    ("pool2d with stride 1",
     pool(shape="(X.shape[0] - ph + 1, X.shape[1] - pw + 1)", window="X[i:i + ph, j:j + pw]"),
     POOL_ALL, "stride 1"),
    ("pool2d keeping partial windows",
     pool(shape="(math.ceil(X.shape[0] / ph), math.ceil(X.shape[1] / pw))"),
     {POOL_PARTIAL, POOL_HIDDEN}, "partial windows"),
    ("pool2d ignoring mode",
     pool(reduce="window.max()"),
     {POOL_AVG, POOL_HIDDEN}, "respect mode"),
    # Not a row of the table: the book's own pool2d, copied verbatim (a pair only, stride 1).
    ("pool2d copied from the book",
     {"pool2d": "def pool2d(X, pool_size, mode='max'):\n"
                "    p_h, p_w = pool_size\n"
                "    Y = torch.zeros((X.shape[0] - p_h + 1, X.shape[1] - p_w + 1))\n"
                "    for i in range(Y.shape[0]):\n"
                "        for j in range(Y.shape[1]):\n"
                "            if mode == 'max':\n"
                "                Y[i, j] = X[i: i + p_h, j: j + p_w].max()\n"
                "            elif mode == 'avg':\n"
                "                Y[i, j] = X[i: i + p_h, j: j + p_w].mean()\n"
                "    return Y"},
     POOL_ALL, "pool_size may be an int"),
]


@pytest.mark.parametrize("replace,must_lose,phrase", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_typical_mistake_loses_exactly_its_checks(tmp_path, replace, must_lose, phrase):
    report = grade(with_cells(solution("hw5"), replace=replace), tmp_path)
    assert_loses_exactly(report, must_lose, phrase)


def _checks_module():
    spec = importlib.util.spec_from_file_location("hw5_checks_under_test", ROOT / "assignments" / "hw5" / "checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_formula_agrees_with_nn_conv2d_everywhere():
    """The judge's truth is nn.Conv2d; this pins the reference (and the judge's formula) to it too."""
    checks = _checks_module()
    reference = reference_namespace(ROOT / "solutions" / "hw5.ipynb")["conv2d_output_size"]
    rng = np.random.default_rng(0)
    for _ in range(150):
        case = checks.conv_case(rng)
        conv = torch.nn.Conv2d(1, 1, case["kernel_size"], stride=case["stride"], padding=case["padding"],
                               dilation=case["dilation"], bias=False)
        want = conv(torch.zeros(1, 1, case["n"], case["n"])).shape[-1]
        assert reference(**case) == checks.conv_size(**case) == want, case


@pytest.mark.parametrize("seed", range(20))
def test_hidden_inputs_expose_every_mistake_whatever_the_seed(seed):
    checks = _checks_module()
    rng = np.random.default_rng(seed)
    cases = checks.conv_cases(rng, 8)["cases"]
    for i in range(3):
        assert any(abs(checks.conv_mistakes(c)[i][0] - checks.conv_size(**c)) > 0 for c in cases)
    corr = checks.corr2d_hidden_inputs(rng)
    assert corr["K"].shape[0] != corr["K"].shape[1]
    pool = checks.pool_hidden_inputs(rng)
    h, w = pool["X"].shape
    modes = {call["mode"] for call in pool["calls"]}
    assert modes == {"max", "avg"}
    for call in pool["calls"]:
        size = call["pool_size"]
        ph, pw = (size, size) if isinstance(size, int) else size
        assert h % ph or w % pw


# Forbidden library shortcuts (the stub says the loops are the exercise): exactly the checks of
# the function that uses one lose their points, with the reason; look-alikes keep full marks.
CORR_ALL = {CORR_BOOK} | CORR_RECT
CONV_ALL = {CONV_TABLE, CONV_INT} | CONV_TORCH
FORBIDDEN = [
    ("corr2d via F.conv2d",
     {"corr2d": "import torch.nn.functional as F\n\ndef corr2d(X, K):\n"
                "    return F.conv2d(X[None, None].float(), K[None, None].float())[0, 0]"},
     CORR_ALL, "writing the sliding window yourself"),
    ("corr2d via unfold",
     {"corr2d": "def corr2d(X, K):\n    kh, kw = K.shape\n"
                "    return (X.float().unfold(0, kh, 1).unfold(1, kw, 1) * K).sum((-1, -2))"},
     CORR_ALL, "unfold"),
    ("pool2d via nn.MaxPool2d / nn.AvgPool2d",
     {"pool2d": "def pool2d(X, pool_size, mode='max'):\n"
                "    layer = nn.MaxPool2d(pool_size) if mode == 'max' else nn.AvgPool2d(pool_size)\n"
                "    return layer(X[None, None])[0, 0]"},
     POOL_ALL, "nn.MaxPool2d"),
    ("pool2d via an aliased F.max_pool2d",
     {"pool2d": "from torch.nn.functional import max_pool2d as mp, avg_pool2d\n\n"
                "def pool2d(X, pool_size, mode='max'):\n"
                "    f = mp if mode == 'max' else avg_pool2d\n"
                "    return f(X[None, None], pool_size)[0, 0]"},
     POOL_ALL, "torch.nn.functional.max_pool2d"),
    ("conv2d_output_size by running nn.Conv2d",
     {"conv2d_output_size": "def conv2d_output_size(n, kernel_size, stride=1, padding=0, dilation=1):\n"
                            "    conv = nn.Conv2d(1, 1, kernel_size, stride, padding, dilation)\n"
                            "    return int(conv(torch.zeros(1, 1, n, n)).shape[-1])"},
     CONV_ALL, "with the formula"),
]


@pytest.mark.parametrize("replace,must_lose,phrase", [m[1:] for m in FORBIDDEN], ids=[m[0] for m in FORBIDDEN])
def test_forbidden_shortcut_loses_exactly_its_functions_checks(tmp_path, replace, must_lose, phrase):
    report = grade(with_cells(solution("hw5"), replace=replace), tmp_path)
    assert_loses_exactly(report, must_lose, phrase)
    assert all("does not allow" in by_name(report)[name].message for name in must_lose)


def test_innocent_look_alikes_keep_full_marks(tmp_path):
    corr = CORR.format(sizes="K.shape", kernel="K").replace(
        "    return Y\n", "    conv2d = Y  # the same as F.conv2d(X, K), without the batch dimensions\n"
                         "    unfold = 'X.unfold(0, kh, 1) is a shortcut I did not use'\n"
                         "    return conv2d\n")
    nb = with_cells(solution("hw5"), replace={"corr2d": corr},
                    append=["import torch.nn.functional as F\n"
                            "print(F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2)), nn.MaxPool2d(2))"])
    report = grade(nb, tmp_path)
    assert_full_marks(report, 17)
