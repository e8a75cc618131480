"""hw2 checks: linear regression from scratch (d2l 3.2).

Probes (`probe_*`) run inside the student's kernel: they call the student's functions with
keyword arguments and return data; judges (`judge_*`) run in the grader and decide points. See
grader/checks.py.

Where a judge needs the inputs (the true w and b of synthetic_data, the parameters before an
SGD step), it reads the copy echoed in the *expected* outcome, which comes from the reference
run in the grader's process (or the stored public file), never the student's. The end-to-end
check trains with the student's data_iter, linreg, squared_loss and sgd on data the grader
generates, then measures the loss of the returned parameters itself.
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
    TensorValue,
    Verdict,
    assert_close,
    descends,
    describe,
    finite,
    judging_hidden,
    number,
    quote,
    tensor,
    tolerance,
    value,
)

TRUE_W = (2.0, -3.4)
TRUE_B = 4.2
NOISE_STD = 0.01
NOISE_BOUNDS = (0.008, 0.0125)  # sample std of 2000+ draws: 0.01 +- 0.0002; std 1 and no noise are far out
E2E = dict(n=1000, lr=0.03, batch_size=10, epochs=3)
E2E_MAX_LOSS = 1e-3
E2E_MAX_ERROR = 0.01
DATA_ITER_N, DATA_ITER_BATCH = 1003, 10

# One SGD step on hand-computed values: lr 0.1, batch 4.
#   w = [[1], [2]], grad [[4], [-8]]  ->  w - 0.1 * grad / 4 = [[1 - 0.1], [2 + 0.2]] = [[0.9], [2.2]]
#   b = [0.5],      grad [2]          ->  b - 0.1 * 2 / 4    = [0.45]
SGD_PUBLIC = dict(w=[[1.0], [2.0]], w_grad=[[4.0], [-8.0]], b=[0.5], b_grad=[2.0], lr=0.1, batch_size=4)
SGD_PUBLIC_AFTER = dict(w=[[0.9], [2.2]], b=[0.45])

MV_HINT = ("torch.mv multiplies a matrix by a 1-D vector; here w is a (d, 1) column as in the book:"
           " use torch.matmul(X, w) + b (or X @ w + b)")
MV_ERROR = r"matrix @ vector"  # torch.mv's complaint about a (d, 1) w
RESHAPE_HINT = "reshape y to y_hat's shape before subtracting: y.reshape(y_hat.shape)"


# ---------------------------------------------------------------- inputs (grader side)

def f32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def e2e_data(seed: int = 2024) -> tuple[np.ndarray, np.ndarray]:
    """The training set of the end-to-end check (fixed; the judge rebuilds it to verify each step).
    Another seed gives the held-out set the judge measures the trained model on."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(E2E["n"], len(TRUE_W)))
    y = X @ np.array(TRUE_W) + TRUE_B + rng.normal(0, NOISE_STD, size=E2E["n"])
    return X.astype(np.float32), y.reshape(-1, 1).astype(np.float32)


def _synthetic_hidden(rng: np.random.Generator) -> dict:
    d = int(rng.integers(2, 6))
    return {"w": f32(rng.uniform(-4, 4, size=d)), "b": float(np.round(rng.uniform(-5, 5), 3)),
            "num_examples": int(rng.integers(2000, 4001))}


def _data_iter_hidden(rng: np.random.Generator) -> dict:
    batch_size = int(rng.integers(3, 17))
    n = batch_size * int(rng.integers(5, 40)) + int(rng.integers(1, batch_size))  # never a multiple
    return {"n": n, "batch_size": batch_size}


def _linreg_inputs(rng: np.random.Generator, n: int, d: int) -> dict:
    return {"X": f32(rng.normal(size=(n, d))), "w": f32(rng.normal(size=(d, 1))), "b": f32(rng.normal(size=1))}


def _loss_inputs(rng: np.random.Generator, n: int, column: bool) -> dict:
    y = f32(rng.normal(size=n))
    return {"y_hat": f32(rng.normal(size=(n, 1))), "y": y.reshape(-1, 1) if column else y}


def _sgd_hidden(rng: np.random.Generator) -> dict:
    d = int(rng.integers(2, 6))
    return {"w": f32(rng.normal(size=(d, 1))), "w_grad": f32(rng.normal(size=(d, 1)) * 5),
            "b": f32(rng.normal(size=1)), "b_grad": f32(rng.normal(size=1) * 5),
            "lr": float(np.round(rng.uniform(0.01, 0.5), 3)), "batch_size": int(rng.integers(2, 65))}


