"""hw7 checks: dropout from scratch (d2l 4.6). The worked example of docs/writing-an-assignment.md."""

from __future__ import annotations

import numpy as np

from grader.authoring import (
    Assignment,
    Check,
    Facts,
    Fail,
    Forbid,
    GradingContext,
    Prepared,
    Probe,
    ProbeOutcome,
    Verdict,
    assert_close,
    assert_fraction,
    assert_unbiased,
    same_tensor,
    tensor,
    value,
)

THRESHOLD = 0.85  # the solution: 0.96-0.98 over 20 seeds (`grade-author calibrate hw7 train`)
FROM_SCRATCH = (Forbid(("*dropout*", "*Dropout*"), "the exercise is to write dropout yourself, with torch.rand"),)
SCALE_HINT = "keep X / (1 - dropout) where the mask keeps an element, so each element keeps its average"


# ---------------------------------------------------------------- probes (run in the student's kernel)

def probe_dropout(ns, X, dropout, calls, **_):
    import torch

    draws = torch.stack([ns["dropout_layer"](X.clone(), dropout) for _ in range(calls)])  # a copy: see changed_X
    Y = X.clone()
    ns["dropout_layer"](Y, dropout)
    return {"draws": draws, "X": X, "p": dropout, "changed_X": not torch.equal(X, Y)}


def probe_train(ns, train_X, train_y, dropout, epochs, lr, **_):
    import torch

    X, y = train_X, train_y
    W1 = (torch.randn(X.shape[1], 32) * 0.1).requires_grad_()
    W2 = (torch.randn(32, 2) * 0.1).requires_grad_()
    for _ in range(epochs):
        H = ns["dropout_layer"](torch.relu(X @ W1), dropout)
        loss = torch.nn.functional.cross_entropy(H @ W2, y)
        loss.backward()
        with torch.no_grad():
            for W in (W1, W2):
                W -= lr * W.grad
                W.grad.zero_()
    return {"W1": W1.detach(), "W2": W2.detach()}


def dropout_inputs(p: float, shape: tuple[int, ...] = (30, 40), calls: int = 25):
    return lambda rng: {"X": rng.normal(size=shape).astype(np.float32), "dropout": p, "calls": calls}


def hidden_inputs(rng: np.random.Generator) -> dict:
    shape = tuple(int(n) for n in rng.integers(4, 30, size=3))
    return dropout_inputs(float(rng.uniform(0.2, 0.8)), shape, calls=10)(rng)


def problem(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    X = np.random.default_rng(seed).normal(size=(n, 10)).astype(np.float32)
    return X, (X[:, :2].sum(axis=1) > 0).astype(np.int64)


def prepare(ctx: GradingContext) -> Prepared:
    """Training data goes to the kernel; the held-out split stays in the grader (facts)."""
    X, y = problem(ctx.seed, 400)
    return Prepared(inputs={"train_X": X, "train_y": y}, facts={"heldout": problem(ctx.seed + 1, 2000)})


KEEP_ALL = Probe("keep_all", probe_dropout, ("dropout_layer",), dropout_inputs(0.0, calls=2))
DROP_ALL = Probe("drop_all", probe_dropout, ("dropout_layer",), dropout_inputs(1.0, calls=2))
HALF = Probe("drop_30", probe_dropout, ("dropout_layer",), dropout_inputs(0.3))
HIDDEN = Probe("drop_hidden", probe_dropout, ("dropout_layer",), hidden_inputs, hidden=True)
TRAIN = Probe("train", probe_train, ("dropout_layer",), lambda rng: {"dropout": 0.3, "epochs": 60, "lr": 0.5},
              reference=False, timeout_s=30)


# ---------------------------------------------------------------- judges (run in the grader)

def judge_rate(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict | None:
    X, p = tensor(expected, "X", "X").array, value(expected, "p")  # from the reference: trusted
    draws = tensor(student, "draws", "dropout_layer's result").array
    if draws.shape[1:] != X.shape:
        raise Fail("dropout_layer should return a tensor shaped like X")
    assert_fraction(int((draws == 0).sum()), draws.size, p, "the share of dropped elements",
                    hint="drop each element with probability dropout: keep it where torch.rand(X.shape) > dropout")
    return None


def judge_scaled(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict | None:
    X, p = tensor(expected, "X", "X").array, value(expected, "p")
    draws = tensor(student, "draws", "dropout_layer's result").array
    want = np.where(draws != 0, X / (1 - p), 0)  # what each draw should be, given which elements it dropped
    assert_close(draws, want, "dropout_layer's result", 1e-5, 1e-6, SCALE_HINT)
    return None


def judge_new_mask(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict | None:
    draws = tensor(student, "draws", "dropout_layer's result").array
    if all(np.array_equal(draws[0] == 0, d == 0) for d in draws[1:]):
        raise Fail("every call dropped the same elements: draw a new mask with torch.rand on each call")
    assert_unbiased(draws, tensor(expected, "X", "X").array, "dropout_layer's result",
                    "each call must drop its own random set of elements")
    return None


def judge_keeps_X(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict | None:
    if value(student, "changed_X"):
        raise Fail("dropout_layer changed X itself: build a new tensor (mask * X / (1 - dropout)), not X *= ...")
    return None


def judge_training(student: ProbeOutcome, facts: Facts) -> Verdict:
    X, y = facts["heldout"]
    W1, W2 = tensor(student, "W1", "the trained weights").array, tensor(student, "W2", "the trained weights").array
    accuracy = float(((np.maximum(X @ W1, 0) @ W2).argmax(axis=1) == y).mean())
    if not accuracy >= THRESHOLD:  # `not >=`: NaN fails too
        raise Fail(f"a network trained with your dropout_layer reaches {accuracy:.2f} held-out accuracy, below {THRESHOLD}")
    return Verdict(1.0, f"held-out accuracy {accuracy:.2f}")


ASSIGNMENT = Assignment(
    name="hw7",
    title="Dropout from scratch",
    graded_names=("dropout_layer",),
    prepare=prepare,
    checks=(
        Check("dropout 0 keeps X as it is", 1, KEEP_ALL, same_tensor("draws", "dropout_layer(X, 0)")),
        Check("dropout 1 drops everything (no NaN)", 1, DROP_ALL, same_tensor(
            "draws", "dropout_layer(X, 1)", nonfinite_hint="1 / (1 - 1) divides by zero: return torch.zeros_like(X)")),
        Check("drops a share p of the elements", 2, HALF, judge_rate, forbid=FROM_SCRATCH),
        Check("scales the kept elements by 1/(1-p)", 2, HALF, judge_scaled, forbid=FROM_SCRATCH),
        Check("a new mask on every call", 1, HALF, judge_new_mask),
        Check("leaves X unchanged", 1, HALF, judge_keeps_X),
        Check("random shapes and rates: share dropped", 1, HIDDEN, judge_rate, forbid=FROM_SCRATCH),
        Check("random shapes and rates: scaling", 1, HIDDEN, judge_scaled, forbid=FROM_SCRATCH),
        Check(f"trains a network to {THRESHOLD} held-out accuracy", 2, TRAIN, facts_judge=judge_training,
              error_hint="changing a tensor in place (H *= ..., H[mask] = 0) breaks backward(): return a new tensor",
              error_hint_when="inplace operation"),
    ),
)
