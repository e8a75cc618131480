"""hw1 checks: tensors, reshaping and broadcasting (d2l 2.1).

Probes (`probe_*`) run inside the student's kernel: they call the student's functions with
keyword arguments and return data (tensors, bools, type names); judges (`judge_*`) run in the
grader and decide points. See grader/checks.py.

Memory is part of the contract here, so some probes look at storage pointers and object
identity inside the kernel and return bools. Where a judge needs the truth about the inputs
(the broadcast shape torch computes, for instance), it reads it from the *expected* outcome,
which comes from the reference run in the grader's process (or the stored public file), never
from the student's.
"""

from __future__ import annotations

import numpy as np

from grader.authoring import (
    PASS,
    Assignment,
    Check,
    Fail,
    Judge,
    Probe,
    ProbeOutcome,
    Verdict,
    assert_close,
    describe,
    judging_hidden,
    matches,
    quote,
    shape_text,
    tensor,
    tolerance,
    value,
)

KEEPDIM_HINT = (
    "X.sum(dim=1) has shape (n,), which broadcasting lines up with the columns of an (n, m) matrix;"
    " keep the summed dimension with X.sum(dim=1, keepdim=True) (shape (n, 1))"
)
# The errors that confirm a hint's diagnosis (Check.error_hint_when).
SIZE_MISMATCH = r"must match the size of tensor"  # (n, m) divided by (n,) with n != m
BAD_RESHAPE = r"is invalid for input of size"  # a hard-coded row count
ROWS_HINT = "compute the number of rows from len(x) (or let reshape infer it with -1)"
SQUARE_X = np.array([[1, 1, 2, 0], [4, 0, 0, 0], [1, 2, 3, 4], [0, 5, 5, 0]], dtype=np.float32)
SPEED_N = 2000
SPEED_SMALL_N = 100
# A broadcast subtraction at n = m = 2000 takes a few milliseconds, a double loop minutes; the
# limits leave a wide margin for a loaded machine.
SPEED_LIMIT_S = 1.0  # one call at n = m = 2000, timed in the kernel
SPEED_PROJECTED_LIMIT_S = 3.0  # the small size's time scaled up: beyond this the full size is not run
SPEED_PROBE_LIMIT_S = 5.0  # the whole probe as the grader measures it (trusted)


# ---------------------------------------------------------------- inputs (grader side)