E2E_HELDOUT_SEED = 2025
E2E_W0 = ((0.004,), (-0.012,))  # the starting weights the grader gives the run (the book draws N(0, 0.01))


def _train_inputs(rng: np.random.Generator) -> dict:
    X, y = e2e_data()
    return {"features": X, "labels": y, "w0": f32(E2E_W0), **{k: E2E[k] for k in ("lr", "batch_size", "epochs")}}


# ---------------------------------------------------------------- probes (student's kernel)

def probe_synthetic(ns, w, b, num_examples):
    out = ns["synthetic_data"](w=w, b=b, num_examples=num_examples)
    echo = {"w": w, "b": b, "n": num_examples}
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return {"X": None, "y": None, "returned": out, **echo}
    return {"X": out[0], "y": out[1], **echo}


def probe_data_iter(ns, n, batch_size):
    import inspect

    import torch

    features = torch.arange(n, dtype=torch.float32).reshape(-1, 1) * torch.tensor([[1.0, -2.0]])
    labels = torch.arange(n, dtype=torch.float32).reshape(-1, 1)
    result = {"n": n, "batch_size": batch_size}
    for key in ("first", "second"):
        batches = ns["data_iter"](batch_size=batch_size, features=features, labels=labels)
        if key == "first":
            result["generator"] = inspect.isgenerator(batches)
            result["type"] = type(batches).__name__
        sizes, xs, ys = [], [], []
        for X, y in batches:
            sizes.append(int(len(y)))
            xs.append(X.reshape(len(X), -1))
            ys.append(y.reshape(-1))
        result[key] = {
            "sizes": sizes,
            "X": torch.cat(xs) if xs else torch.zeros(0, 2),
            "y": torch.cat(ys) if ys else torch.zeros(0),
        }
    return result


def probe_linreg(ns, X, w, b):
    return {"out": ns["linreg"](X=X, w=w, b=b)}


def probe_squared_loss(ns, y_hat, y):
    return {"out": ns["squared_loss"](y_hat=y_hat, y=y)}


def probe_sgd(ns, w, b, w_grad, b_grad, lr, batch_size):
    import torch

    echo = {"w0": w.clone(), "b0": b.clone(), "w_grad0": w_grad.clone(), "b_grad0": b_grad.clone(),
            "lr": lr, "batch_size": batch_size}
    w = w.clone().requires_grad_(True)
    b = b.clone().requires_grad_(True)
    w.grad = w_grad.clone()
    b.grad = b_grad.clone()
    params = [w, b]
    ns["sgd"](params=params, lr=lr, batch_size=batch_size)
    kept = len(params) == 2 and params[0] is w and params[1] is b
    leaf = all(isinstance(p, torch.Tensor) and p.is_leaf and p.requires_grad for p in [w, b, *params])
    return {"w": w.detach().clone(), "b": b.detach().clone(), "w_grad": w.grad, "b_grad": b.grad,
            "kept": kept, "leaf": leaf, **echo}


def probe_train(ns, features, labels, lr, batch_size, epochs, w0):
    """The book's training loop with the student's four functions, from the grader's w0; every
    batch and the parameters after every step are copied out for the judge to verify."""
    import torch

    data_iter, linreg, squared_loss, sgd = ns["data_iter"], ns["linreg"], ns["squared_loss"], ns["sgd"]
    w = w0.clone().requires_grad_(True)
    b = torch.zeros(1, requires_grad=True)
    ws, bs, Xs, ys = [w.detach().clone()], [b.detach().clone()], [], []
    for _ in range(epochs):
        for X, y in data_iter(batch_size=batch_size, features=features, labels=labels):
            Xs.append(torch.as_tensor(X).detach().clone().reshape(len(X), -1))
            ys.append(torch.as_tensor(y).detach().clone().reshape(-1))
            l = squared_loss(y_hat=linreg(X=X, w=w, b=b), y=y)
            l.sum().backward()
            sgd(params=[w, b], lr=lr, batch_size=batch_size)
            ws.append(w.detach().clone())
            bs.append(b.detach().clone())
    return {"w": torch.stack(ws), "b": torch.stack(bs), "sizes": [len(y) for y in ys],
            "X": torch.cat(Xs) if Xs else torch.zeros(0, features.shape[1]), "y": torch.cat(ys) if ys else torch.zeros(0)}


