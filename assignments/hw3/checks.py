"""hw3 checks: softmax regression from scratch (d2l 3.6).

Probes (`probe_*`) run inside the student's kernel and only call the student's functions and
return data; judges (`judge_*`) run in the grader and decide points. See grader/checks.py.

End-to-end calibration (`python scripts/calibrate_hw3.py`): the reference reaches 0.934
held-out accuracy with the training set-up below; the threshold leaves room for run-to-run
noise and for correct solutions written differently.
"""

from __future__ import annotations

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
    Verdict,
    assert_close,
    close_number,
    descends,
    describe,
    finite,
    number,
    quote,
    tensor,
    tolerance,
    value,
)

E2E_THRESHOLD = 0.85
E2E = dict(num_classes=4, num_inputs=8, n_train=512, n_heldout=2000, lr=0.1, epochs=10, batch_size=32)
KEEPDIM_HINT = (
    "dividing an (n, q) tensor by its (n,) row sums only broadcasts when n == q;"
    " use X_exp.sum(dim=1, keepdim=True)"
)
# The error torch raises when (n, q) meets (n,) with n != q: only then is keepdim the likely cause.
SIZE_MISMATCH = r"must match the size of tensor|size of tensor a .* must match"
OVERFLOW_HINT = "exp of a large score overflows to inf (and inf / inf is NaN); subtract each row's max before exp"
# softmax and cross_entropy are the exercise: library versions of them are not allowed inside
# these two functions (the stub says so); torch.exp, torch.log, torch.logsumexp, max, gather are.
SOFTMAX_RULE = Forbid(
    names=("softmax", "Softmax", "log_softmax", "LogSoftmax", "softmin", "Softmin"),
    methods=("softmax", "log_softmax"),
    reason="this exercise is writing softmax yourself from exp, a row maximum and a row sum;"
           " torch.softmax, F.softmax, nn.Softmax and log_softmax do it for you (torch.logsumexp is fine)",
)
CROSS_ENTROPY_RULE = Forbid(
    names=("cross_entropy", "CrossEntropyLoss", "nll_loss", "NLLLoss", "binary_cross_entropy*", "BCE*"),
    reason="this exercise is picking each example's probability of its true class and taking -log;"
           " F.cross_entropy, nn.CrossEntropyLoss and nll_loss do it for you (torch.log and torch.gather are fine)",
)
ARGMAX_HINT = "take y_hat.argmax(dim=1) when y_hat holds probabilities (one row of q scores per example)"


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
    out = ns["softmax"](X=X.clone())
    return {"out": out, "X": X}


def probe_cross_entropy(ns, y_hat, y):
    return {"out": ns["cross_entropy"](y_hat=y_hat.clone(), y=y.clone()), "y_hat": y_hat, "y": y}


def probe_accuracy(ns, y_hat, y):
    return {"count": ns["accuracy"](y_hat=y_hat.clone(), y=y.clone()), "y_hat": y_hat, "y": y}


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


def probe_train(ns, X, y, lr, batch_size, W0, orders):
    """Minibatch SGD with the student's softmax and cross_entropy, from the grader's W0, on the
    grader's batch orders; the parameters after every step are copied out for the judge to verify."""
    import torch

    softmax, cross_entropy = ns["softmax"], ns["cross_entropy"]
    W = W0.clone().requires_grad_(True)
    b = torch.zeros(W0.shape[1], requires_grad=True)
    Ws, bs = [W.detach().clone()], [b.detach().clone()]
    for order in orders:
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            loss = cross_entropy(y_hat=softmax(X=X[idx] @ W + b), y=y[idx])
            loss.sum().backward()
            with torch.no_grad():
                for param in (W, b):
                    param -= lr * param.grad / len(idx)
                    param.grad.zero_()
            Ws.append(W.detach().clone())
            bs.append(b.detach().clone())
    return {"W": torch.stack(Ws), "b": torch.stack(bs)}


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


