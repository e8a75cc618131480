"""Comparisons used by judges, in the grader's own process, on plain numpy data.

Every failure raises `Fail` with a sentence a student can act on: what was expected, what came
back, and where the first difference is.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from grader.checks import PASS, Fail, Judge, Verdict
from grader.probe import ObjectValue, ProbeOutcome, TensorValue

# (rtol, atol) by dtype, as in design.md: float32 rtol 1e-5 / atol 1e-6 unless a check says otherwise.
TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-7, 1e-9),
    "float32": (1e-5, 1e-6),
    "float16": (1e-3, 1e-4),
    "bfloat16": (1e-2, 1e-3),
}


def describe(value: Any) -> str:
    if isinstance(value, TensorValue):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    if isinstance(value, ObjectValue):
        return f"a {value.type_name} ({value.repr[:60]})" if value.repr else f"a {value.type_name}"
    if value is None:
        return "None"
    if isinstance(value, bool):
        return f"the bool {value}"
    if isinstance(value, (int, float)):
        return f"the {type(value).__name__} {value!r}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


def value(outcome: ProbeOutcome, key: str) -> Any:
    if key not in outcome.values:
        raise Fail(f"the probe returned no {key!r} (internal check error)")
    return outcome.values[key]


def tensor(outcome: ProbeOutcome, key: str, what: str) -> TensorValue:
    got = value(outcome, key)
    if not isinstance(got, TensorValue):
        raise Fail(f"{what} should be a torch.Tensor, got {describe(got)}")
    return got


def number(outcome: ProbeOutcome, key: str, what: str) -> float:
    got = value(outcome, key)
    if isinstance(got, TensorValue) and got.array.size == 1:
        return float(got.array.reshape(()))
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        raise Fail(f"{what} should be a number, got {describe(got)}")
    return float(got)


def tolerance(dtype: str, rtol: float | None, atol: float | None) -> tuple[float, float]:
    default_rtol, default_atol = TOLERANCES.get(dtype, (1e-5, 1e-6))
    return (default_rtol if rtol is None else rtol, default_atol if atol is None else atol)


def shape_text(got: tuple[int, ...], want: tuple[int, ...], hidden: bool) -> str:
    """How a failure names shapes: never those of a hidden input (a report must not leak it)."""
    return "the wrong shape on a hidden input" if hidden else f"shape {tuple(got)}, expected {tuple(want)}"


def assert_close(
    actual: np.ndarray, expected: np.ndarray, what: str, rtol: float, atol: float, hint: str = "",
    hidden: bool = False,
) -> None:
    """Shape, NaN, then values; with `hidden`, the message names no shape, index or value."""
    suffix = f": {hint}" if hint else ""
    if actual.shape != expected.shape:
        raise Fail(f"{what} has {shape_text(actual.shape, expected.shape, hidden)}{suffix}")
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    bad_nan = np.isnan(a) & ~np.isnan(e)
    if bad_nan.any():
        idx = tuple(int(i) for i in np.argwhere(bad_nan)[0])
        where = " on a hidden input" if hidden else f" (first at index {idx})"
        raise Fail(f"{what} contains NaN{where} where a number was expected{suffix}")
    with np.errstate(invalid="ignore"):
        close = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    if not close.all():
        if hidden:
            raise Fail(f"{what} differs from the expected values on a hidden input{suffix}")
        idx = tuple(int(i) for i in np.argwhere(~close)[0])
        where = f" at index {idx}" if idx else ""
        raise Fail(
            f"{what} differs from the expected values{where}: got {a[idx]:.6g}, expected {e[idx]:.6g}"
            f" ({int((~close).sum())} of {close.size} values off){suffix}"
        )


def same_tensor(
    key: str, what: str, rtol: float | None = None, atol: float | None = None, hint: str = "", hidden: bool = False
) -> Judge:
    """Judge: the student's tensor `key` has the reference's shape and values (dtype-aware tolerance).

    Pass hidden=True for a hidden check's judge, so its messages do not describe the hidden input.
    """

    def judge(student: ProbeOutcome, expected: ProbeOutcome | None) -> Verdict:
        assert expected is not None
        want = tensor(expected, key, what)
        got = tensor(student, key, what)
        r, a = tolerance(want.dtype, rtol, atol)
        assert_close(got.array, want.array, what, r, a, hint, hidden=hidden)
        return PASS

    return judge


def same_value(key: str, what: str, rel: float = 1e-6, hint: str = "") -> Judge:
    """Judge: a plain value (number, tuple, bool, string) equal to the reference's."""

    def judge(student: ProbeOutcome, expected: ProbeOutcome | None) -> Verdict:
        assert expected is not None
        want, got = value(expected, key), value(student, key)
        suffix = f": {hint}" if hint else ""
        if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
            if math.isclose(float(got), want, rel_tol=rel, abs_tol=rel):
                return PASS
        elif got == want and type(got) is type(want):
            return PASS
        raise Fail(f"{what}: got {got!r}, expected {want!r}{suffix}")

    return judge