SYNTHETIC_PUBLIC = Probe(
    "synthetic_data_public", probe_synthetic, ("synthetic_data",),
    lambda rng: {"w": f32(TRUE_W), "b": TRUE_B, "num_examples": 2000},
)
SYNTHETIC_HIDDEN = Probe("synthetic_data_hidden", probe_synthetic, ("synthetic_data",), _synthetic_hidden, hidden=True)

DATA_ITER_PUBLIC = Probe(
    "data_iter_public", probe_data_iter, ("data_iter",),
    lambda rng: {"n": DATA_ITER_N, "batch_size": DATA_ITER_BATCH},
)
DATA_ITER_HIDDEN = Probe("data_iter_hidden", probe_data_iter, ("data_iter",), _data_iter_hidden, hidden=True)

LINREG_PUBLIC = Probe("linreg_public", probe_linreg, ("linreg",), lambda rng: _linreg_inputs(rng, 5, 3))
LINREG_HIDDEN = Probe(
    "linreg_hidden", probe_linreg, ("linreg",),
    lambda rng: _linreg_inputs(rng, int(rng.integers(2, 40)), int(rng.integers(1, 8))), hidden=True,
)

LOSS_FLAT = Probe("squared_loss_flat_labels", probe_squared_loss, ("squared_loss",), lambda rng: _loss_inputs(rng, 6, column=False))
LOSS_COLUMN = Probe("squared_loss_column_labels", probe_squared_loss, ("squared_loss",), lambda rng: _loss_inputs(rng, 6, column=True))
LOSS_HIDDEN = Probe(
    "squared_loss_hidden", probe_squared_loss, ("squared_loss",),
    lambda rng: _loss_inputs(rng, int(rng.integers(2, 40)), column=False), hidden=True,
)

SGD_PUBLIC_PROBE = Probe(
    "sgd_public", probe_sgd, ("sgd",),
    lambda rng: {k: (f32(v) if isinstance(v, list) else v) for k, v in SGD_PUBLIC.items()},
)
SGD_HIDDEN = Probe("sgd_hidden", probe_sgd, ("sgd",), _sgd_hidden, hidden=True)

# Judged on its own terms (every step verified, loss on held-out data): no reference run.
TRAIN_E2E = Probe("train_e2e", probe_train, ("data_iter", "linreg", "squared_loss", "sgd"), _train_inputs, timeout_s=30,
                  reference=False)


# ---------------------------------------------------------------- judges (grader)
# Messages name shapes symbolically ((n, d), (n, 1)). On hidden checks the judge helpers show no
# sizes or values of the inputs (grader/judge.py); sentences written here wrap them in quote(...).

def _synthetic_arrays(student: ProbeOutcome, expected: ProbeOutcome) -> tuple[np.ndarray, np.ndarray, int, int]:
    n, d = int(value(expected, "n")), int(tensor(expected, "w", "w").shape[0])
    if value(student, "X") is None:
        raise Fail(f"synthetic_data should return a pair (X, y), got {describe(value(student, 'returned'))}")
    X = tensor(student, "X", "synthetic_data's X")
    y = tensor(student, "y", "synthetic_data's y")
    if X.shape != (n, d):
        raise Fail("X should have shape (num_examples, len(w)): one row per example, one column per weight")
    return X.array.astype(np.float64), y.array.astype(np.float64), n, d