def train_setup() -> dict:
    """The end-to-end run, fixed: training data, starting weights and batch orders (the judge
    rebuilds it to verify every step)."""
    X, y = blobs(seed=7, n=E2E["n_train"])
    rng = np.random.default_rng(8)
    W0 = rng.normal(0, 0.01, size=(E2E["num_inputs"], E2E["num_classes"])).astype(np.float32)
    orders = np.stack([rng.permutation(len(y)) for _ in range(E2E["epochs"])]).astype(np.int64)
    return {"X": X, "y": y, "lr": E2E["lr"], "batch_size": E2E["batch_size"], "W0": W0, "orders": orders}


# Judged on its own terms (every step verified, accuracy on held-out data): no reference run.
TRAIN_E2E = Probe("train_e2e", probe_train, ("softmax", "cross_entropy"), lambda rng: train_setup(), timeout_s=60,
                  reference=False)


# ---------------------------------------------------------------- judges (grader)

def _softmax_mistakes(X: np.ndarray) -> list[tuple[np.ndarray, str]]:
    """What the usual wrong softmaxes give on X, each with the advice that fixes it."""
    X = X.astype(np.float64)
    row_exp = np.exp(X - X.max(axis=1, keepdims=True))
    col_exp = np.exp(X - X.max(axis=0, keepdims=True))
    mistakes = [(col_exp / col_exp.sum(axis=0, keepdims=True),
                 "each column sums to 1 instead of each row: normalise over the classes, dim=1")]
    if X.shape[0] == X.shape[1]:  # only a square input lets the (n,) row sums broadcast silently
        mistakes.append((row_exp / row_exp.sum(axis=1), KEEPDIM_HINT))
    return mistakes


