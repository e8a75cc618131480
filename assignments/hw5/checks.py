"""hw5 checks: convolutions (d2l 6.2-6.5).

Probes (`probe_*`) run inside the student's kernel: they call the student's function with
keyword arguments and, next to it, PyTorch's own layer on the same input; judges (`judge_*`) run
in the grader and decide points. See grader/checks.py.

The truth every judge compares with is PyTorch's answer as computed by the *reference* run of
the probe (in the grader's own process for hidden checks, at build time for public ones), so
the reference formulas are themselves held to nn.Conv2d / F.conv2d / nn.MaxPool2d /
nn.AvgPool2d. Whatever the student's kernel says about torch is ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from grader.authoring import (
    PASS,
    Assignment,
    Check,
    Fail,
    Forbid,
    Judge,
    Probe,
    ProbeOutcome,
    TensorValue,
    Verdict,
    as_number,
    assert_close,
    describe,
    judging_hidden,
    quote,
    shape_text,
    tensor,
    tolerance,
    value,
)

# The worked examples of docs/assignments.md, most with the defaults left out.
CONV_TABLE = [
    {"n": 32, "kernel_size": 5, "padding": 2},
    {"n": 32, "kernel_size": 3},
    {"n": 28, "kernel_size": 5, "padding": 2},
    {"n": 14, "kernel_size": 5},
    {"n": 8, "kernel_size": 3, "padding": 1, "stride": 2},
]
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")

# The point of hw5 is writing the sliding window yourself; the stub says so. Library layers are
# fine elsewhere in the notebook (to check an answer), not inside the graded functions.
SLIDING_WINDOW = Forbid(
    names=("conv*d", "Conv*d", "LazyConv*d", "conv_transpose*d", "ConvTranspose*d", "*pool*d*", "*Pool*d",
           "unfold", "Unfold", "fold", "Fold", "as_strided", "correlate*", "convolve*", "sliding_window_view"),
    methods=("unfold", "as_strided"),
    modules=("torch", "scipy", "numpy"),
    reason="this exercise is about writing the sliding window yourself, with loops over the output"
           " positions; PyTorch's (or SciPy's) convolution, pooling and unfold functions do that work for you."
           " Use them in another cell to check your answer",
)
# Errors that confirm an error hint's diagnosis (Check.error_hint_when).
NOT_SQUARE_ERROR = r"must match the size of tensor"  # a (kh, kh) window against a (kh, kw) kernel
INT_WINDOW_ERROR = r"cannot unpack non-iterable int|'int' object is not (subscriptable|iterable)"
PAIR_WINDOW_ERROR = r"tuple|sequence"
FORMULA = Forbid(
    names=("conv*d", "Conv*d", "LazyConv*d"),
    reason="work the size out with the formula (integer arithmetic on n, kernel_size, stride, padding and"
           " dilation) instead of running a convolution layer; nn.Conv2d is for checking your answer in another cell",
)


# ---------------------------------------------------------------- the formula and its usual mistakes

def conv_size(n: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    return (n + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def conv_mistakes(case: dict[str, int]) -> list[tuple[float, str]]:
    """What the usual wrong formulas give for `case`, each with the advice that fixes it."""
    n, k = case["n"], case["kernel_size"]
    s, p, d = case.get("stride", 1), case.get("padding", 0), case.get("dilation", 1)
    return [
        ((n + 2 * p - d * (k - 1) - 1) / s + 1,
         "true division / gives a float and keeps the fraction; round down with // (floor division)"),
        (conv_size(n, k, s, p, 1),
         "dilation is ignored: a kernel of size k with dilation d spans d * (k - 1) + 1 positions"),
        (conv_size(n, k, s, 0, d) if p == 0 else (n + p - d * (k - 1) - 1) // s + 1,
         "padding counted once: padding is added on each side, as in nn.Conv2d, so the input grows by"
         " 2 * padding (the book's formula uses the total padding of both sides)"),
    ]


# ---------------------------------------------------------------- inputs (grader side)

def _ints(rng: np.random.Generator, **ranges: tuple[int, int]) -> dict[str, int]:
    return {name: int(rng.integers(low, high + 1)) for name, (low, high) in ranges.items()}


def conv_case(rng: np.random.Generator, wanted: Callable[[dict[str, int]], bool] = lambda c: True) -> dict[str, int]:
    while True:
        case = _ints(rng, n=(1, 64), kernel_size=(1, 7), stride=(1, 4), padding=(0, 3), dilation=(1, 3))
        if case["n"] + 2 * case["padding"] >= case["dilation"] * (case["kernel_size"] - 1) + 1 and wanted(case):
            return case


def _differs(i: int) -> Callable[[dict[str, int]], bool]:
    """A case where the i-th usual mistake gives a wrong answer."""
    return lambda case: conv_mistakes(case)[i][0] != conv_size(**case)


def conv_cases(rng: np.random.Generator, count: int) -> dict:
    # Every usual mistake shows on at least one case, whatever the seed; the rest are anything.
    forced = [conv_case(rng, _differs(i)) for i in range(len(conv_mistakes(CONV_TABLE[0])))]
    return {"cases": forced + [conv_case(rng) for _ in range(count - len(forced))]}


def normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(size=shape).astype(np.float32)


def corr2d_hidden_inputs(rng: np.random.Generator) -> dict:
    while True:
        dims = _ints(rng, h=(3, 9), w=(3, 9), kh=(1, 4), kw=(1, 4))
        if dims["h"] != dims["w"] and dims["kh"] != dims["kw"] and dims["kh"] <= dims["h"] and dims["kw"] <= dims["w"]:
            return {"X": normal(rng, dims["h"], dims["w"]), "K": normal(rng, dims["kh"], dims["kw"])}


def pool_hidden_inputs(rng: np.random.Generator) -> dict:
    """One input, an int window and a (h, w) window, both modes; partial windows at the edges for both."""
    def leaves_partial(h: int, w: int, ph: int, pw: int) -> bool:
        return ph <= h and pw <= w and (h % ph or w % pw) != 0

    while True:
        d = _ints(rng, h=(5, 13), w=(5, 13), p=(2, 4), ph=(1, 4), pw=(1, 4))
        if d["ph"] != d["pw"] and leaves_partial(d["h"], d["w"], d["p"], d["p"]) \
                and leaves_partial(d["h"], d["w"], d["ph"], d["pw"]):
            break
    calls = [{"pool_size": size, "mode": mode} for size in (d["p"], [d["ph"], d["pw"]]) for mode in ("max", "avg")]
    return {"X": normal(rng, d["h"], d["w"]), "calls": calls}


# ---------------------------------------------------------------- probes (student's kernel)

def probe_conv_size(ns, cases):
    import torch

    got, truth = [], []
    for case in cases:
        got.append(ns["conv2d_output_size"](**case))
        conv = torch.nn.Conv2d(1, 1, kernel_size=case["kernel_size"], stride=case.get("stride", 1),
                               padding=case.get("padding", 0), dilation=case.get("dilation", 1), bias=False)
        with torch.no_grad():
            truth.append(int(conv(torch.zeros(1, 1, case["n"], case["n"])).shape[-1]))
    return {"cases": cases, "got": got, "torch": truth}


def probe_corr2d(ns, X, K):
    import torch

    out = ns["corr2d"](X=X.clone(), K=K.clone())
    truth = torch.nn.functional.conv2d(X.double()[None, None], K.double()[None, None])[0, 0]
    return {"out": out, "torch": truth, "X": X, "K": K}


def probe_pool(ns, X, calls):
    import torch

    outs, truth = [], []
    for call in calls:
        size = tuple(call["pool_size"]) if isinstance(call["pool_size"], list) else call["pool_size"]
        kwargs = {"X": X.clone(), "pool_size": size}
        if "mode" in call:
            kwargs["mode"] = call["mode"]
        outs.append(ns["pool2d"](**kwargs))
        layer = torch.nn.AvgPool2d(size) if call.get("mode") == "avg" else torch.nn.MaxPool2d(size)
        truth.append(layer(X[None, None])[0, 0])
    return {"outs": outs, "torch": truth, "calls": calls, "X": X}


CONV_TABLE_PROBE = Probe("conv_size_table", probe_conv_size, ("conv2d_output_size",), lambda rng: {"cases": CONV_TABLE})
CONV_PUBLIC = Probe("conv_size_torch", probe_conv_size, ("conv2d_output_size",), lambda rng: conv_cases(rng, 12))
CONV_HIDDEN = Probe("conv_size_hidden", probe_conv_size, ("conv2d_output_size",), lambda rng: conv_cases(rng, 8),
                    hidden=True)
CORR_BOOK = Probe(
    "corr2d_book", probe_corr2d, ("corr2d",),
    # float32, as the stub's own example (torch.arange(9.0)): the inputs are what the stub promises
    lambda rng: {"X": np.arange(9, dtype=np.float32).reshape(3, 3), "K": np.array([[0, 1], [2, 3]], dtype=np.float32)},
)
CORR_RECT = Probe("corr2d_rect", probe_corr2d, ("corr2d",), lambda rng: {"X": normal(rng, 6, 8), "K": normal(rng, 2, 3)})
CORR_HIDDEN = Probe("corr2d_hidden", probe_corr2d, ("corr2d",), corr2d_hidden_inputs, hidden=True)


def _pool_probe(name: str, shape: tuple[int, int], call: dict[str, Any]) -> Probe:
    return Probe(name, probe_pool, ("pool2d",), lambda rng: {"X": normal(rng, *shape), "calls": [call]})


POOL_MAX = _pool_probe("pool_max_int", (4, 6), {"pool_size": 2})  # mode left to its default
POOL_TUPLE = _pool_probe("pool_max_tuple", (6, 8), {"pool_size": [3, 2], "mode": "max"})
POOL_AVG = _pool_probe("pool_avg", (6, 4), {"pool_size": 2, "mode": "avg"})
POOL_PARTIAL = _pool_probe("pool_partial", (5, 7), {"pool_size": 2, "mode": "max"})
POOL_HIDDEN = Probe("pool_hidden", probe_pool, ("pool2d",), pool_hidden_inputs, hidden=True)


# ---------------------------------------------------------------- judges (grader)

def _call(case: dict[str, Any]) -> str:
    return "conv2d_output_size(" + ", ".join(f"{k}={v}" for k, v in case.items()) + ")"


OFF_BY_ONE = "off by one: a kernel spanning m positions fits in n - m + 1 places (the + 1 counts the first)"


def _diagnose(wrong: list[tuple[dict[str, Any], float, int]]) -> str:
    """The advice whose mistake explains every wrong answer; failing that, the first wrong one."""
    def explanations(case: dict[str, Any], number: float, right: int) -> list[str]:
        found = [advice for value, advice in conv_mistakes(case) if abs(value - number) < 1e-9]
        return found + ([OFF_BY_ONE] if abs(number - right) == 1 else [])

    per_case = [explanations(*item) for item in wrong]
    everywhere = [advice for advice in per_case[0] if all(advice in found for found in per_case)]
    return (everywhere or per_case[0] or [""])[0]


def judge_conv_sizes() -> Judge:
    def judge(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
        cases, truth = value(expected, "cases"), value(expected, "torch")
        got = value(student, "got")
        if not isinstance(got, list) or len(got) != len(truth):
            raise Fail("conv2d_output_size's results could not be read (internal check error)")
        numbers = [as_number(answer) for answer in got]
        wrong = [i for i, (number, right) in enumerate(zip(numbers, truth)) if number != right]
        if not wrong:
            return PASS
        i = wrong[0]
        if numbers[i] is None or not math.isfinite(numbers[i]):
            raise Fail(f"{quote(_call(cases[i]), 'on a hidden setting, conv2d_output_size')} returned {describe(got[i])};"
                       f" expected {quote(f'the int {truth[i]}', 'an int')}, as nn.Conv2d gives")
        hint = _diagnose([(cases[j], numbers[j], truth[j]) for j in wrong
                          if numbers[j] is not None and math.isfinite(numbers[j])])
        if judging_hidden():
            raise Fail("on a hidden setting conv2d_output_size disagrees with nn.Conv2d" + (f": {hint}" if hint else ""))
        raise Fail(f"{_call(cases[i])} returned {numbers[i]:g}, but nn.Conv2d gives {truth[i]}" + (f": {hint}" if hint else ""))

    return judge


def judge_conv_int(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    for case, answer in zip(value(expected, "cases"), value(student, "got")):
        if type(answer) is not int:
            advice = ("use // (floor division): / returns a float even when it divides evenly"
                      if isinstance(answer, float) else "return a Python int (int(...) of a tensor or number)")
            raise Fail(f"{_call(case)} returned {describe(answer)}, not an int: {advice}")
    return PASS


def _np_corr2d(X: np.ndarray, K: np.ndarray) -> np.ndarray:
    kh, kw = K.shape
    out = np.zeros((X.shape[0] - kh + 1, X.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (X[i:i + kh, j:j + kw] * K).sum()
    return out


def judge_corr2d() -> Judge:
    def judge(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
        want = tensor(expected, "torch", "F.conv2d's result")
        got = tensor(student, "out", "corr2d's result")
        X = tensor(expected, "X", "X").array.astype(np.float64)
        K = tensor(expected, "K", "K").array.astype(np.float64)
        what = quote(f"corr2d of a {X.shape} X with a {K.shape} kernel", "corr2d's result")
        if got.shape != want.shape:
            shapes = shape_text(got.shape, want.shape)
            raise Fail(f"{what} has {shapes}: (h - kh + 1, w - kw + 1), with kh, kw = K.shape (the kernel need"
                       " not be square)")
        if got.dtype not in FLOAT_DTYPES:
            raise Fail(f"{what} has dtype {got.dtype}; return a float tensor (torch.zeros makes float32)")
        flipped = _np_corr2d(X, K[::-1, ::-1])
        if K.size > 1 and not np.allclose(flipped, want.array) and np.allclose(got.array, flipped, rtol=1e-4, atol=1e-4):
            raise Fail(f"{what} equals the cross-correlation with the kernel flipped, which is a true"
                       " convolution; nn.Conv2d (and corr2d) do not flip the kernel")
        assert_close(got.array, want.array, what, *tolerance("float32", None, None),
                     "element [i, j] is the sum of K times the window X[i:i + kh, j:j + kw]")
        return PASS

    return judge


def _np_pool(X: np.ndarray, ph: int, pw: int, mode: str) -> np.ndarray:
    h, w = X.shape[0] // ph, X.shape[1] // pw
    blocks = X[:h * ph, :w * pw].reshape(h, ph, w, pw)
    return blocks.max(axis=(1, 3)) if mode == "max" else blocks.mean(axis=(1, 3))


def judge_pool() -> Judge:
    def judge(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
        calls, truth = value(expected, "calls"), value(expected, "torch")
        outs = value(student, "outs")
        X = tensor(expected, "X", "X").array.astype(np.float64)
        h, w = X.shape
        for call, got, want in zip(calls, outs, truth):
            size = call["pool_size"]
            ph, pw = (size, size) if isinstance(size, int) else size
            mode = call.get("mode", "max")
            shown = repr(tuple(size)) if isinstance(size, list) else str(size)
            mode_arg = f", mode={mode!r}" if "mode" in call else ""
            what = quote(f"pool2d(X of shape {(h, w)}, pool_size={shown}{mode_arg})",
                         f"pool2d (pool_size {'an int' if isinstance(size, int) else 'a pair'}, mode={mode!r})")
            if not isinstance(got, TensorValue):
                raise Fail(f"{what} returned {describe(got)}, expected a tensor")
            if got.shape != want.shape:
                if got.shape == (h - ph + 1, w - pw + 1):
                    hint = ("the window moved one position at a time (stride 1, as in the book); here the stride"
                            " equals the window size, as in nn.MaxPool2d's default, so windows do not overlap")
                elif got.shape == (-(-h // ph), -(-w // pw)):
                    hint = ("the partial windows at the bottom/right edges were kept; nn.MaxPool2d drops them:"
                            " the output has h // ph rows and w // pw columns")
                else:
                    hint = "the output has h // ph rows and w // pw columns (stride = window size)"
                shapes = shape_text(got.shape, want.shape)
                raise Fail(f"{what} has {shapes}: {hint}")
            other = "max" if mode == "avg" else "avg"
            if np.allclose(got.array, _np_pool(X, ph, pw, other), rtol=1e-4, atol=1e-5) \
                    and not np.allclose(want.array, _np_pool(X, ph, pw, other), rtol=1e-4, atol=1e-5):
                raise Fail(f"{what} computed {other} pooling: respect mode ('max' takes each window's maximum,"
                           " 'avg' its mean)")
            assert_close(got.array, want.array, what, *tolerance("float32", None, None),
                         f"each output is the {'maximum' if mode == 'max' else 'mean'} of one window")
        return PASS

    return judge


ASSIGNMENT = Assignment(
    name="hw5",
    title="Convolutions",
    graded_names=("conv2d_output_size", "corr2d", "pool2d"),
    checks=(
        Check("conv2d_output_size: the worked examples", 2, CONV_TABLE_PROBE, judge_conv_sizes(), forbid=(FORMULA,)),
        Check("conv2d_output_size: returns an int", 1, CONV_TABLE_PROBE, judge_conv_int, forbid=(FORMULA,)),
        Check("conv2d_output_size: agrees with nn.Conv2d (stride, padding, dilation)", 2, CONV_PUBLIC,
              judge_conv_sizes(), forbid=(FORMULA,)),
        Check("conv2d_output_size: random settings", 1, CONV_HIDDEN, judge_conv_sizes(), forbid=(FORMULA,)),
        Check("corr2d: the book's example", 1, CORR_BOOK, judge_corr2d(), forbid=(SLIDING_WINDOW,)),
        Check("corr2d: a non-square kernel on a non-square input", 2, CORR_RECT, judge_corr2d(),
              error_hint="take kh, kw = K.shape and windows X[i:i + kh, j:j + kw]; the kernel need not be square",
              error_hint_when=NOT_SQUARE_ERROR, forbid=(SLIDING_WINDOW,)),
        Check("corr2d: random inputs", 1, CORR_HIDDEN, judge_corr2d(),
              error_hint="the kernel need not be square", error_hint_when=NOT_SQUARE_ERROR, forbid=(SLIDING_WINDOW,)),
        Check("pool2d: max pooling with an int window", 2, POOL_MAX, judge_pool(),
              error_hint="pool_size may be an int: a square window", error_hint_when=INT_WINDOW_ERROR,
              forbid=(SLIDING_WINDOW,)),
        Check("pool2d: an (h, w) window", 1, POOL_TUPLE, judge_pool(),
              error_hint="pool_size may be a pair (ph, pw)", error_hint_when=PAIR_WINDOW_ERROR,
              forbid=(SLIDING_WINDOW,)),
        Check("pool2d: average pooling", 2, POOL_AVG, judge_pool(), forbid=(SLIDING_WINDOW,)),
        Check("pool2d: partial windows are dropped", 1, POOL_PARTIAL, judge_pool(), forbid=(SLIDING_WINDOW,)),
        Check("pool2d: random inputs, both modes", 1, POOL_HIDDEN, judge_pool(), forbid=(SLIDING_WINDOW,)),
    ),
)
