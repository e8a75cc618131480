"""hw4 checks: custom layers (d2l "deep learning computation": layers and custom layers).

Probes (`probe_*`) run inside the student's kernel: they build the student's modules with
keyword arguments, copy the weights they are given into them by name, run them and return data;
judges (`judge_*`) run in the grader and decide points. See grader/checks.py.

Outputs are compared with the reference weights loaded into the student's module, so a correct
layer passes whatever its random initialisation. Registration (parameters(), state_dict()),
shapes, outputs and gradients are separate checks: each typical mistake costs its own points.
"""

from __future__ import annotations

import numpy as np

from grader.authoring import (
    PASS,
    Assignment,
    Check,
    Fail,
    Probe,
    ProbeOutcome,
    TensorValue,
    Verdict,
    assert_close,
    finite,
    quote,
    tensor,
    tolerance,
    value,
)

DENSE = dict(units=3, in_units=5)
DATA_HINT = (
    "compute with self.weight and self.bias themselves: .data (the book's MXNet-era habit)"
    " or torch.no_grad() detaches the result from the autograd graph"
)


# ---------------------------------------------------------------- inputs (grader side)

def normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(size=shape).astype(np.float32)


def dense_inputs(rng: np.random.Generator, units: int, in_units: int, batch: int) -> dict:
    """Inputs where relu matters: some pre-activations negative, and each unit positive on the first row."""
    assert batch >= 2
    while True:
        X = normal(rng, batch, in_units)
        weight = normal(rng, in_units, units)
        bias = normal(rng, units)
        bias += np.maximum(0.0, 0.5 - (X[0] @ weight + bias))  # every unit's gradient flows through row 0
        if (X @ weight + bias < -0.1).any():  # a layer without relu gives a visibly different output
            return {"units": units, "in_units": in_units, "X": X, "weight": weight, "bias": bias}


def sequential_inputs(rng: np.random.Generator, sizes: list[int], batch: int) -> dict:
    inputs: dict = {"sizes": sizes, "X": normal(rng, batch, sizes[0])}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        inputs[f"w{i}"] = normal(rng, n_out, n_in) / np.float32(np.sqrt(n_in))
        inputs[f"b{i}"] = normal(rng, n_out)
    return inputs


# ---------------------------------------------------------------- probes (student's kernel)

def load_by_name(module, weights):
    """Copy each tensor of `weights` into the module's tensor of that name; a message if impossible.

    Registered parameters are preferred; a plain tensor attribute of that name is used otherwise,
    so that an unregistered weight costs the registration checks, not the output checks too.
    """
    import torch

    params = dict(module.named_parameters()) if isinstance(module, torch.nn.Module) else {}
    for name, new in weights.items():
        target = params[name] if name in params else getattr(module, name, None)
        if not isinstance(target, torch.Tensor):
            return "the layer has no tensor named %r (found %s)" % (name, type(target).__name__)
        if tuple(target.shape) != tuple(new.shape):
            return "the reference %s of shape %s cannot be loaded into your %s of shape %s" % (
                name, tuple(new.shape), name, tuple(target.shape))
        with torch.no_grad():
            target.copy_(new)
    return None


def probe_dense_parameters(ns, units, in_units):
    import torch

    layer = ns["MyDense"](units=units, in_units=in_units)
    if not isinstance(layer, torch.nn.Module):
        return {"is_module": False, "type": type(layer).__name__}
    attrs = {}
    for name in ("weight", "bias"):
        t = getattr(layer, name, None)
        attrs[name] = {
            "type": type(t).__name__,
            "is_parameter": isinstance(t, torch.nn.Parameter),
            "shape": list(t.shape) if isinstance(t, torch.Tensor) else None,
        }
    return {
        "is_module": True,
        "parameters": {name: list(p.shape) for name, p in layer.named_parameters()},
        "state_dict": list(layer.state_dict().keys()),
        "attrs": attrs,
    }


def probe_dense_forward(ns, units, in_units, X, weight, bias):
    layer = ns["MyDense"](units=units, in_units=in_units)
    problem = load_by_name(layer, {"weight": weight, "bias": bias})
    if problem is not None:
        return {"load_error": problem}
    return {"out": layer(X)}


