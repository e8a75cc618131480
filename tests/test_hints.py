"""A hint is a diagnosis: given only when the outcome confirms it, otherwise the message states
plainly what differs. Both sides, for each hint of hw3 and hw5 that names a cause."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from grader.course import Course
from grader.probe import ErrorInfo, ProbeOutcome, TensorValue, read_result
from grader.scoring import Context, score_check
from tests.helpers import ROOT

COURSE = Course(ROOT)
CTX = Context(cell_of={}, cells={}, reference_available=True)


def check(hw: str, name: str):
    return next(c for c in COURSE.load(hw).checks if c.name == name)


def expected(hw: str, probe: str) -> ProbeOutcome:
    return read_result(COURSE.expected_dir(hw) / f"{probe}.safetensors")


def with_out(outcome: ProbeOutcome, key: str, array: np.ndarray) -> ProbeOutcome:
    old = outcome.values[key]
    values = dict(outcome.values)
    values[key] = replace(old, array=array.astype(old.array.dtype), shape=tuple(array.shape))
    return ProbeOutcome("ok", values)


def message(c, student: ProbeOutcome, want: ProbeOutcome) -> str:
    result = score_check(c, student, want, CTX)
    assert result.score < result.max_score, result
    return result.message


def raised(kind: str, text: str) -> ProbeOutcome:
    return ProbeOutcome("error", {}, error=ErrorInfo(type=kind, message=text, where=["line 3: return ..."]))


# ------------------------------------------------------------------ softmax: overflow, keepdim, columns

STABLE = "softmax: numerically stable for large scores"
VALUES = "softmax: values on a non-square batch"


def test_overflow_hint_when_the_result_overflowed():
    want = expected("hw3", "softmax_stable")
    bad = want.values["out"].array.copy()
    bad[0, 0] = np.nan
    assert "subtract each row's max" in message(check("hw3", STABLE), with_out(want, "out", bad), want)


def test_no_overflow_hint_when_nothing_overflowed():
    want = expected("hw3", "softmax_stable")
    uniform = np.full_like(want.values["out"].array, 1 / 3)  # finite, rows sum to 1, just wrong
    text = message(check("hw3", STABLE), with_out(want, "out", uniform), want)
    assert "overflow" not in text and "row's max" not in text and "differs from the expected values" in text


def test_no_overflow_hint_for_nan_on_small_inputs():
    want = expected("hw3", "softmax_public")  # scores of size ~1: exp cannot overflow
    bad = want.values["out"].array.copy()
    bad[1, 2] = np.nan
    text = message(check("hw3", VALUES), with_out(want, "out", bad), want)
    assert "NaN" in text and "overflow" not in text


def test_columns_hint_only_when_columns_sum_to_one():
    want = expected("hw3", "softmax_public")
    X = want.values["X"].array.astype(np.float64)
    by_column = np.exp(X - X.max(axis=0)) / np.exp(X - X.max(axis=0)).sum(axis=0)
    assert "dim=1" in message(check("hw3", VALUES), with_out(want, "out", by_column), want)
    shuffled = want.values["out"].array[::-1].copy()  # rows sum to 1, values wrong, not the column mistake
    text = message(check("hw3", VALUES), with_out(want, "out", shuffled), want)
    assert "dim=1" not in text and "keepdim" not in text


def test_keepdim_hint_only_for_the_broadcast_error():
    c = check("hw3", VALUES)
    want = expected("hw3", "softmax_public")
    mismatch = raised("RuntimeError", "The size of tensor a (7) must match the size of tensor b (4) at non-singleton dimension 1")
    assert "keepdim=True" in message(c, mismatch, want)
    assert "keepdim" not in message(c, raised("NameError", "name 'X_exp' is not defined"), want)


# ------------------------------------------------------------------ accuracy: argmax, fraction

ACC = "accuracy: counts correct predictions from probabilities"


def accuracy_outcome(count) -> tuple[ProbeOutcome, ProbeOutcome]:
    want = expected("hw3", "accuracy_public")
    values = dict(want.values)
    values["count"] = count
    return ProbeOutcome("ok", values), want


def test_argmax_hint_when_the_count_is_what_comparing_probabilities_gives():
    want = expected("hw3", "accuracy_public")
    y_hat, y = want.values["y_hat"].array, want.values["y"].array
    no_argmax = float((y_hat.astype(np.int64)[:, 0] == y).sum())
    student, _ = accuracy_outcome(no_argmax)
    assert "argmax" in message(check("hw3", ACC), student, want)


def test_no_argmax_hint_for_another_wrong_count():
    want = expected("hw3", "accuracy_public")
    right = float(want.values["count"])
    y_hat, y = want.values["y_hat"].array, want.values["y"].array
    no_argmax = float((y_hat.astype(np.int64)[:, 0] == y).sum())
    wrong = next(v for v in (right + 1, right + 2, right + 3) if v != no_argmax)
    student, _ = accuracy_outcome(wrong)
    text = message(check("hw3", ACC), student, want)
    assert "argmax" not in text and "fraction" not in text and "count the examples" in text


def test_fraction_hint_only_for_the_fraction():
    want = expected("hw3", "accuracy_public")
    fraction = float(want.values["count"]) / len(want.values["y"].array)
    student, _ = accuracy_outcome(fraction)
    assert "not the fraction" in message(check("hw3", ACC), student, want)


def test_argmax_error_hint_only_for_the_broadcast_error():
    c, want = check("hw3", ACC), expected("hw3", "accuracy_public")
    mismatch = raised("RuntimeError", "The size of tensor a (4) must match the size of tensor b (10) at non-singleton dimension 1")
    assert "argmax" in message(c, mismatch, want)
    assert "argmax" not in message(c, raised("TypeError", "accuracy() got an unexpected keyword argument 'y'"), want)


# ------------------------------------------------------------------ cross_entropy: sign and log base

CE = "cross_entropy: per-example loss"


@pytest.mark.parametrize("transform,advice", [
    (lambda loss: -loss, "minus the log"),
    (lambda loss: loss / np.log(10), "not log10"),
], ids=["no minus", "log10"])
def test_cross_entropy_advice_for_the_mistake_it_matches(transform, advice):
    want = expected("hw3", "cross_entropy_public")
    got = transform(want.values["out"].array.astype(np.float64))
    assert advice in message(check("hw3", CE), with_out(want, "out", got), want)


def test_cross_entropy_other_wrong_values_get_no_advice():
    want = expected("hw3", "cross_entropy_public")
    got = want.values["out"].array * 1.5
    text = message(check("hw3", CE), with_out(want, "out", got), want)
    assert "minus" not in text and "log10" not in text and "differs from the expected values" in text


# ------------------------------------------------------------------ hw5: window hints only on their errors

def test_square_kernel_hint_only_for_a_window_kernel_mismatch():
    c, want = check("hw5", "corr2d: a non-square kernel on a non-square input"), expected("hw5", "corr2d_rect")
    mismatch = raised("RuntimeError", "The size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 1")
    assert "need not be square" in message(c, mismatch, want)
    assert "square" not in message(c, raised("IndexError", "index 6 is out of bounds for dimension 0 with size 6"), want)


def test_int_window_hint_only_when_unpacking_an_int():
    c, want = check("hw5", "pool2d: max pooling with an int window"), expected("hw5", "pool_max_int")
    assert "may be an int" in message(c, raised("TypeError", "cannot unpack non-iterable int object"), want)
    assert "may be an int" not in message(c, raised("ZeroDivisionError", "division by zero"), want)


def test_shape_hints_are_confirmed_by_the_shape():
    want = expected("hw5", "pool_partial")
    c = check("hw5", "pool2d: partial windows are dropped")
    X = want.values["X"].array
    h, w = X.shape
    stride_one = np.zeros((h - 1, w - 1), dtype=np.float32)
    kept_partial = np.zeros((-(-h // 2), -(-w // 2)), dtype=np.float32)
    other = np.zeros((1, 1), dtype=np.float32)

    def outs(array):
        values = dict(want.values)
        values["outs"] = [TensorValue(array, "float32", array.shape, "cpu", False, True, None)]
        return ProbeOutcome("ok", values)

    assert "stride 1" in message(c, outs(stride_one), want)
    assert "partial windows" in message(c, outs(kept_partial), want)
    text = message(c, outs(other), want)
    assert "stride 1" not in text and "partial windows at the bottom" not in text


# ------------------------------------------------------------------ hw1, hw2, hw4: error hints on their errors

@pytest.mark.parametrize("hw,name,probe,confirming,other,hint", [
    ("hw1", "to_matrix: shape and values (20 elements, 4 columns)", "to_matrix_values",
     ("RuntimeError", "shape '[3, 4]' is invalid for input of size 20"), ("TypeError", "'int' object is not callable"),
     "number of rows"),
    ("hw1", "row_normalize: a non-square matrix", "row_normalize_public",
     ("RuntimeError", "The size of tensor a (5) must match the size of tensor b (3) at non-singleton dimension 1"),
     ("NameError", "name 'Y' is not defined"), "keepdim"),
    ("hw2", "linreg: (n, d) @ (d, 1) + b", "linreg_public",
     ("RuntimeError", "vector + matrix @ vector expected, got 1, 2, 2"), ("NameError", "name 'W' is not defined"),
     "torch.mv"),
    ("hw4", "MyDense: output with the reference weights", "dense_forward",
     ("RuntimeError", "mat1 and mat2 shapes cannot be multiplied (4x5 and 3x5)"), ("AttributeError", "no attribute 'w'"),
     "relu(X @ weight + bias)"),
], ids=["to_matrix rows", "row_normalize keepdim", "linreg mv", "MyDense layout"])
def test_error_hints_only_on_the_errors_that_confirm_them(hw, name, probe, confirming, other, hint):
    c, want = check(hw, name), expected(hw, probe)
    assert hint in message(c, raised(*confirming), want)
    assert hint not in message(c, raised(*other), want)


def test_row_normalize_keepdim_hint_only_for_the_keepdim_result():
    c, want = check("hw1", "row_normalize: a square matrix"), expected("hw1", "row_normalize_square")
    X = np.array([[1, 1, 2, 0], [4, 0, 0, 0], [1, 2, 3, 4], [0, 5, 5, 0]], dtype=np.float32)
    assert "keepdim" in message(c, with_out(want, "out", X / X.sum(axis=1)), want)
    text = message(c, with_out(want, "out", X / 10), want)
    assert "keepdim" not in text and "own sum" in text
