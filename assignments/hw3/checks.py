"""hw3 checks: softmax regression from scratch (d2l 3.6).

Probes (`probe_*`) run inside the student's kernel and only call the student's functions and
return data; judges (`judge_*`) run in the grader and decide points. See grader/checks.py.

End-to-end calibration (`python scripts/calibrate_hw3.py`): the reference reaches 0.934
held-out accuracy with the training set-up below; the threshold leaves room for run-to-run
noise and for correct solutions written differently.
"""

from __future__ import annotations

import numpy as np

from grader.checks import PASS, Assignment, Check, Fail, Judge, Probe, Verdict
from grader.judge import assert_close, describe, number, same_tensor, tensor, tolerance, value
from grader.probe import ProbeOutcome

E2E_THRESHOLD = 0.85
E2E = dict(num_classes=4, num_inputs=8, n_train=512, n_heldout=2000, lr=0.1, epochs=10, batch_size=32)
KEEPDIM_HINT = (
    "dividing an (n, q) tensor by its (n,) row sums only broadcasts when n == q;"
    " use X_exp.sum(dim=1, keepdim=True)"
)


# ---------------------------------------------------------------- inputs (grader side)

def scores(rng: np.random.Generator, n: int, q: int, scale: float = 1.0) -> np.ndarray:
    return (rng.normal(size=(n, q)) * scale).astype(np.float32)


def probabilities(rng: np.random.Generator, n: int, q: int) -> np.ndarray:
    logits = rng.normal(size=(n, q))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return p.astype(np.float32)


