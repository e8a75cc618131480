"""Judges that a non-answer must not satisfy.

- A non-finite value (NaN, inf) never passes a numeric check: checked for every check of the
  course whose probe has a reference outcome, by turning every number the judge reads from the
  student into NaN (or inf), and end to end through the pipeline.
- End-to-end checks decide on data the grader controls: a function that skips the work and
  writes good parameters into the training loop's tensors through stack frames earns nothing
  there, even though the parameters it writes would pass an accuracy-only judge.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import pytest

from grader.checks import judging
from grader.course import Course
from grader.probe import ProbeOutcome, TensorValue
from grader.reference import run_reference
from grader.scoring import Context, score_check
from tests.helpers import ROOT, assert_loses_exactly, by_name, grade, solution, with_cells

COURSE = Course(ROOT)


# ------------------------------------------------------------------ NaN / inf, every check

class _Recording(dict):
    """A values dict that remembers which keys a judge read."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key) -> bool:
        self.read.add(key)
        return super().__contains__(key)


def _poison(value, bad: float):
    """`value` with every float in it replaced by `bad`; (new value, whether anything changed)."""
    if isinstance(value, TensorValue) and value.array.dtype.kind == "f" and value.array.size:
        return replace(value, array=np.full_like(value.array, bad)), True
    if isinstance(value, float):
        return bad, True
    if isinstance(value, (list, tuple)):
        items = [_poison(v, bad) for v in value]
        return type(value)(v for v, _ in items), any(c for _, c in items)
    if isinstance(value, dict):
        items = {k: _poison(v, bad) for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, any(c for _, c in items.values())
    return value, False


def _reference_outcomes():
    for name in COURSE.names():
        assignment = COURSE.load(name)
        probes = [p for p in assignment.probes if p.reference]
        if not probes or not COURSE.has_solution(name):
            continue
        inputs = {p.name: p.make_inputs(5) for p in probes}
        outcomes = run_reference(COURSE.solution_path(name), probes, inputs, 5)
        for check in assignment.checks:
            if check.probe.reference:
                yield name, check, outcomes[check.probe.name]


CASES = list(_reference_outcomes())
# Checks that read tensors only for their shapes: NaN of the right shape is their pass.
SHAPE_ONLY = {"hw2: synthetic_data: X of shape (n, d), y of shape (n, 1)"}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_numbers_never_pass_a_numeric_check(bad):
    ctx = Context(cell_of={}, cells={}, reference_available=True)
    judged, passed = 0, []
    for name, check, expected in CASES:
        assert expected.status == "ok", (name, check.name)
        recording = _Recording(copy.copy(expected.values))
        with judging(check.hidden):
            assert check.decide(ProbeOutcome("ok", recording), expected).fraction == 1.0, (name, check.name)
        poisoned, changed = dict(expected.values), False
        for key in recording.read & set(expected.values):
            poisoned[key], hit = _poison(expected.values[key], bad)
            changed |= hit
        if not changed or f"{name}: {check.name}" in SHAPE_ONLY:
            continue  # this judge reads no number from the student (a bool, a type name, sizes as ints)
        judged += 1
        result = score_check(check, ProbeOutcome("ok", poisoned), expected, ctx)
        if result.score >= result.max_score:
            passed.append(f"{name}: {check.name}")
    assert judged >= 40
    assert not passed, passed


# ------------------------------------------------------------------ NaN / inf, end to end

NON_FINITE = [
    ("hw1", {"pairwise_diff": "def pairwise_diff(a, b):\n    return torch.full((len(a), len(b)), float('nan'))"},
     {"pairwise_diff: values for n != m", "pairwise_diff: random sizes"}, "NaN"),
    ("hw2", {"synthetic_data": "def synthetic_data(w, b, num_examples):\n"
                               "    X = torch.full((num_examples, len(w)), float('nan'))\n"
                               "    return X, (X @ w + b).reshape(-1, 1)"},
     {"synthetic_data: features drawn from N(0, 1)", "synthetic_data: y = Xw + b + noise of std 0.01",
      "synthetic_data: random w and b"}, "NaN"),
    ("hw3", {"accuracy": "def accuracy(y_hat, y):\n    return float('nan')"},
     {"accuracy: counts correct predictions from probabilities", "accuracy: accepts predicted labels",
      "accuracy: random batches", "evaluate_accuracy: fraction over all examples"}, "NaN"),
    ("hw5", {"conv2d_output_size": "def conv2d_output_size(n, kernel_size, stride=1, padding=0, dilation=1):\n"
                                   "    return float('inf')",
             "corr2d": "def corr2d(X, K):\n    return torch.full((X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1),"
                       " float('-inf'))"},
     {"conv2d_output_size: the worked examples", "conv2d_output_size: returns an int",
      "conv2d_output_size: agrees with nn.Conv2d (stride, padding, dilation)", "conv2d_output_size: random settings",
      "corr2d: the book's example", "corr2d: a non-square kernel on a non-square input", "corr2d: random inputs"}, "inf"),
]


@pytest.mark.parametrize("name,replace_cells,must_lose,phrase", NON_FINITE, ids=[n for n, *_ in NON_FINITE])
def test_non_finite_results_lose_exactly_their_checks(tmp_path, name, replace_cells, must_lose, phrase):
    report = grade(with_cells(solution(name), replace=replace_cells), tmp_path)
    assert_loses_exactly(report, must_lose, phrase)


# ------------------------------------------------------------------ stack-frame tampering

HW3_E2E = "end to end: trained model reaches 0.85 held-out accuracy"
HW2_E2E = "end to end: 3 epochs recover w = [2, -3.4], b = 4.2"

# cross_entropy does no cross-entropy: it finds the training loop's frame, writes a nearest-
# centroid classifier into W and b (which classifies the held-out data well), and returns a loss
# whose gradient is zero. Each variant reaches the frame another way.
HW3_FRAME = """\
import sys, inspect, gc

def _loop_frame():
    {find}

def cross_entropy(y_hat, y):
    frame = _loop_frame()
    if frame is not None:
        W, b, X, labels = frame.f_locals["W"], frame.f_locals["b"], frame.f_locals["X"], frame.f_locals["y"]
        with torch.no_grad():
            for c in range(W.shape[1]):
                centre = X[labels == c].mean(dim=0)
                W[:, c] = centre
                b[c] = -0.5 * (centre ** 2).sum()
            {rewrite}
    return (y_hat * 0).sum(dim=1)
"""
FIND = {
    "sys._getframe": """f = sys._getframe(1)
    while f is not None and "W0" not in f.f_locals:
        f = f.f_back
    return f""",
    "inspect.stack": """for info in inspect.stack():
        if "W0" in info.frame.f_locals:
            return info.frame
    return None""",
    "a traceback": """try:
        raise RuntimeError
    except RuntimeError as exc:
        f = exc.__traceback__.tb_frame
    while f is not None and "W0" not in f.f_locals:
        f = f.f_back
    return f""",
}
# The same, without frames: the loop's tensors found among all live objects.
HW3_GC = """\
import gc

def cross_entropy(y_hat, y):
    live = [o for o in gc.get_objects() if isinstance(o, torch.Tensor)]
    q = y_hat.shape[1]
    W = next(t for t in live if t.requires_grad and t.is_leaf and t.dim() == 2 and t.shape[1] == q)
    b = next(t for t in live if t.requires_grad and t.is_leaf and t.dim() == 1 and t.shape[0] == q)
    X = next(t for t in live if t.dim() == 2 and t.shape[0] > 100 and t.shape[1] == W.shape[0])
    labels = next(t for t in live if t.dim() == 1 and t.shape[0] == X.shape[0] and not t.is_floating_point())
    with torch.no_grad():
        for c in range(q):
            centre = X[labels == c].mean(dim=0)
            W[:, c] = centre
            b[c] = -0.5 * (centre ** 2).sum()
    return (y_hat * 0).sum(dim=1)
"""
REWRITE_HISTORY = """snapshots = frame.f_locals.get("Ws")
            if isinstance(snapshots, list):
                for i in range(1, len(snapshots)):
                    snapshots[i] = W.detach().clone()"""


def _centroid_accuracy() -> tuple[float, float]:
    """What the tampering's classifier scores on the held-out data: an accuracy-only judge would pass it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("hw3_checks_for_tamper_test", ROOT / "assignments" / "hw3" / "checks.py")
    checks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checks)
    X, y = checks.blobs(seed=7, n=checks.E2E["n_train"])
    centres = np.stack([X[y == c].mean(axis=0) for c in range(checks.E2E["num_classes"])])
    hx, hy = checks.blobs(seed=99, n=checks.E2E["n_heldout"])
    logits = hx @ centres.T - 0.5 * (centres ** 2).sum(axis=1)
    return float((logits.argmax(axis=1) == hy).mean()), checks.E2E_THRESHOLD


TAMPERING = {f"{find}, {what}": HW3_FRAME.format(find=code, rewrite=rewrite or "pass")
             for find, code in FIND.items() for what, rewrite in (("weights", ""), ("weights and history", REWRITE_HISTORY))}
TAMPERING["gc.get_objects, weights"] = HW3_GC


@pytest.mark.parametrize("source", TAMPERING.values(), ids=list(TAMPERING))
def test_hw3_tampering_with_the_loops_tensors_earns_no_end_to_end_points(tmp_path, source):
    accuracy, threshold = _centroid_accuracy()
    assert accuracy >= threshold  # the weights it writes are good: only verifying the run can catch it
    report = grade(with_cells(solution("hw3"), replace={"cross_entropy": source}), tmp_path)
    e2e = by_name(report)[HW3_E2E]
    assert e2e.score == 0, e2e.message
    assert "did not move the weights down the gradient" in e2e.message  # the tampering ran, and was caught
    assert by_name(report)["softmax: values on a non-square batch"].score > 0  # the honest softmax keeps its points


HW2_FRAME = """\
import sys

def sgd(params, lr, batch_size):
    # no descent: the least-squares answer, written straight into the loop's parameters
    frame = sys._getframe(1)
    features, labels = frame.f_locals["features"], frame.f_locals["labels"]
    A = torch.cat([features, torch.ones(len(features), 1)], dim=1)
    solution = torch.linalg.lstsq(A, labels).solution
    with torch.no_grad():
        params[0].copy_(solution[:-1])
        params[1].copy_(solution[-1])
        for p in params:
            p.grad = None
"""


def test_hw2_frame_tampering_earns_no_end_to_end_points(tmp_path):
    report = grade(with_cells(solution("hw2"), replace={"sgd": HW2_FRAME}), tmp_path)
    e2e = by_name(report)[HW2_E2E]
    assert e2e.score == 0, e2e.message
    assert "did not move the parameters down the gradient" in e2e.message
    assert by_name(report)["linreg: (n, d) @ (d, 1) + b"].score > 0


@pytest.mark.parametrize("fork", [True, False], ids=["forked-kernel", "exec-kernel"])
def test_frame_tampering_is_caught_in_both_kernel_kinds(tmp_path, fork):
    source = HW3_FRAME.format(find=FIND["sys._getframe"], rewrite=REWRITE_HISTORY)
    report = grade(with_cells(solution("hw3"), replace={"cross_entropy": source}), tmp_path, fork=fork)
    assert by_name(report)[HW3_E2E].score == 0
    assert "did not move the weights down the gradient" in by_name(report)[HW3_E2E].message