def probe_dense_gradients(ns, units, in_units, X, weight, bias):
    import torch

    layer = ns["MyDense"](units=units, in_units=in_units)
    load_by_name(layer, {"weight": weight, "bias": bias})  # when impossible, its own weights will do
    out = layer(X)
    connected = isinstance(out, torch.Tensor) and out.requires_grad
    if connected:
        out.sum().backward()
    grads, registered = {}, {}
    for name in ("weight", "bias"):
        t = getattr(layer, name, None)
        grads[name] = t.grad if isinstance(t, torch.Tensor) else None
        registered[name] = isinstance(t, torch.nn.Parameter)
    return {"connected": connected, "grads": grads, "registered": registered,
            "out_type": None if isinstance(out, torch.Tensor) else type(out).__name__}


def probe_centered(ns, X):
    return {"out": ns["CenteredLayer"]()(X), "X": X}


def probe_sequential(ns, X, sizes, **weights):
    import torch

    modules = []
    for i in range(len(sizes) - 1):
        linear = torch.nn.Linear(sizes[i], sizes[i + 1])
        with torch.no_grad():
            linear.weight.copy_(weights["w%d" % i])
            linear.bias.copy_(weights["b%d" % i])
        modules.append(linear)
        if i < len(sizes) - 2:
            modules.append(torch.nn.ReLU() if i % 2 == 0 else torch.nn.Tanh())
    net = ns["MySequential"](*modules)
    wanted = [p for m in modules for p in m.parameters()]
    found = list(net.parameters()) if isinstance(net, torch.nn.Module) else []
    found_ids = {id(p) for p in found}
    return {
        "out": net(X),
        "n_wanted": len(wanted),
        "n_found": len(found),
        "missing": sum(id(p) not in found_ids for p in wanted),
        "state_dict": len(net.state_dict()) if isinstance(net, torch.nn.Module) else 0,
        "is_module": isinstance(net, torch.nn.Module),
    }


DENSE_PARAMETERS = Probe("dense_parameters", probe_dense_parameters, ("MyDense",), lambda rng: dict(DENSE))
DENSE_FORWARD = Probe(
    "dense_forward", probe_dense_forward, ("MyDense",), lambda rng: dense_inputs(rng, batch=4, **DENSE),
    helpers=(load_by_name,),
)
DENSE_GRADIENTS = Probe(
    "dense_gradients", probe_dense_gradients, ("MyDense",), lambda rng: dense_inputs(rng, batch=4, **DENSE),
    helpers=(load_by_name,),
)


def _random_dense(rng: np.random.Generator) -> dict:
    units, in_units = rng.choice(np.arange(1, 17), size=2, replace=False)  # never square: a transpose shows
    return dense_inputs(rng, int(units), int(in_units), int(rng.integers(2, 9)))


DENSE_HIDDEN = Probe("dense_hidden", probe_dense_forward, ("MyDense",), _random_dense, hidden=True,
                     helpers=(load_by_name,))
CENTERED_BOOK = Probe(
    "centered_book", probe_centered, ("CenteredLayer",),
    lambda rng: {"X": np.array([1.0, 2.0, 3.0, 4.0, 5.0], dtype=np.float32)},
)
# Rows and columns with different means, so a mean over one dimension is visibly wrong.
CENTERED_MATRIX = Probe(
    "centered_matrix", probe_centered, ("CenteredLayer",),
    lambda rng: {"X": normal(rng, 3, 5) + np.arange(5, dtype=np.float32) + 10 * np.arange(3, dtype=np.float32)[:, None]},
)
CENTERED_HIDDEN = Probe(
    "centered_hidden", probe_centered, ("CenteredLayer",),
    lambda rng: {"X": normal(rng, *(int(n) for n in rng.integers(2, 7, size=3))) * 3 + np.float32(rng.normal(0, 5))},
    hidden=True,
)
SEQUENTIAL_PUBLIC = Probe(
    "sequential_public", probe_sequential, ("MySequential",), lambda rng: sequential_inputs(rng, [4, 8, 6, 3], 5),
)
SEQUENTIAL_HIDDEN = Probe(
    "sequential_hidden", probe_sequential, ("MySequential",),
    lambda rng: sequential_inputs(rng, [int(n) for n in rng.integers(1, 10, size=int(rng.integers(2, 6)))],
                                  int(rng.integers(1, 8))),
    hidden=True,
)