def blobs(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The end-to-end classification problem: 4 Gaussian classes in 8-D, fixed centres."""
    centres = np.random.default_rng(1234).normal(0, 1.5, size=(E2E["num_classes"], E2E["num_inputs"]))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, E2E["num_classes"], size=n)
    features = centres[labels] + rng.normal(size=(n, E2E["num_inputs"]))
    return features.astype(np.float32), labels.astype(np.int64)


# ---------------------------------------------------------------- probes (student's kernel)

def probe_softmax(ns, X):
    out = ns["softmax"](X=X)
    return {"out": out}


def probe_cross_entropy(ns, y_hat, y):
    return {"out": ns["cross_entropy"](y_hat=y_hat, y=y)}


def probe_accuracy(ns, y_hat, y):
    return {"count": ns["accuracy"](y_hat=y_hat, y=y)}


def probe_evaluate(ns, X, y, weight, batch_size):
    import torch

    class RecordingLinear(torch.nn.Module):
        """A fixed linear model that remembers whether it was in training mode when called."""

        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
            with torch.no_grad():
                self.linear.weight.copy_(weight)
            self.modes = []

        def forward(self, inputs):
            self.modes.append(self.training)
            return self.linear(inputs)

    def batches():
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=batch_size)

    net = RecordingLinear()
    net.train()
    result = ns["evaluate_accuracy"](net=net, data_iter=batches())
    plain = ns["evaluate_accuracy"](net=lambda inputs: inputs @ weight.T, data_iter=batches())
    with torch.no_grad():
        per_batch = [float((net.linear(xb).argmax(dim=1) == yb).float().mean()) for xb, yb in batches()]
    return {"module": result, "function": plain, "modes": net.modes, "per_batch": per_batch}


def probe_train(ns, X, y, num_classes, lr, epochs, batch_size):
    import torch

    softmax, cross_entropy = ns["softmax"], ns["cross_entropy"]
    W = torch.normal(0, 0.01, size=(X.shape[1], num_classes), requires_grad=True)
    b = torch.zeros(num_classes, requires_grad=True)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(y))
        total = 0.0
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            loss = cross_entropy(y_hat=softmax(X=X[idx] @ W + b), y=y[idx])
            loss.sum().backward()
            with torch.no_grad():
                for param in (W, b):
                    param -= lr * param.grad / len(idx)
                    param.grad.zero_()
            total += float(loss.detach().sum())
        losses.append(total / len(y))
    return {"W": W.detach(), "b": b.detach(), "losses": losses}


SOFTMAX_PUBLIC = Probe("softmax_public", probe_softmax, ("softmax",), lambda rng: {"X": scores(rng, 4, 7)})
SOFTMAX_STABLE = Probe(
    "softmax_stable", probe_softmax, ("softmax",),
    lambda rng: {"X": np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 999.0]], dtype=np.float32)},
)
SOFTMAX_HIDDEN = Probe(
    "softmax_hidden", probe_softmax, ("softmax",),
    lambda rng: {"X": scores(rng, int(rng.integers(5, 40)), int(rng.integers(2, 12)), scale=float(rng.uniform(1, 5)))},
    hidden=True,
)
CE_PUBLIC = Probe(
    "cross_entropy_public", probe_cross_entropy, ("cross_entropy",),
    lambda rng: {"y_hat": np.array([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]], dtype=np.float32), "y": np.array([0, 2])},
)
CE_HIDDEN = Probe(
    "cross_entropy_hidden", probe_cross_entropy, ("cross_entropy",),
    lambda rng: {"y_hat": probabilities(rng, 9, 5), "y": rng.integers(0, 5, size=9)},
    hidden=True,
)


def _accuracy_inputs(rng: np.random.Generator, n: int = 10, q: int = 4) -> dict:
    y_hat = probabilities(rng, n, q)
    y = rng.integers(0, q, size=n)
    y[: n // 2] = y_hat[: n // 2].argmax(axis=1)  # at least half right, so a count and a fraction differ
    return {"y_hat": y_hat, "y": y}


def _label_inputs(rng: np.random.Generator) -> dict:
    inputs = _accuracy_inputs(rng)
    return {"y_hat": inputs["y_hat"].argmax(axis=1), "y": inputs["y"]}


ACCURACY_PUBLIC = Probe("accuracy_public", probe_accuracy, ("accuracy",), _accuracy_inputs)
ACCURACY_LABELS = Probe("accuracy_labels", probe_accuracy, ("accuracy",), _label_inputs)
ACCURACY_HIDDEN = Probe(
    "accuracy_hidden", probe_accuracy, ("accuracy",),
    lambda rng: _accuracy_inputs(rng, int(rng.integers(6, 50)), int(rng.integers(2, 10))), hidden=True,
)


def _evaluate_inputs(rng: np.random.Generator) -> dict:
    X = rng.normal(size=(23, 5)).astype(np.float32)
    weight = rng.normal(size=(3, 5)).astype(np.float32)
    y = (X @ weight.T).argmax(axis=1)
    y[[20, 21]] = (y[[20, 21]] + 1) % 3  # errors only in the short last batch: averaging per batch is visibly off
    y[[0, 11]] = (y[[0, 11]] + 1) % 3
    return {"X": X, "y": y.astype(np.int64), "weight": weight, "batch_size": 10}


EVALUATE_PUBLIC = Probe("evaluate_public", probe_evaluate, ("evaluate_accuracy",), _evaluate_inputs)


def _train_inputs(rng: np.random.Generator) -> dict:
    X, y = blobs(seed=7, n=E2E["n_train"])
    keys = ("num_classes", "lr", "epochs", "batch_size")
    return {"X": X, "y": y, **{k: E2E[k] for k in keys}}


TRAIN_E2E = Probe("train_e2e", probe_train, ("softmax", "cross_entropy"), _train_inputs, timeout_s=60)


# ---------------------------------------------------------------- judges (grader)

def judge_rows_sum_to_one(student: ProbeOutcome, expected: ProbeOutcome | None) -> Verdict:
    out = tensor(student, "out", "softmax's result")
    if out.array.ndim != 2:
        raise Fail(f"softmax should return a 2-D tensor like its input, got shape {out.shape}")
    sums = out.array.astype(np.float64).sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-5):
        raise Fail(f"rows do not sum to 1 (row sums {np.round(sums, 4).tolist()}): normalise each row by its own sum ({KEEPDIM_HINT})")
    if (out.array < 0).any():
        raise Fail("softmax returned negative probabilities")
    return PASS


def judge_cross_entropy(student: ProbeOutcome, expected: ProbeOutcome | None) -> Verdict:
    assert expected is not None
    want = tensor(expected, "out", "cross_entropy's result")
    got = tensor(student, "out", "cross_entropy's result")
    n = want.shape[0]
    if got.shape == (n, n):
        raise Fail(f"cross_entropy returned shape {got.shape}, expected ({n},): y_hat[:, y] picks whole columns;"
                   " pick one entry per row with y_hat[range(len(y_hat)), y]")
    if got.shape in ((), (1,)):
        raise Fail(f"cross_entropy returned a single number, expected one loss per example (shape ({n},)):"
                   " do not take the mean or sum")
    r, a = tolerance(want.dtype, None, None)
    assert_close(got.array, want.array, "cross_entropy's result", max(r, 1e-5), a)
    return PASS


def _judge_accuracy(what: str) -> Judge:
    key = "count"

    def judge(student: ProbeOutcome, expected: ProbeOutcome | None) -> Verdict:
        assert expected is not None
        want = number(expected, key, "accuracy")
        got = number(student, key, f"accuracy({what})")
        if abs(got - want) > 1e-6:
            if 0 < got < 1 <= want:
                raise Fail(f"accuracy({what}) returned {got:.4g}, expected {want:g}: return the number of correct"
                           " predictions, not the fraction (evaluate_accuracy divides by the total)")
            hint = " (take y_hat.argmax(dim=1) when y_hat holds probabilities)" if what == "probabilities" else ""
            raise Fail(f"accuracy({what}) returned {got:.4g}, expected {want:g} correct predictions{hint}")
        raw = value(student, key)
        if not isinstance(raw, float):
            raise Fail(f"accuracy({what}) returned the right count as {describe(raw)}; return a Python float: float(...)", 0.5)
        return PASS

    return judge


def judge_evaluate_fraction(student: ProbeOutcome, expected: ProbeOutcome | None) -> Verdict:
    assert expected is not None
    want = number(expected, "module", "evaluate_accuracy")
    per_batch = value(expected, "per_batch")
    for key, how in (("module", "an nn.Module"), ("function", "a plain function")):
        got = number(student, key, f"evaluate_accuracy with {how}")
        if abs(got - want) > 1e-6:
            if per_batch and abs(got - float(np.mean(per_batch))) < 1e-6:
                raise Fail(f"evaluate_accuracy returned {got:.4f}, the mean of per-batch accuracies; the last batch"
                           f" is smaller, so the right answer is {want:.4f}: add up correct predictions and"
                           " examples over all batches, then divide")
            raise Fail(f"evaluate_accuracy with {how} returned {got:.4f}, expected {want:.4f}")
    return PASS


def judge_eval_mode(student: ProbeOutcome, expected: ProbeOutcome | None) -> Verdict:
    modes = value(student, "modes")
    if not isinstance(modes, list) or not modes:
        raise Fail("evaluate_accuracy never called the network")
    if any(modes):
        raise Fail("the network was still in training mode during evaluation: call net.eval() when net is an nn.Module")
    return PASS


def judge_training(student: ProbeOutcome, expected: ProbeOutcome | None) -> Verdict:
    W = tensor(student, "W", "the trained weights")
    b = tensor(student, "b", "the trained bias")
    losses = value(student, "losses")
    X, y = blobs(seed=99, n=E2E["n_heldout"])  # held out: never sent to the student's kernel
    logits = X.astype(np.float64) @ W.array.astype(np.float64) + b.array.astype(np.float64)
    if not np.isfinite(logits).all():
        raise Fail(f"training with your softmax and cross_entropy produced NaN/inf weights (losses per epoch: {_fmt(losses)})")
    acc = float((logits.argmax(axis=1) == y).mean())
    if acc < E2E_THRESHOLD:
        raise Fail(f"softmax regression trained with your functions reaches {acc:.3f} held-out accuracy,"
                   f" below {E2E_THRESHOLD} (losses per epoch: {_fmt(losses)})")
    return Verdict(1.0, f"held-out accuracy {acc:.3f}")


def _fmt(losses: object) -> str:
    if isinstance(losses, list):
        return ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in losses[:10])
    return str(losses)


ASSIGNMENT = Assignment(
    name="hw3",
    title="Softmax regression from scratch",
    graded_names=("softmax", "cross_entropy", "accuracy", "evaluate_accuracy"),
    checks=(
        Check("softmax: values on a non-square batch", 2, SOFTMAX_PUBLIC,
              same_tensor("out", "softmax's result", hint=KEEPDIM_HINT), error_hint=KEEPDIM_HINT),
        Check("softmax: rows sum to 1", 1, SOFTMAX_PUBLIC, judge_rows_sum_to_one, error_hint=KEEPDIM_HINT),
        Check("softmax: numerically stable for large scores", 2, SOFTMAX_STABLE,
              same_tensor("out", "softmax([[1000, 0, -1000], ...])",
                          hint="exp(1000.) overflows to inf; subtract each row's max before exp")),
        Check("softmax: random batches", 1, SOFTMAX_HIDDEN, same_tensor("out", "softmax's result", rtol=1e-4, atol=1e-6, hidden=True),
              error_hint=KEEPDIM_HINT),
        Check("cross_entropy: per-example loss", 2, CE_PUBLIC, judge_cross_entropy),
        Check("cross_entropy: random batches", 1, CE_HIDDEN, judge_cross_entropy),
        Check("accuracy: counts correct predictions from probabilities", 1, ACCURACY_PUBLIC,
              _judge_accuracy("probabilities"),
              error_hint="take y_hat.argmax(dim=1) when y_hat holds probabilities"),
        Check("accuracy: accepts predicted labels", 1, ACCURACY_LABELS, _judge_accuracy("labels"),
              error_hint="only take argmax when y_hat is 2-D with more than one column"),
        Check("accuracy: random batches", 1, ACCURACY_HIDDEN, _judge_accuracy("probabilities")),
        Check("evaluate_accuracy: fraction over all examples", 2, EVALUATE_PUBLIC, judge_evaluate_fraction),
        Check("evaluate_accuracy: puts a module in eval mode", 1, EVALUATE_PUBLIC, judge_eval_mode),
        Check(f"end to end: trained model reaches {E2E_THRESHOLD} held-out accuracy", 3, TRAIN_E2E, judge_training),
    ),
)
