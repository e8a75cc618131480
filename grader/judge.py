"""Comparisons used by judges, in the grader's own process, on plain numpy data.

Every failure raises `Fail` with a sentence a student can act on: what was expected, what came
back, and where the first difference is.

Two rules hold here once, for every judge:
- A hidden check's message names no shape, index, value or count of its inputs. The helpers
  learn that the check being judged is hidden from the judging context that `Check.decide`
  sets (`judging_hidden()`), not from a flag each judge would have to remember. Judges that
  write their own sentences wrap whatever quotes the inputs in `quote(...)`.
- A non-finite value (NaN, inf) never passes a numeric comparison.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from grader.checks import PASS, Fail, Judge, Verdict, judging_hidden
from grader.probe import ObjectValue, ProbeOutcome, TensorValue

# (rtol, atol) by dtype. float32's are set from measured differences between equivalent float32
# formulas of the assignments' functions (scripts/measure_tolerances.py over the alternatives of
# tests/alternatives.py: a stable softmax via torch.logsumexp, einsum/addmm for X @ w + b, a
# vectorised corr2d, ...): largest relative difference 3.4e-5, largest absolute difference where
# the value is below 1e-3 about 5e-10; rtol and atol keep a margin of about 10x over them
# (atol far more: it only has to forgive values that are zero in one formula and tiny in another).
# A real mistake is off by far more.
TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-7, 1e-9),
    "float32": (3e-4, 1e-5),
    "float16": (1e-2, 1e-3),
    "bfloat16": (5e-2, 1e-2),
}
REDACTED = "on a hidden input"


def quote(text: str, instead: str = "") -> str:
    """`text` (which names values, shapes, indices or counts of the inputs) on a public check;
    `instead` on a hidden one."""
    return instead if judging_hidden() else text


def describe(value: Any) -> str:
    """What a value is, for a message; on a hidden check without its shape, size or contents."""
    hidden = judging_hidden()
    if isinstance(value, TensorValue):
        return f"a {value.dtype} tensor" if hidden else f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    if isinstance(value, ObjectValue):
        if value.repr and not hidden:
            return f"a {value.type_name} ({value.repr[:60]})"
        return f"a {value.type_name}"
    if value is None:
        return "None"
    if isinstance(value, bool):
        return f"the bool {value}"
    if isinstance(value, (int, float)):
        return f"a {type(value).__name__}" if hidden else f"the {type(value).__name__} {value!r}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__}" if hidden else f"a {type(value).__name__} of {len(value)} items"
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


def as_number(got: Any) -> float | None:
    """A plain number or a one-element tensor as a float (possibly NaN/inf); None for anything else."""
    if isinstance(got, TensorValue) and got.array.size == 1:
        return float(got.array.reshape(()))
    if isinstance(got, (int, float)) and not isinstance(got, bool):
        return float(got)
    return None


def number(outcome: ProbeOutcome, key: str, what: str) -> float:
    """The number `key` of an outcome; a Fail if it is not a number or not finite."""
    got = as_number(value(outcome, key))
    if got is None:
        raise Fail(f"{what} should be a number, got {describe(value(outcome, key))}")
    if not math.isfinite(got):
        raise Fail(f"{what} is {_nonfinite_name(np.array([got]))}, expected a finite number")
    return got


def _nonfinite_name(array: np.ndarray) -> str:
    has_nan, has_inf = bool(np.isnan(array).any()), bool(np.isinf(array).any())
    return "NaN and inf" if has_nan and has_inf else ("NaN" if has_nan else "inf")


def finite(array: np.ndarray, what: str, hint: str = "") -> None:
    """Fail when `array` holds NaN or inf: a non-finite value is never an answer."""
    a = np.asarray(array)
    if a.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(a)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        where = quote(f" (first at index {idx})" if idx else "", f" {REDACTED}")
        raise Fail(f"{what} contains {_nonfinite_name(a)}{where} where a number was expected"
                   + (f": {hint}" if hint else ""))


def close_number(got: float, want: float, what: str, rel: float = 1e-6, abs_tol: float = 1e-6, hint: str = "") -> None:
    """Scalar comparison: Fail unless `got` is finite and within the tolerance of `want`."""
    if not math.isfinite(want):
        raise ValueError(f"the expected value of {what} is not finite (a reference problem)")
    suffix = f": {hint}" if hint else ""
    if not math.isfinite(got):
        raise Fail(f"{what} is {_nonfinite_name(np.array([got]))}, expected a finite number{suffix}")
    if not math.isclose(got, want, rel_tol=rel, abs_tol=abs_tol):
        raise Fail(f"{what} " + quote(f"is {got:.6g}, expected {want:.6g}", "differs from the expected value " + REDACTED)
                   + suffix)


def tolerance(dtype: str, rtol: float | None, atol: float | None) -> tuple[float, float]:
    default_rtol, default_atol = TOLERANCES.get(dtype, TOLERANCES["float32"])
    return (default_rtol if rtol is None else rtol, default_atol if atol is None else atol)


def shape_text(got: tuple[int, ...], want: tuple[int, ...]) -> str:
    """How a failure names shapes: never those of a hidden input (a report must not leak it)."""
    return quote(f"shape {tuple(got)}, expected {tuple(want)}", f"the wrong shape {REDACTED}")


def matches(got: np.ndarray, candidate: np.ndarray, truth: np.ndarray, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """Whether `got` is what a known mistake gives (`candidate`) and that mistake shows on this input."""
    got, candidate, truth = (np.asarray(x, dtype=np.float64) for x in (got, candidate, truth))
    if got.shape != candidate.shape or not np.isfinite(got).all() or not np.isfinite(candidate).all():
        return False
    same_as_truth = candidate.shape == truth.shape and np.allclose(candidate, truth, rtol=rtol, atol=atol)
    return not same_as_truth and bool(np.allclose(got, candidate, rtol=rtol, atol=atol))


def assert_close(
    actual: np.ndarray, expected: np.ndarray, what: str, rtol: float, atol: float, hint: str = "",
    mistakes: Sequence[tuple[np.ndarray, str]] = (), nonfinite_hint: str = "",
) -> None:
    """Shape, then non-finite values, then values.

    `hint` describes the contract and follows any value difference. `mistakes` are what known
    wrong formulas give on this input, each with the advice that fixes it: the advice is given
    only when the student's values are what that mistake gives. `nonfinite_hint` is given only
    when the result holds NaN or inf.
    """
    suffix = f": {hint}" if hint else ""
    if actual.shape != expected.shape:
        raise Fail(f"{what} has {shape_text(actual.shape, expected.shape)}{suffix}")
    e = expected.astype(np.float64)
    if not np.isfinite(e).all():
        raise ValueError(f"the expected {what} is not finite (a reference problem)")
    finite(actual, what, nonfinite_hint or hint)
    a = actual.astype(np.float64)
    close = np.isclose(a, e, rtol=rtol, atol=atol)
    if close.all():
        return
    for candidate, advice in mistakes:
        if matches(a, candidate, e, max(rtol, 1e-4), max(atol, 1e-5)):
            raise Fail(f"{what} differs from the expected values: {advice}")
    if judging_hidden():
        raise Fail(f"{what} differs from the expected values {REDACTED}{suffix}")
    idx = tuple(int(i) for i in np.argwhere(~close)[0])
    where = f" at index {idx}" if idx else ""
    raise Fail(
        f"{what} differs from the expected values{where}: got {a[idx]:.6g}, expected {e[idx]:.6g}"
        f" ({int((~close).sum())} of {close.size} values off){suffix}"
    )


def same_tensor(key: str, what: str, rtol: float | None = None, atol: float | None = None, hint: str = "",
                nonfinite_hint: str = "") -> Judge:
    """Judge: the student's tensor `key` has the reference's shape and values (dtype-aware tolerance)."""

    def judge(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
        want = tensor(expected, key, what)
        got = tensor(student, key, what)
        r, a = tolerance(want.dtype, rtol, atol)
        assert_close(got.array, want.array, what, r, a, hint, nonfinite_hint=nonfinite_hint)
        return PASS

    return judge


def same_value(key: str, what: str, rel: float = 1e-6, hint: str = "") -> Judge:
    """Judge: a plain value (number, tuple, bool, string) equal to the reference's."""

    def judge(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
        want, got = value(expected, key), value(student, key)
        suffix = f": {hint}" if hint else ""
        if isinstance(want, float) and as_number(got) is not None and not isinstance(got, TensorValue):
            close_number(float(got), want, what, rel, rel, hint)
            return PASS
        if got == want and type(got) is type(want):
            return PASS
        raise Fail(f"{what}: " + quote(f"got {got!r}, expected {want!r}", f"got {describe(got)}, not the expected value")
                   + suffix)

    return judge


def descends(delta: np.ndarray, grad: np.ndarray, params: np.ndarray, rel: float = 1e-2) -> bool:
    """Whether `delta`, a change of `params`, is one gradient-descent step along `grad`.

    True when delta == -c * grad for some step size c > 0, up to the rounding of float32
    parameters. End-to-end checks use it to verify, in the grader, every step of a training run
    the kernel reports: whoever wrote the numbers (the student's code can reach and rewrite
    anything in its own process), a run that passes is a real descent from the grader's starting
    point on the grader's batches, with the true gradient the grader computes itself.
    """
    d = np.asarray(delta, dtype=np.float64).reshape(-1)
    g = np.asarray(grad, dtype=np.float64).reshape(-1)
    p = np.asarray(params, dtype=np.float64).reshape(-1)
    if d.shape != g.shape or not (np.isfinite(d).all() and np.isfinite(g).all() and np.isfinite(p).all()):
        return False
    rounding = 8 * float(np.finfo(np.float32).eps) * (float(np.abs(p).max(initial=0.0)) + 1.0) * math.sqrt(d.size)
    if float(np.linalg.norm(d)) <= rounding:
        return True  # no move (or one below float32 resolution) is no evidence of anything else
    gg = float(g @ g)
    if gg == 0.0:
        return False
    c = -float(d @ g) / gg
    return c > 0 and float(np.linalg.norm(d + c * g)) <= rel * c * math.sqrt(gg) + rounding