# ---------------------------------------------------------------- judges (grader)

def _module_or_fail(outcome: ProbeOutcome) -> None:
    if value(outcome, "is_module") is not True:
        raise Fail(f"MyDense(...) built a {value(outcome, 'type')}, not a torch.nn.Module: subclass nn.Module"
                   " and call super().__init__() first in __init__")


def judge_dense_registered(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    _module_or_fail(student)
    attrs, params, state = value(student, "attrs"), value(student, "parameters"), value(student, "state_dict")
    for name in ("weight", "bias"):
        kind = attrs[name]["type"]
        if kind == "NoneType":
            raise Fail(f"MyDense has no attribute {name!r}: store the parameter as self.{name}")
        if not attrs[name]["is_parameter"]:
            raise Fail(f"self.{name} is a plain {kind}, not an nn.Parameter, so it is not registered: it is"
                       " missing from parameters() and state_dict(), gets no gradient and no optimizer"
                       f" would ever update it; wrap it: self.{name} = nn.Parameter(...)")
        if name not in params or name not in state:
            raise Fail(f"{name} is not among MyDense's parameters() / state_dict() (found {sorted(params)})")
    extra = sorted(set(params) - {"weight", "bias"})
    if extra:
        raise Fail(f"MyDense should have exactly two parameters, weight and bias; it also has {extra}")
    return PASS


def judge_dense_shapes(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    _module_or_fail(student)
    got, want = value(student, "attrs"), value(expected, "attrs")
    for name in ("weight", "bias"):
        have, need = got[name]["shape"], want[name]["shape"]
        if have is None:
            raise Fail(f"MyDense has no tensor self.{name}, expected one of shape {tuple(need)}")
        if have != need:
            hint = ""
            if name == "weight" and have == need[::-1]:
                hint = (": that is (units, in_units), nn.Linear's layout; this layer stores (in_units, units)"
                        " so that forward is X @ weight")
            raise Fail(f"MyDense(units={DENSE['units']}, in_units={DENSE['in_units']}).{name} has shape"
                       f" {tuple(have)}, expected {tuple(need)}{hint}")
    return PASS


def _close_or_teach(got: TensorValue, want: TensorValue, what: str) -> None:
    if got.shape == want.shape and (want.array >= 0).all() and (got.array < -1e-6).any():
        raise Fail(f"{what} has negative values; MyDense ends with a ReLU: relu(X @ weight + bias)")
    assert_close(got.array, want.array, what, *tolerance(want.dtype, None, None))


def judge_dense_forward(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    problem = student.values.get("load_error")
    if problem is not None:
        raise Fail(f"MyDense's output could not be compared: {problem} (weight is (in_units, units), bias (units,))")
    want = tensor(expected, "out", "MyDense's output")
    got = tensor(student, "out", "MyDense's output (with the reference weights loaded)")
    _close_or_teach(got, want, "MyDense's output (with the reference weights loaded)")
    return PASS


def judge_dense_gradients(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    grads, registered = value(student, "grads"), value(student, "registered")
    missing = [name for name in ("weight", "bias") if not isinstance(grads.get(name), TensorValue)]
    if not missing:
        for name in ("weight", "bias"):
            finite(grads[name].array, f"the gradient of {name}")
        return PASS
    what = " and ".join(missing)
    unregistered = [name for name in missing if not registered.get(name)]
    if unregistered:
        names = " and ".join(f"self.{name}" for name in unregistered)
        verb = "is not an nn.Parameter" if len(unregistered) == 1 else "are not nn.Parameters"
        raise Fail(f"after out.sum().backward(), no gradient reached {what}: {names} {verb}, so autograd does"
                   " not track them; wrap each in nn.Parameter(...)")
    if value(student, "out_type") is not None:
        raise Fail(f"MyDense returned a {value(student, 'out_type')}, not a tensor, so no gradient can flow back")
    if not value(student, "connected"):
        raise Fail(f"MyDense's output does not require grad, so out.sum().backward() cannot reach {what}: {DATA_HINT}")
    raise Fail(f"after out.sum().backward(), no gradient reached {what}: {DATA_HINT}")


def judge_centered(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    want = tensor(expected, "out", "CenteredLayer's output")
    got = tensor(student, "out", "CenteredLayer's output")
    X = tensor(expected, "X", "input").array.astype(np.float64)
    if got.shape == want.shape and X.ndim > 1 and not np.allclose(got.array, want.array, rtol=1e-4, atol=1e-4):
        for dim in range(X.ndim):
            if np.allclose(got.array, X - X.mean(axis=dim, keepdims=True), rtol=1e-4, atol=1e-4):
                raise Fail(f"CenteredLayer subtracted the mean over {quote(f'dimension {dim}', 'one dimension')} only;"
                           " subtract the mean of all elements: X - X.mean()")
    hint = "subtract the mean of all elements: X - X.mean()"
    assert_close(got.array, want.array, "CenteredLayer's output", *tolerance(want.dtype, None, None), hint)
    return PASS


def judge_sequential_output(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    want = tensor(expected, "out", "MySequential's output")
    got = tensor(student, "out", "MySequential's output")
    assert_close(got.array, want.array, "MySequential's output", *tolerance(want.dtype, None, None),
                 "run every module once, in the order given, feeding each output to the next")
    return PASS


def judge_sequential_parameters(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    if value(student, "is_module") is not True:
        raise Fail("MySequential is not a torch.nn.Module: subclass nn.Module and call super().__init__()")
    wanted = int(value(expected, "n_wanted"))
    found, missing = value(student, "n_found"), value(student, "missing")
    if missing:
        raise Fail(f"MySequential.parameters() lists {found} of the {wanted} parameter tensors of its modules:"
                   " modules kept in a plain Python list (or tuple) are not registered, so an optimizer"
                   " would never train them; store them in self._modules[str(i)], as attributes, or in an"
                   " nn.ModuleList")
    if found != wanted:
        raise Fail(f"MySequential.parameters() lists {found} tensors, expected {wanted} (each module's once)")
    if value(student, "state_dict") != value(expected, "state_dict"):
        raise Fail(f"MySequential.state_dict() has {value(student, 'state_dict')} entries, expected"
                   f" {value(expected, 'state_dict')}")
    return PASS


def judge_dense_hidden(student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
    if student.values.get("load_error") is not None:  # hidden: say why without the sizes
        raise Fail("the reference weights could not be loaded into MyDense: weight must be (in_units, units)"
                   " and bias (units,)")
    return judge_dense_forward(student, expected)


ASSIGNMENT = Assignment(
    name="hw4",
    title="Custom layers",
    graded_names=("CenteredLayer", "MyDense", "MySequential"),
    checks=(
        Check("CenteredLayer: [1, 2, 3, 4, 5] gives [-2, -1, 0, 1, 2]", 1, CENTERED_BOOK, judge_centered),
        Check("CenteredLayer: subtracts the mean of all elements of a matrix", 2, CENTERED_MATRIX, judge_centered),
        Check("CenteredLayer: random 3-D inputs", 1, CENTERED_HIDDEN, judge_centered),
        Check("MyDense: weight and bias are registered nn.Parameters", 2, DENSE_PARAMETERS, judge_dense_registered,
              error_hint="build it as MyDense(units=..., in_units=...) and call super().__init__() first",
              error_hint_when=r"unexpected keyword|positional argument|__init__"),
        Check("MyDense: weight is (in_units, units), bias is (units,)", 1, DENSE_PARAMETERS, judge_dense_shapes),
        Check("MyDense: output with the reference weights", 2, DENSE_FORWARD, judge_dense_forward,
              error_hint="forward is relu(X @ weight + bias) with weight of shape (in_units, units)",
              error_hint_when=r"cannot be multiplied|size mismatch|must match the size|mat1|mat2"),
        Check("MyDense: gradients reach weight and bias", 2, DENSE_GRADIENTS, judge_dense_gradients),
        Check("MyDense: random sizes", 1, DENSE_HIDDEN, judge_dense_hidden),
        Check("MySequential: runs its modules in order", 2, SEQUENTIAL_PUBLIC, judge_sequential_output),
        Check("MySequential: its modules' parameters appear in parameters()", 2, SEQUENTIAL_PUBLIC,
              judge_sequential_parameters),
        Check("MySequential: random stacks of layers", 1, SEQUENTIAL_HIDDEN, judge_sequential_output),
    ),
)