def judge_synthetic_shapes(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    _, y, n, _ = _synthetic_arrays(student, expected)
    if y.shape == (n,):
        raise Fail("y has shape (n,), expected (n, 1): return the labels as a column,"
                   " y.reshape((-1, 1)), like the (n, 1) predictions of linreg")
    if y.shape != (n, 1):
        raise Fail("y should have shape (n, 1), one label per row; got a tensor of another shape")
    return PASS


def judge_synthetic_features(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    X, _, _, _ = _synthetic_arrays(student, expected)
    finite(X, "synthetic_data's X")
    mean, std = X.mean(axis=0), X.std(axis=0)
    if np.abs(mean).max() > 0.15 or np.abs(std - 1).max() > 0.1:
        stats = quote(f" (means up to {np.abs(mean).max():.3g} away from 0, standard deviations"
                      f" from {std.min():.3g} to {std.max():.3g})")
        raise Fail(f"the columns of X are not drawn from a standard normal distribution{stats}:"
                   " use torch.normal(0, 1, (num_examples, len(w)))")
    return PASS


def judge_synthetic_noise(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    X, y, n, _ = _synthetic_arrays(student, expected)
    if y.size != n:
        raise Fail("y should hold one label per example, shape (n, 1)")
    finite(X, "synthetic_data's X")
    finite(y, "synthetic_data's y")
    w = tensor(expected, "w", "w").array.astype(np.float64)
    b = float(value(expected, "b"))
    residual = y.reshape(-1) - (X @ w + b)
    mean, std = float(residual.mean()), float(residual.std())
    if std < 1e-4:
        raise Fail("y is exactly X @ w + b: add noise drawn from a normal distribution with std 0.01"
                   " (y += torch.normal(0, 0.01, y.shape))")
    if std > 5 * NOISE_STD:
        raise Fail(f"the noise y - (Xw + b) has a standard deviation{quote(f' of {std:.3g}', ' far above 0.01')},"
                   " expected 0.01: torch.normal(mean, std, size) takes the standard deviation;"
                   " use torch.normal(0, 0.01, y.shape)")
    if abs(mean) > 0.003:
        raise Fail(f"y - (Xw + b) has a mean{quote(f' of {mean:.3g}', ' away from 0')}: y should be X @ w + b plus"
                   " zero-mean noise")
    low, high = NOISE_BOUNDS
    if not low <= std <= high:
        raise Fail(f"the noise y - (Xw + b) has a standard deviation{quote(f' of {std:.3g}')}, expected 0.01"
                   f" (accepted {low} to {high})")
    return PASS


def judge_synthetic_all(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    for judge in (judge_synthetic_shapes, judge_synthetic_features, judge_synthetic_noise):
        judge(student, expected)
    return PASS


def _pass_data(student: ProbeOutcome, key: str) -> tuple[list, np.ndarray, np.ndarray]:
    data = value(student, key)
    if not isinstance(data, dict):
        raise Fail("data_iter's batches could not be read")
    sizes = data.get("sizes")
    X, y = data.get("X"), data.get("y")
    if not isinstance(sizes, list) or not isinstance(X, TensorValue) or not isinstance(y, TensorValue):
        raise Fail("data_iter's batches could not be read")
    finite(X.array, "data_iter's features")
    finite(y.array, "data_iter's labels")
    return sizes, X.array, y.array


def judge_generator(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    if value(student, "generator") is not True:
        raise Fail(f"data_iter returned a {value(student, 'type')}, not a generator: write it as the book does,"
                   " with `yield` inside the loop, so each batch is made only when the training loop asks for it")
    return PASS


def judge_every_example_once(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    hidden = judging_hidden()
    n, batch_size = int(value(expected, "n")), int(value(expected, "batch_size"))
    tail = n % batch_size
    sizes, X, y = _pass_data(student, "first")
    order = np.rint(y).astype(np.int64)
    seen = np.bincount(order[(order >= 0) & (order < n)], minlength=n) if order.size else np.zeros(n, dtype=np.int64)
    if len(order) == n - tail and tail and (seen <= 1).all():
        if hidden:
            raise Fail("when the number of examples is not a multiple of batch_size, data_iter drops the last, smaller"
                       " batch; step through range(0, num_examples, batch_size) and slice indices[i: i + batch_size]")
        raise Fail(f"data_iter produced {len(order)} of {n} examples in {len(sizes)} batches: the last, smaller batch"
                   f" ({n} examples in batches of {batch_size} end with one of {tail}) is missing; step through"
                   " range(0, num_examples, batch_size) and slice indices[i: i + batch_size]")
    if len(order) != n or not (seen == 1).all():
        if hidden:
            raise Fail("one pass of data_iter should produce every example exactly once; on a hidden data set some"
                       " were missing or repeated")
        raise Fail(f"one pass of data_iter should produce each of the {n} examples exactly once; got"
                   f" {len(order)} examples, {int((seen == 0).sum())} never seen, {int((seen > 1).sum())} more than once")
    if X.shape != (n, 2) or not (np.allclose(X[:, 0], y) and np.allclose(X[:, 1], -2 * y)):
        raise Fail("features and labels are no longer paired: take the same indices from both")
    want = [batch_size] * (n // batch_size) + ([tail] if tail else [])
    if sizes != want:
        if hidden:
            raise Fail("batches should hold batch_size examples each, then a smaller last one; on a hidden data set"
                       " the batch sizes were different")
        raise Fail(f"batches should hold {batch_size} examples each, then one of {tail}; got sizes"
                   f" {sizes[:5]}{'...' if len(sizes) > 5 else ''} ({len(sizes)} batches, expected {len(want)})")
    return PASS


def judge_shuffled(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    _, _, first = _pass_data(student, "first")
    _, _, second = _pass_data(student, "second")
    if len(first) < 2:
        raise Fail("data_iter produced fewer than 2 examples")
    if np.array_equal(first, np.arange(len(first))):
        raise Fail("the batches come in the original order of the data: shuffle the list of indices"
                   " (random.shuffle) before slicing it into batches")
    if np.array_equal(first, second):
        raise Fail("two passes of data_iter give the same order: shuffle inside data_iter, so each epoch sees"
                   " the examples in a new order")
    return PASS


def _tensor_values(what: str) -> Judge:
    def judge(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
        want = tensor(expected, "out", what)
        got = tensor(student, "out", what)
        r, a = tolerance(want.dtype, None, None)
        if got.shape != want.shape:
            raise Fail(f"{what} has {quote(f'shape {got.shape}', 'the wrong shape on a hidden input')}: expected (n, 1),"
                       " one prediction per row of X")
        assert_close(got.array, want.array, what, r, a)
        return PASS

    return judge


def judge_squared_loss(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    want = tensor(expected, "out", "squared_loss's result")
    got = tensor(student, "out", "squared_loss's result")
    n = want.shape[0]
    if got.shape == (n, n) and n > 1:
        raise Fail("squared_loss returned an (n, n) matrix for n examples: labels of shape (n,) were broadcast"
                   " against predictions of shape (n, 1), pairing every prediction with every label;"
                   f" {RESHAPE_HINT}")
    if got.array.size == 1 and n > 1:
        raise Fail("squared_loss returned a single number, expected one loss per example (shape (n, 1)):"
                   " do not take the mean or sum; the training loop sums and sgd divides by the batch size")
    if got.shape != want.shape:
        raise Fail("squared_loss should return the shape of y_hat, (n, 1); got a tensor of another shape")
    r, a = tolerance(want.dtype, None, None)
    assert_close(got.array, want.array, "squared_loss's result", r, a, "it should be (y_hat - y) ** 2 / 2")
    return PASS


def _sgd_judge(reference: str) -> Judge:
    """reference 'hand': the values written out in SGD_PUBLIC_AFTER; 'expected': the reference run's."""

    def judge(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
        lr, batch_size = number(expected, "lr", "lr"), number(expected, "batch_size", "batch_size")
        rtol, atol = tolerance("float32", None, None)
        for name in ("w", "b"):
            got = tensor(student, name, f"{name} after sgd").array.astype(np.float64)
            if reference == "hand":
                want = np.array(SGD_PUBLIC_AFTER[name], dtype=np.float64)
            else:
                want = tensor(expected, name, name).array.astype(np.float64)
            before = tensor(expected, f"{name}0", name).array.astype(np.float64)
            grad = tensor(expected, f"{name}_grad0", name).array.astype(np.float64)
            if got.shape != want.shape:
                raise Fail(f"{name} changed shape during sgd")
            finite(got, f"{name} after sgd")
            if np.allclose(got, want, rtol=rtol, atol=atol):
                continue
            if np.allclose(got, before):
                raise Fail("sgd rebinds `p` instead of updating it in place: the model's parameters never change"
                           " (`p = p - ...` only points the loop variable at a new tensor; write"
                           " `p -= lr * p.grad / batch_size` under torch.no_grad())")
            if np.allclose(got, before - lr * grad, rtol=rtol, atol=atol):
                raise Fail("sgd takes steps batch_size times too large: divide by batch_size"
                           " (p.grad holds the gradient of the summed loss of the batch)")
            if np.allclose(got, before + lr * grad / batch_size, rtol=rtol, atol=atol):
                raise Fail("sgd moves the parameters along the gradient, uphill: subtract lr * p.grad / batch_size")
            if judging_hidden():
                raise Fail(f"after one sgd step on hidden parameters, {name} differs from p - lr * p.grad / batch_size")
            raise Fail(f"after one sgd step (lr={lr:g}, batch_size={batch_size:g}) {name} is"
                       f" {np.round(got.reshape(-1), 5).tolist()}, expected {np.round(want.reshape(-1), 5).tolist()}"
                       " (p - lr * p.grad / batch_size)")
        return PASS

    return judge


def judge_sgd_zero_grad(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    for name in ("w_grad", "b_grad"):
        grad = value(student, name)
        if grad is None:
            continue  # set to None, as optimizer.zero_grad() does by default: fine
        if not isinstance(grad, TensorValue):
            raise Fail(f"{name[0]}.grad is {describe(grad)} after sgd")
        if np.any(grad.array != 0):
            raise Fail("sgd leaves the gradients in p.grad: backward() adds to p.grad, so without p.grad.zero_()"
                       " every later step uses the sum of all gradients so far")
    return PASS


def judge_sgd_leaf(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    if value(student, "kept") is not True:
        raise Fail("sgd replaced the tensors in params with new ones: the caller's parameters never change;"
                   " update each tensor in place instead")
    if value(student, "leaf") is not True:
        raise Fail("after sgd the parameters are no longer leaf tensors that require grad: do the update under"
                   " torch.no_grad() and in place, so autograd keeps tracking the parameters themselves")
    return PASS


def _steps(student: ProbeOutcome) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The run's parameters after each step (w and b stacked as rows) and its batches' row indices.

    Every batch row must be a row of the grader's training set (features with its label), found
    by its exact float32 bytes: a run on other data is not this run.
    """
    ws = tensor(student, "w", "w during training").array.astype(np.float64)
    bs = tensor(student, "b", "b during training").array.astype(np.float64)
    sizes = value(student, "sizes")
    X = tensor(student, "X", "the batches' features").array
    y = tensor(student, "y", "the batches' labels").array
    steps = len(sizes) if isinstance(sizes, list) else -1
    if (steps < 1 or ws.shape != (steps + 1, len(TRUE_W), 1) or bs.shape != (steps + 1, 1)
            or any(not isinstance(s, int) or s < 1 for s in sizes) or sum(sizes) != len(X) or X.shape[1:] != (len(TRUE_W),)
            or y.shape != (len(X),) or X.dtype != np.float32 or y.dtype != np.float32):
        raise Fail("the training run could not be followed step by step: data_iter should yield (X, y) batches of"
                   " float32 tensors taken from the features and labels it is given")
    finite(ws, "w during training", "lower the step size or check sgd's update")
    finite(bs, "b during training")
    train_X, train_y = e2e_data()
    rows = {train_X[i].tobytes() + train_y[i].tobytes(): i for i in range(len(train_X))}
    found = [rows.get(X[i].tobytes() + y[i:i + 1].tobytes(), -1) for i in range(len(X))]
    if min(found) < 0:
        raise Fail("data_iter yielded examples that are not in the training set it was given: take rows of"
                   " features and labels by index, unchanged")
    bounds = np.cumsum([0, *sizes])
    return np.concatenate([ws[:, :, 0], bs], axis=1), np.array(found), [np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def judge_training(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    """Verify every step of the run in the grader, then measure the last parameters on held-out data.

    Step t must move (w, b) from the grader's w0 along the true gradient of the squared loss of the
    batch data_iter gave, as computed here; a function that skips the work and writes good values
    into the loop's tensors (through stack frames, say) breaks the chain.
    """
    params, found, batches = _steps(student)
    if not np.allclose(params[0], [*np.array(E2E_W0).reshape(-1), 0.0], atol=1e-7):
        raise Fail("training did not start from the parameters the grader gave it")
    train_X, train_y = e2e_data()
    design = np.concatenate([train_X.astype(np.float64), np.ones((len(train_X), 1))], axis=1)
    target = train_y.astype(np.float64).reshape(-1)
    piled = np.zeros(params.shape[1])
    for t, batch in enumerate(batches):
        A, r = design[found[batch]], target[found[batch]]
        grad = A.T @ (A @ params[t] - r)
        piled += grad
        delta = params[t + 1] - params[t]
        if not descends(delta, grad, params[t]):
            if t > 0 and descends(delta, piled, params[t]):
                raise Fail(f"training step {t + 1} moved the parameters along the sum of all gradients so far:"
                           " backward() adds to p.grad, so sgd must zero it after each step (p.grad.zero_())")
            raise Fail(f"training step {t + 1} did not move the parameters down the gradient of the squared loss of"
                       " its batch: linreg, squared_loss and sgd must compute X @ w + b, (y_hat - y) ** 2 / 2 and"
                       " p -= lr * p.grad / batch_size with torch operations; nothing else may change w or b")
    if np.abs(params[-1] - params[0]).max() == 0:
        raise Fail("the parameters never changed during training: sgd must update each tensor in params in place"
                   " (p -= lr * p.grad / batch_size under torch.no_grad())")
    w, b = params[-1][:-1], params[-1][-1:]
    X, y = e2e_data(E2E_HELDOUT_SEED)  # held out: never sent to the student's kernel
    pred = X.astype(np.float64) @ w.reshape(-1, 1) + b.reshape(())
    loss = float(((pred - y) ** 2 / 2).mean())
    errors = np.abs(np.concatenate([w.reshape(-1) - np.array(TRUE_W), b.reshape(-1) - TRUE_B]))
    got = f"w = {np.round(w.reshape(-1), 4).tolist()}, b = {np.round(b.reshape(-1), 4).tolist()}"
    if loss >= E2E_MAX_LOSS or errors.max() > E2E_MAX_ERROR:
        raise Fail(f"after {E2E['epochs']} epochs (lr {E2E['lr']}, batches of {E2E['batch_size']}) with your functions"
                   f" the mean loss is {loss:.3g} (needs < {E2E_MAX_LOSS:g}) and {got}, expected w = {list(TRUE_W)},"
                   f" b = {TRUE_B} within {E2E_MAX_ERROR}, on data the training never saw")
    return Verdict(1.0, f"mean loss {loss:.2g}; {got}")


ASSIGNMENT = Assignment(
    name="hw2",
    title="Linear regression from scratch",
    graded_names=("synthetic_data", "data_iter", "linreg", "squared_loss", "sgd"),
    cell_timeout_s=60.0,
    checks=(
        Check("synthetic_data: X of shape (n, d), y of shape (n, 1)", 1, SYNTHETIC_PUBLIC, judge_synthetic_shapes),
        Check("synthetic_data: features drawn from N(0, 1)", 1, SYNTHETIC_PUBLIC, judge_synthetic_features),
        Check("synthetic_data: y = Xw + b + noise of std 0.01", 2, SYNTHETIC_PUBLIC, judge_synthetic_noise),
        Check("synthetic_data: random w and b", 1, SYNTHETIC_HIDDEN, judge_synthetic_all),
        Check("data_iter: a generator (yield)", 1, DATA_ITER_PUBLIC, judge_generator),
        Check("data_iter: every example once per pass, last batch of 3", 2, DATA_ITER_PUBLIC, judge_every_example_once),
        Check("data_iter: shuffled, a new order every pass", 1, DATA_ITER_PUBLIC, judge_shuffled),
        Check("data_iter: random sizes", 1, DATA_ITER_HIDDEN, judge_every_example_once),
        Check("linreg: (n, d) @ (d, 1) + b", 2, LINREG_PUBLIC, _tensor_values("linreg's result"), error_hint=MV_HINT,
              error_hint_when=MV_ERROR),
        Check("linreg: random sizes", 1, LINREG_HIDDEN, _tensor_values("linreg's result"), error_hint=MV_HINT,
              error_hint_when=MV_ERROR),
        Check("squared_loss: per example, labels of shape (n,)", 2, LOSS_FLAT, judge_squared_loss),
        Check("squared_loss: labels of shape (n, 1)", 1, LOSS_COLUMN, judge_squared_loss),
        Check("squared_loss: random batches", 1, LOSS_HIDDEN, judge_squared_loss),
        Check("sgd: updates in place by lr * grad / batch_size", 2, SGD_PUBLIC_PROBE, _sgd_judge("hand")),
        Check("sgd: zeroes the gradients", 1, SGD_PUBLIC_PROBE, judge_sgd_zero_grad),
        Check("sgd: parameters stay leaf tensors that require grad", 1, SGD_PUBLIC_PROBE, judge_sgd_leaf),
        Check("sgd: random parameters", 1, SGD_HIDDEN, _sgd_judge("expected")),
        Check("end to end: 3 epochs recover w = [2, -3.4], b = 4.2", 3, TRAIN_E2E, judge_training,
              error_hint="this check trains a model with your data_iter, linreg, squared_loss and sgd together;"
                         " the line above shows which of them failed"),
    ),
)