def floats(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(size=shape).astype(np.float32)


def _to_matrix_hidden(rng: np.random.Generator) -> dict:
    rows, n_cols = int(rng.integers(4, 10)), int(rng.integers(2, 8))  # never 3 rows: the book's example
    if rng.random() < 0.5:
        x = rng.integers(-50, 50, size=rows * n_cols).astype(np.int64)
    else:
        x = floats(rng, rows * n_cols)
    return {"x": x, "n_cols": n_cols}


def _flatten_hidden(rng: np.random.Generator) -> dict:
    n = int(rng.integers(2, 7))
    trailing = [int(d) for d in rng.integers(2, 6, size=int(rng.integers(1, 4)))]
    return {"X": floats(rng, n, *trailing)}


def _broadcast_pairs(rng: np.random.Generator) -> list[list[list[int]]]:
    """Random pairs of shapes, half of them broadcastable, with at least one of each trap.

    The first pair, ((p, q), (q,)) with p != q, fails when shapes are aligned on the left; the
    incompatible pairs have two different sizes > 1 facing each other, which fails when
    sizes are combined with max() without a compatibility test.
    """
    p, q = (int(v) for v in rng.choice(np.arange(2, 7), size=2, replace=False))
    pairs = [[[p, q], [q]]]
    for _ in range(6):
        out = [int(d) for d in rng.integers(1, 6, size=int(rng.integers(1, 5)))]
        a = [1 if rng.random() < 0.3 else d for d in out]
        b = [1 if rng.random() < 0.3 else d for d in out]
        b = b[int(rng.integers(0, len(b))):]  # drop leading dims: ranks differ
        pairs.append([a, b] if rng.random() < 0.5 else [b, a])
    for _ in range(5):
        out = [int(d) for d in rng.integers(2, 6, size=int(rng.integers(1, 5)))]
        a, b = list(out), list(out)
        i = int(rng.integers(0, len(out)))
        b[i] = a[i] + int(rng.integers(1, 3))  # two different sizes > 1 face each other
        b = b[int(rng.integers(0, i + 1)):]
        pairs.append([a, b] if rng.random() < 0.5 else [b, a])
    order = rng.permutation(len(pairs))
    return [pairs[int(i)] for i in order]


def _pairwise_hidden(rng: np.random.Generator) -> dict:
    n, m = (int(v) for v in rng.choice(np.arange(2, 31), size=2, replace=False))
    return {"a": floats(rng, n), "b": floats(rng, m)}


def _row_normalize_hidden(rng: np.random.Generator) -> dict:
    n, m = (int(v) for v in rng.choice(np.arange(2, 12), size=2, replace=False))
    return {"X": rng.uniform(0.1, 2.0, size=(n, m)).astype(np.float32)}


def _add_inplace_hidden(rng: np.random.Generator) -> dict:
    n, m = int(rng.integers(2, 8)), int(rng.integers(2, 8))
    x_shape = [(n, m), (m,), (n, 1), (1, m)][int(rng.integers(0, 4))]
    return {"Y": floats(rng, n, m), "X": floats(rng, *x_shape)}


# ---------------------------------------------------------------- probes (student's kernel)

def probe_to_matrix(ns, x, n_cols):
    import torch

    out = ns["to_matrix"](x=x, n_cols=n_cols)
    view = isinstance(out, torch.Tensor) and out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    return {"out": out, "view": bool(view)}


def probe_to_matrix_error(ns, x, n_cols):
    try:
        out = ns["to_matrix"](x=x, n_cols=n_cols)
    except NotImplementedError:
        raise
    except Exception as exc:
        return {"raised": type(exc).__name__}
    return {"raised": None, "returned": out}


def probe_flatten(ns, X):
    return {"out": ns["flatten_batch"](X=X)}


def probe_broadcast(ns, pairs):
    import torch

    results, truth = [], []
    for a, b in pairs:
        a, b = tuple(a), tuple(b)
        try:
            truth.append({"value": tuple(torch.broadcast_shapes(a, b))})
        except RuntimeError:
            truth.append({"raised": "RuntimeError"})
        try:
            results.append({"value": ns["broadcast_shape"](a=a, b=b)})
        except NotImplementedError:
            raise
        except Exception as exc:
            results.append({"raised": type(exc).__name__})
    return {"pairs": [(tuple(a), tuple(b)) for a, b in pairs], "results": results, "torch": truth}


def probe_pairwise(ns, a, b):
    return {"out": ns["pairwise_diff"](a=a, b=b)}


def probe_pairwise_speed(ns, a_small, b_small, a, b, limit_s, projected_limit_s):
    """Time pairwise_diff: a small size first (min of a few runs), the full size only if it can be fast.

    Only pass/fail facts are returned for a fast function, so the stored public outcome does not
    change from one build to the next; the grader also measures the whole probe itself.
    """
    import time

    import torch

    f = ns["pairwise_diff"]
    times, spent = [], 0.0
    while len(times) < 3 and spent < 1.0:
        start = time.perf_counter()
        f(a=a_small, b=b_small)
        times.append(time.perf_counter() - start)
        spent += times[-1]
    small = min(times)
    factor = (len(a) * len(b)) / (len(a_small) * len(b_small))
    if small * factor > projected_limit_s:
        return {"skipped": True, "small_s": small, "projected_s": small * factor}
    start = time.perf_counter()
    out = f(a=a, b=b)
    took = time.perf_counter() - start
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else None
    result = {"skipped": False, "shape": shape, "slow": took > limit_s}
    if took > limit_s:
        result["big_s"] = took
    return result


def probe_row_normalize(ns, X):
    return {"out": ns["row_normalize"](X=X)}


def probe_add_inplace(ns, Y, X):
    import torch

    before = Y.clone()
    ptr = Y.data_ptr()
    out = ns["add_inplace"](Y=Y, X=X)
    return {
        "out": out,
        "Y": Y,
        "is_Y": out is Y,
        "same_memory": Y.data_ptr() == ptr,
        "changed": not torch.equal(Y, before),
    }


TO_MATRIX_VALUES = Probe(
    "to_matrix_values", probe_to_matrix, ("to_matrix",),
    lambda rng: {"x": np.arange(20, dtype=np.int64), "n_cols": 4},
)
TO_MATRIX_MEMORY = Probe(
    "to_matrix_memory", probe_to_matrix, ("to_matrix",),
    lambda rng: {"x": np.arange(12, dtype=np.int64) * 3, "n_cols": 4},  # 3 rows, as in the book
)
TO_MATRIX_ERROR = Probe(
    "to_matrix_not_divisible", probe_to_matrix_error, ("to_matrix",),
    lambda rng: {"x": np.arange(10, dtype=np.float32), "n_cols": 3},
)
TO_MATRIX_HIDDEN = Probe("to_matrix_hidden", probe_to_matrix, ("to_matrix",), _to_matrix_hidden, hidden=True)

FLATTEN_PUBLIC = Probe("flatten_batch_public", probe_flatten, ("flatten_batch",), lambda rng: {"X": floats(rng, 4, 3, 2, 5)})
FLATTEN_ONE = Probe("flatten_batch_one", probe_flatten, ("flatten_batch",), lambda rng: {"X": floats(rng, 1, 1, 4, 4)})
FLATTEN_HIDDEN = Probe("flatten_batch_hidden", probe_flatten, ("flatten_batch",), _flatten_hidden, hidden=True)

BROADCAST_COMPATIBLE = Probe(
    "broadcast_compatible", probe_broadcast, ("broadcast_shape",),
    lambda rng: {"pairs": [
        [[3, 4], [4]], [[8, 1, 6, 1], [7, 1, 5]], [[2, 1], [1, 3]], [[5, 3], [5, 3]],
        [[], [2, 3]], [[4, 1, 1], [3, 1]], [[1], [6, 2]],
    ]},
)
BROADCAST_INCOMPATIBLE = Probe(
    "broadcast_incompatible", probe_broadcast, ("broadcast_shape",),
    lambda rng: {"pairs": [[[2, 3, 4], [2, 4]], [[3], [4]], [[2, 3], [3, 2]], [[5, 2, 1], [3, 7]]]},
)
BROADCAST_HIDDEN = Probe(
    "broadcast_hidden", probe_broadcast, ("broadcast_shape",), lambda rng: {"pairs": _broadcast_pairs(rng)}, hidden=True,
)

PAIRWISE_PUBLIC = Probe(
    "pairwise_diff_public", probe_pairwise, ("pairwise_diff",),
    lambda rng: {"a": np.array([1.0, 2.0, 3.0], dtype=np.float32), "b": np.array([10.0, 20.0, 30.0, 40.0, 50.0], dtype=np.float32)},
)
PAIRWISE_HIDDEN = Probe("pairwise_diff_hidden", probe_pairwise, ("pairwise_diff",), _pairwise_hidden, hidden=True)
PAIRWISE_SPEED = Probe(
    "pairwise_diff_speed", probe_pairwise_speed, ("pairwise_diff",),
    lambda rng: {"a_small": floats(rng, SPEED_SMALL_N), "b_small": floats(rng, SPEED_SMALL_N),
                 "a": floats(rng, SPEED_N), "b": floats(rng, SPEED_N),
                 "limit_s": SPEED_LIMIT_S, "projected_limit_s": SPEED_PROJECTED_LIMIT_S},
    timeout_s=10.0,  # a backstop: the probe itself skips the full size when the small one is slow
)

ROW_NORMALIZE_PUBLIC = Probe(
    "row_normalize_public", probe_row_normalize, ("row_normalize",),
    lambda rng: {"X": rng.uniform(0.1, 2.0, size=(3, 5)).astype(np.float32)},
)
ROW_NORMALIZE_SQUARE = Probe(
    "row_normalize_square", probe_row_normalize, ("row_normalize",),
    lambda rng: {"X": SQUARE_X},
)
ROW_NORMALIZE_HIDDEN = Probe("row_normalize_hidden", probe_row_normalize, ("row_normalize",), _row_normalize_hidden, hidden=True)

ADD_INPLACE_PUBLIC = Probe(
    "add_inplace_public", probe_add_inplace, ("add_inplace",),
    lambda rng: {"Y": floats(rng, 3, 4), "X": floats(rng, 4)},
)
ADD_INPLACE_HIDDEN = Probe("add_inplace_hidden", probe_add_inplace, ("add_inplace",), _add_inplace_hidden, hidden=True)


# ---------------------------------------------------------------- judges (grader)
# On hidden checks the judge helpers name no shapes or values (see grader/judge.py); sentences
# written here wrap what quotes the inputs in quote(...).

def _close(got: np.ndarray, want: np.ndarray, dtype: str, what: str, hint: str = "") -> None:
    r, a = tolerance(dtype, None, None)
    assert_close(got, want, what, r, a, hint)


def _values(key: str, what: str, shape_hint=None) -> Judge:
    """Shape first (with a hint naming the likely cause), then values with dtype-aware tolerance."""

    def judge(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
        want = tensor(expected, key, what)
        got = tensor(student, key, what)
        if got.shape != want.shape:
            hint = shape_hint(got.shape, want.shape) if shape_hint else None
            shapes = shape_text(got.shape, want.shape)
            raise Fail(f"{what} has {shapes}" + (f": {hint}" if hint else ""))
        _close(got.array, want.array, want.dtype, what)
        return PASS

    return judge


def judge_to_matrix_dtype(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    want = tensor(expected, "out", "to_matrix's result")
    got = tensor(student, "out", "to_matrix's result")
    if got.dtype != want.dtype:
        raise Fail(f"to_matrix turned an {want.dtype} vector into a {got.dtype} matrix: reshaping must keep the"
                   " dtype (rebuilding the tensor from its values, e.g. through .tolist() or torch.tensor(...),"
                   " makes a copy that can change it)")
    return PASS


def judge_to_matrix_view(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    tensor(student, "out", "to_matrix's result")
    if value(student, "view") is not True:
        raise Fail("to_matrix returned a copy: its result does not share memory with x. For a contiguous"
                   " vector, x.reshape(...) (or x.view(...)) returns a view of the same storage; rebuilding"
                   " the tensor or calling .clone() copies it")
    return PASS


def judge_to_matrix_error(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    raised = value(student, "raised")
    if raised == "ValueError":
        return PASS
    if raised is None:
        got = value(student, "returned")
        raise Fail(f"to_matrix(x of 10 elements, n_cols=3) returned {describe(got)} instead of raising ValueError:"
                   " 10 elements do not fill rows of 3")
    raise Fail(f"to_matrix(x of 10 elements, n_cols=3) raised {raised}, expected ValueError: torch's reshape raises"
               " RuntimeError, so check len(x) % n_cols yourself and raise ValueError with a clear message")


def _flatten_hint(got: tuple, want: tuple) -> str | None:
    if len(got) == 1:
        return "the batch dimension was flattened too; keep dimension 0 (N) and flatten only the others"
    if want[0] == 1 and (len(got) != 2 or got[0] != 1):
        return ("a batch of one example lost its batch dimension: X.squeeze() also drops dimension 0 when N == 1;"
                " use X.shape[0] (or len(X)) for the number of rows")
    return None


def _pairwise_hint(got: tuple, want: tuple) -> str | None:
    if got == want[::-1]:
        return "the result is transposed: out[i, j] is a[i] - b[j], so rows follow a (shape (n, m)), columns follow b"
    return None


def _broadcast_judge() -> Judge:
    """Public checks name the first pair that fails; hidden ones only say that some did."""

    def judge(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
        truth, pairs = value(expected, "torch"), value(expected, "pairs")
        results = value(student, "results")
        if not isinstance(results, list) or len(results) != len(truth):
            raise Fail("the broadcast_shape probe returned no usable results")
        problems: list[tuple[str, str]] = []  # (description, hint)
        for (a, b), want, got in zip(pairs, truth, results):
            call = f"broadcast_shape({a}, {b})"
            got_raised = got.get("raised") if isinstance(got, dict) else None
            got_value = got.get("value") if isinstance(got, dict) else None
            if "raised" in want:
                if got_raised == "ValueError":
                    continue
                if got_raised:
                    problems.append((f"{call} raised {got_raised}, expected ValueError",
                                     "raise ValueError yourself for incompatible shapes"))
                else:
                    problems.append((f"{call} returned {got_value!r}, but these shapes are not broadcastable",
                                     "two sizes are compatible only when they are equal or one of them is 1;"
                                     " raise ValueError otherwise"))
                continue
            want_shape = tuple(want["value"])
            if got_raised:
                hint = ("align the shapes on the right (trailing dimensions first), padding the shorter one with 1s"
                        " on the left" if len(a) != len(b) else "sizes that are equal or 1 are compatible")
                problems.append((f"{call} raised {got_raised}, expected {want_shape}", hint))
            elif not isinstance(got_value, tuple) or tuple(got_value) != want_shape:
                if isinstance(got_value, (list, tuple)) and list(got_value) == list(want_shape):
                    problems.append((f"{call} returned a {type(got_value).__name__}, expected the tuple {want_shape}",
                                     "return tuple(...)"))
                else:
                    problems.append((f"{call} returned {got_value!r}, expected {want_shape}",
                                     "align the shapes on the right, pad the shorter with 1s on the left, and take"
                                     " the size that is not 1 in each position"))
        if not problems:
            return PASS
        hint = problems[0][1]
        if judging_hidden():
            raise Fail(f"broadcast_shape disagrees with torch.broadcast_shapes on some random pairs of shapes: {hint}")
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise Fail(f"{problems[0][0]}{more}: {hint}")

    return judge


def judge_pairwise_speed(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    if value(student, "skipped") is True:
        small = value(student, "small_s")
        projected = value(student, "projected_s")
        small_text = f"{small:.3f} s" if isinstance(small, float) else "too long"
        projected_text = f" (about {projected:.0f} s)" if isinstance(projected, float) else ""
        raise Fail(f"pairwise_diff took {small_text} for n = m = {SPEED_SMALL_N}, so n = m = {SPEED_N} would take"
                   f" 400 times longer{projected_text}: this looks like Python loops over elements; build the whole"
                   " matrix with one broadcast subtraction (a as a column, b as a row)")
    shape = value(student, "shape")
    if shape != (SPEED_N, SPEED_N):
        raise Fail(f"pairwise_diff on two vectors of {SPEED_N} returned shape {shape}, expected ({SPEED_N}, {SPEED_N})")
    if value(student, "slow") is not False or student.duration_s > SPEED_PROBE_LIMIT_S:
        took = student.values.get("big_s")
        timing = f"{took:.2f} s" if isinstance(took, float) else f"the whole check took {student.duration_s:.1f} s"
        raise Fail(f"pairwise_diff is too slow for n = m = {SPEED_N} ({timing}; a broadcast subtraction takes"
                   " milliseconds): avoid Python loops over elements and build the matrix with one broadcast subtraction")
    return PASS


def judge_row_normalize(square: bool) -> Judge:
    def judge(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
        want = tensor(expected, "out", "row_normalize's result")
        got = tensor(student, "out", "row_normalize's result")
        if got.shape != want.shape:
            shapes = shape_text(got.shape, want.shape)
            raise Fail(f"row_normalize's result has {shapes}: divide each row of X by that row's sum, which keeps X's shape")
        sums = got.array.astype(np.float64).sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-4):
            cols = got.array.astype(np.float64).sum(axis=0)
            if np.allclose(cols, 1.0, atol=1e-4):
                raise Fail("the columns of the result sum to 1, not the rows: sum over dim=1 (along each row)")
            shown = quote(f" (row sums {np.round(sums, 3).tolist()})")
            # Without keepdim, an (n, n) X is divided column by column by the row sums: only that
            # result earns the keepdim hint.
            no_keepdim = square and matches(got.array, SQUARE_X / SQUARE_X.sum(axis=1), want.array)
            raise Fail(f"the rows of the result do not sum to 1{shown}: "
                       + (KEEPDIM_HINT if no_keepdim else "divide each row by that row's own sum"))
        _close(got.array, want.array, want.dtype, "row_normalize's result")
        return PASS

    return judge


def judge_add_values() -> Judge:
    def judge(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
        want = tensor(expected, "out", "add_inplace's result")
        got = tensor(student, "out", "add_inplace's result")
        if got.shape != want.shape:
            shapes = shape_text(got.shape, want.shape)
            raise Fail(f"add_inplace's result has {shapes}: it should be Y itself, holding Y + X")
        _close(got.array, want.array, want.dtype, "add_inplace's result", "it should hold Y + X")
        return PASS

    return judge


def judge_add_inplace(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    if value(student, "changed") is not True:
        raise Fail("the caller's Y did not change: `Y = Y + X` computes Y + X into new memory and points the local"
                   " name Y at it, leaving the caller's tensor as it was; write into Y's own memory"
                   " (Y += X, or Y[:] = Y + X)")
    if value(student, "same_memory") is not True:
        raise Fail("Y was given new memory (its data_ptr() changed): update it in place (Y += X, or Y[:] = Y + X)"
                   " instead of replacing its storage")
    want = tensor(expected, "Y", "Y after the call")
    got = tensor(student, "Y", "Y after the call")
    r, a = tolerance(want.dtype, None, None)
    assert_close(got.array, want.array, "Y after the call", r, a, hint="Y should hold Y + X")
    if value(student, "is_Y") is not True:
        raise Fail("add_inplace updated Y but returned another object: return Y itself (the same tensor object)")
    return PASS


ASSIGNMENT = Assignment(
    name="hw1",
    title="Tensors, reshaping and broadcasting",
    graded_names=("to_matrix", "flatten_batch", "broadcast_shape", "pairwise_diff", "row_normalize", "add_inplace"),
    cell_timeout_s=30.0,  # every cell of this notebook runs in well under a second
    checks=(
        Check("to_matrix: shape and values (20 elements, 4 columns)", 2, TO_MATRIX_VALUES,
              _values("out", "to_matrix(arange(20), n_cols=4)"), error_hint=ROWS_HINT, error_hint_when=BAD_RESHAPE),
        Check("to_matrix: keeps the dtype", 1, TO_MATRIX_MEMORY, judge_to_matrix_dtype),
        Check("to_matrix: returns a view of x, not a copy", 1, TO_MATRIX_MEMORY, judge_to_matrix_view),
        Check("to_matrix: ValueError when len(x) is not a multiple of n_cols", 1, TO_MATRIX_ERROR, judge_to_matrix_error),
        Check("to_matrix: random lengths", 1, TO_MATRIX_HIDDEN, _values("out", "to_matrix's result"),
              error_hint=ROWS_HINT, error_hint_when=BAD_RESHAPE),
        Check("flatten_batch: (N, C, H, W) to (N, C*H*W)", 2, FLATTEN_PUBLIC,
              _values("out", "flatten_batch's result", _flatten_hint)),
        Check("flatten_batch: a batch of one", 1, FLATTEN_ONE, _values("out", "flatten_batch's result", _flatten_hint)),
        Check("flatten_batch: random shapes", 1, FLATTEN_HIDDEN,
              _values("out", "flatten_batch's result", _flatten_hint)),
        Check("broadcast_shape: broadcastable shapes", 2, BROADCAST_COMPATIBLE, _broadcast_judge()),
        Check("broadcast_shape: incompatible shapes raise ValueError", 1, BROADCAST_INCOMPATIBLE,
              _broadcast_judge()),
        Check("broadcast_shape: agrees with torch.broadcast_shapes on random shapes", 2, BROADCAST_HIDDEN,
              _broadcast_judge()),
        Check("pairwise_diff: values for n != m", 2, PAIRWISE_PUBLIC,
              _values("out", "pairwise_diff's result", _pairwise_hint)),
        Check("pairwise_diff: random sizes", 1, PAIRWISE_HIDDEN,
              _values("out", "pairwise_diff's result", _pairwise_hint)),
        Check(f"pairwise_diff: fast on n = m = {SPEED_N} (no Python loops)", 2, PAIRWISE_SPEED, judge_pairwise_speed),
        Check("row_normalize: a non-square matrix", 2, ROW_NORMALIZE_PUBLIC, judge_row_normalize(square=False),
              error_hint=KEEPDIM_HINT, error_hint_when=SIZE_MISMATCH),
        Check("row_normalize: a square matrix", 1, ROW_NORMALIZE_SQUARE, judge_row_normalize(square=True),
              error_hint=KEEPDIM_HINT, error_hint_when=SIZE_MISMATCH),
        Check("row_normalize: random shapes", 1, ROW_NORMALIZE_HIDDEN, judge_row_normalize(square=False),
              error_hint=KEEPDIM_HINT, error_hint_when=SIZE_MISMATCH),
        Check("add_inplace: returns Y + X", 1, ADD_INPLACE_PUBLIC, judge_add_values()),
        Check("add_inplace: updates Y in place and returns it", 2, ADD_INPLACE_PUBLIC, judge_add_inplace),
        Check("add_inplace: random shapes, broadcast X", 1, ADD_INPLACE_HIDDEN, judge_add_values()),
    ),
)