def _overflows(X: np.ndarray) -> bool:
    """Whether the formula without max subtraction overflows on X in float32."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(X.astype(np.float32))
        return not np.isfinite(e / e.sum(axis=1, keepdims=True)).all()


def judge_softmax(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    want = tensor(expected, "out", "softmax's result")
    got = tensor(student, "out", "softmax's result")
    X = tensor(expected, "X", "X").array
    r, a = tolerance(want.dtype, None, None)
    overflow = OVERFLOW_HINT if _overflows(X) else ""
    assert_close(got.array, want.array, "softmax's result", r, a, mistakes=_softmax_mistakes(X),
                 nonfinite_hint=overflow)
    return PASS


def judge_rows_sum_to_one(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    out = tensor(student, "out", "softmax's result")
    if out.array.ndim != 2:
        raise Fail(f"softmax should return a 2-D tensor like its input, got {quote(f'shape {out.shape}', 'another shape')}")
    finite(out.array, "softmax's result")
    sums = out.array.astype(np.float64).sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-4):
        if np.allclose(out.array.astype(np.float64).sum(axis=0), 1.0, atol=1e-4):
            raise Fail("each column sums to 1 instead of each row: normalise over the classes, dim=1")
        raise Fail(f"rows do not sum to 1{quote(f' (row sums {np.round(sums, 4).tolist()})')}: divide each row's"
                   " exponentials by that row's sum")
    if (out.array < 0).any():
        raise Fail("softmax returned negative probabilities")
    return PASS


def judge_cross_entropy(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    want = tensor(expected, "out", "cross_entropy's result")
    got = tensor(student, "out", "cross_entropy's result")
    n = want.shape[0]
    if got.shape == (n, n) and n > 1:
        raise Fail("cross_entropy returned an (n, n) matrix for n examples, expected shape (n,): y_hat[:, y] picks"
                   " whole columns; pick one entry per row with y_hat[range(len(y_hat)), y]")
    if got.shape in ((), (1,)) and n > 1:
        raise Fail("cross_entropy returned a single number, expected one loss per example (shape (n,)):"
                   " do not take the mean or sum")
    y_hat = tensor(expected, "y_hat", "y_hat").array.astype(np.float64)
    y = tensor(expected, "y", "y").array.astype(np.int64)
    picked = y_hat[np.arange(len(y)), y]
    mistakes = [(np.log(picked), "the loss is minus the log of the true class's probability: -log(...)"),
                (-np.log10(picked), "use the natural logarithm, torch.log, not log10"),
                (-np.log2(picked), "use the natural logarithm, torch.log, not log2"),
                (-np.log(1 - picked), "take the log of the true class's probability y_hat[i, y[i]], not of 1 minus it")]
    r, a = tolerance(want.dtype, None, None)
    assert_close(got.array, want.array, "cross_entropy's result", r, a, mistakes=mistakes)
    return PASS


def _accuracy_mistakes(y_hat: np.ndarray, y: np.ndarray) -> list[tuple[float, str]]:
    """What the usual wrong accuracies give on these inputs, each with the advice that fixes it."""
    labels = y_hat.argmax(axis=1) if y_hat.ndim == 2 and y_hat.shape[1] > 1 else y_hat.reshape(-1)
    correct = float((labels.astype(np.int64) == y).sum())
    fraction = "return the number of correct predictions, not the fraction (evaluate_accuracy divides by the total)"
    mistakes = [(correct / len(y), fraction)]
    if y_hat.ndim == 2 and y_hat.shape[1] > 1:
        truncated = y_hat.astype(np.int64)  # probabilities compared as labels, without argmax
        if truncated.shape[1] == len(y):
            mistakes.append((float((truncated == y[None, :]).sum()), ARGMAX_HINT))
        mistakes.append((float((truncated[:, 0] == y).sum()), ARGMAX_HINT))
    return [(v, advice) for v, advice in mistakes if abs(v - correct) > 1e-9]


def _judge_accuracy(what: str) -> Judge:
    key = "count"

    def judge(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
        want = number(expected, key, "accuracy")
        got = number(student, key, f"accuracy({what})")
        if abs(got - want) > 1e-6:
            y_hat = tensor(expected, "y_hat", "y_hat").array
            y = tensor(expected, "y", "y").array.astype(np.int64)
            for candidate, advice in _accuracy_mistakes(y_hat, y):
                if abs(got - candidate) < 1e-6:
                    raise Fail(f"accuracy({what}) did not return the number of correct predictions: {advice}")
            close_number(got, want, f"accuracy({what})", 0.0, 1e-6,
                         "count the examples whose predicted class equals the label")
        raw = value(student, key)
        if not isinstance(raw, float):
            raise Fail(f"accuracy({what}) returned the right count as {describe(raw)}; return a Python float: float(...)", 0.5)
        return PASS

    return judge


def judge_evaluate_fraction(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
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


def judge_eval_mode(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    modes = value(student, "modes")
    if not isinstance(modes, list) or not modes:
        raise Fail("evaluate_accuracy never called the network")
    if any(modes):
        raise Fail("the network was still in training mode during evaluation: call net.eval() when net is an nn.Module")
    return PASS


def _softmax64(Z: np.ndarray) -> np.ndarray:
    e = np.exp(Z - Z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def judge_training(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    """Verify every step of the run in the grader, then measure the last weights on held-out data.

    The kernel's numbers are not trusted: step t must move (W, b) from the grader's W0 along the
    true gradient of the cross-entropy of the grader's batch t, as computed here. A function that
    skips the work and writes good weights into the loop's tensors (through stack frames, say)
    breaks that chain; correct functions pass whatever their formula.
    """
    setup = train_setup()
    X, y = setup["X"].astype(np.float64), setup["y"]
    batches = [order[s:s + setup["batch_size"]] for order in setup["orders"] for s in range(0, len(y), setup["batch_size"])]
    Ws = tensor(student, "W", "the weights during training").array.astype(np.float64)
    bs = tensor(student, "b", "the bias during training").array.astype(np.float64)
    W0 = setup["W0"].astype(np.float64)
    if Ws.shape != (len(batches) + 1, *W0.shape) or bs.shape != (len(batches) + 1, W0.shape[1]):
        raise Fail("the training run did not report one set of weights per step (internal check error, or the"
                   " training loop was changed from outside)")
    finite(Ws, "the weights during training", "check that softmax subtracts each row's max before exp")
    finite(bs, "the bias during training")
    if not np.allclose(Ws[0], W0, atol=1e-7) or np.abs(bs[0]).max() > 0:
        raise Fail("training did not start from the weights the grader gave it")
    onehot = np.eye(W0.shape[1])
    for t, idx in enumerate(batches):
        G = _softmax64(X[idx] @ Ws[t] + bs[t]) - onehot[y[idx]]
        grad = np.concatenate([(X[idx].T @ G).reshape(-1), G.sum(axis=0)])
        delta = np.concatenate([(Ws[t + 1] - Ws[t]).reshape(-1), bs[t + 1] - bs[t]])
        if not descends(delta, grad, np.concatenate([Ws[t].reshape(-1), bs[t]])):
            raise Fail(f"training step {t + 1} did not move the weights down the gradient of the cross-entropy of"
                       " its batch: softmax(X @ W + b) must give each row's class probabilities and"
                       " cross_entropy -log of each example's true-class probability, computed from y_hat with"
                       " torch operations (so that loss.sum().backward() gives the true gradient); nothing else"
                       " may change W or b")
    heldout_X, heldout_y = blobs(seed=99, n=E2E["n_heldout"])  # held out: never sent to the student's kernel
    logits = heldout_X.astype(np.float64) @ Ws[-1] + bs[-1]
    acc = float((logits.argmax(axis=1) == heldout_y).mean())
    if acc < E2E_THRESHOLD:
        raise Fail(f"softmax regression trained with your functions reaches {acc:.3f} held-out accuracy,"
                   f" below {E2E_THRESHOLD}")
    return Verdict(1.0, f"held-out accuracy {acc:.3f}")


ASSIGNMENT = Assignment(
    name="hw3",
    title="Softmax regression from scratch",
    graded_names=("softmax", "cross_entropy", "accuracy", "evaluate_accuracy"),
    checks=(
        Check("softmax: values on a non-square batch", 2, SOFTMAX_PUBLIC, judge_softmax,
              error_hint=KEEPDIM_HINT, error_hint_when=SIZE_MISMATCH, forbid=(SOFTMAX_RULE,)),
        Check("softmax: rows sum to 1", 1, SOFTMAX_PUBLIC, judge_rows_sum_to_one,
              error_hint=KEEPDIM_HINT, error_hint_when=SIZE_MISMATCH, forbid=(SOFTMAX_RULE,)),
        Check("softmax: numerically stable for large scores", 2, SOFTMAX_STABLE, judge_softmax, forbid=(SOFTMAX_RULE,)),
        Check("softmax: random batches", 1, SOFTMAX_HIDDEN, judge_softmax,
              error_hint=KEEPDIM_HINT, error_hint_when=SIZE_MISMATCH, forbid=(SOFTMAX_RULE,)),
        Check("cross_entropy: per-example loss", 2, CE_PUBLIC, judge_cross_entropy, forbid=(CROSS_ENTROPY_RULE,)),
        Check("cross_entropy: random batches", 1, CE_HIDDEN, judge_cross_entropy, forbid=(CROSS_ENTROPY_RULE,)),
        Check("accuracy: counts correct predictions from probabilities", 1, ACCURACY_PUBLIC,
              _judge_accuracy("probabilities"), error_hint=ARGMAX_HINT, error_hint_when=SIZE_MISMATCH),
        Check("accuracy: accepts predicted labels", 1, ACCURACY_LABELS, _judge_accuracy("labels"),
              error_hint="only take argmax when y_hat is 2-D with more than one column",
              error_hint_when=r"IndexError|Dimension out of range|argmax"),
        Check("accuracy: random batches", 1, ACCURACY_HIDDEN, _judge_accuracy("probabilities"),
              error_hint=ARGMAX_HINT, error_hint_when=SIZE_MISMATCH),
        Check("evaluate_accuracy: fraction over all examples", 2, EVALUATE_PUBLIC, judge_evaluate_fraction),
        Check("evaluate_accuracy: puts a module in eval mode", 1, EVALUATE_PUBLIC, judge_eval_mode),
        Check(f"end to end: trained model reaches {E2E_THRESHOLD} held-out accuracy", 3, TRAIN_E2E, judge_training),
    ),
)
