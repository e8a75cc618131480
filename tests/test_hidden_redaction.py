"""No hidden check quotes its inputs: every hidden check of every assignment, against wrong outcomes.

For each hidden probe of the course (discovered, not listed), the reference solution runs on the
hidden inputs of a few seeds; the reference outcome is then mutated into wrong answers a student
could return (wrong shape, wrong values, NaN, inf, wrong dtype, wrong type, an exception quoting
the inputs) and scored through the pipeline's `score_check`. The failure message must name no
number, shape or index drawn from the inputs or outcomes, nor one computed from them.

A number in a message is accepted only when it is part of the check's own text: a number
literal of the assignment's checks.py or of the judge helpers (0.01, "(n, 1)", ...). Any other
number that equals a number of the inputs/outcomes, or that changes from one seed to the next
(so it was computed from them), is a leak.
"""

from __future__ import annotations

import ast
import copy
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from grader.checks import Assignment, Check
from grader.course import Course
from grader.probe import ErrorInfo, ObjectValue, ProbeOutcome, TensorValue
from grader.reference import run_reference
from grader.scoring import Context, score_check
from tests.helpers import ROOT

SEEDS = (11, 222, 3333)
NUMBER = re.compile(r"(?<![\w.])-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
SHAPE = re.compile(r"\(\s*\d+\s*,(?:\s*\d+\s*,?)*\s*\)")
STUDENT_LINE = "line 7: return X.reshape(-1, n_cols)"

COURSE = Course(ROOT)
ASSIGNMENTS = {name: COURSE.load(name) for name in COURSE.names()}
HIDDEN = [(name, check) for name, a in ASSIGNMENTS.items() for check in a.checks if check.hidden]


def _source_literals(*paths: Path) -> set[float]:
    """The numbers a message may contain as fixed text: those written inside string literals, and
    those of module-level constants (UPPER_CASE names, e.g. NOISE_BOUNDS) of these files."""
    found: set[float] = set()
    for path in paths:
        tree = ast.parse(path.read_text())
        constants = [node.value for node in tree.body if isinstance(node, ast.Assign)
                     and all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets)]
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.update(float(m) for m in NUMBER.findall(node.value) if _parses(m))
        for value in constants:
            for node in ast.walk(value):
                if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
                    found.add(float(node.value))
    return found


def _parses(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------ secrets of one grading

def _collect(value, numbers: set[float], shapes: set[str]) -> None:
    if isinstance(value, TensorValue):
        _collect(value.array, numbers, shapes)
        return
    if isinstance(value, np.ndarray):
        shapes.add(str(tuple(value.shape)))
        numbers.update(float(d) for d in value.shape)
        numbers.add(float(value.size))
        flat = value.reshape(-1).astype(np.float64)
        numbers.update(float(v) for v in flat[np.isfinite(flat)][:5000])
        if value.ndim:
            numbers.update(float(i) for i in range(min(value.shape[0], 64)))  # indices
        return
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, (int, float)):
        if math.isfinite(value):
            numbers.add(float(value))
        return
    if isinstance(value, dict):
        for v in value.values():
            _collect(v, numbers, shapes)
        return
    if isinstance(value, (list, tuple)):
        numbers.add(float(len(value)))
        if value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            shapes.add(str(tuple(value)))
        for v in value:
            _collect(v, numbers, shapes)


def _matches_secret(token: str, secrets: np.ndarray) -> bool:
    t = float(token)
    if "." in token and "e" not in token.lower():
        tol = 0.5 * 10 ** -len(token.split(".")[1]) + 1e-12
    else:
        tol = 1e-9 + abs(t) * 5e-7
    return bool(secrets.size) and bool((np.abs(secrets - t) <= tol).any())


# ------------------------------------------------------------------ wrong outcomes

def _wrong_tensors(t: TensorValue) -> list[tuple[str, object]]:
    a = t.array
    out: list[tuple[str, object]] = []

    def tv(arr: np.ndarray, dtype: str | None = None) -> TensorValue:
        return replace(t, array=arr, shape=tuple(arr.shape), dtype=dtype or str(arr.dtype))

    if a.dtype.kind == "f" and a.size:
        shifted = (a.astype(np.float64) * 1.37 + 0.5).astype(a.dtype)
        out.append(("values", tv(shifted)))
        for bad in (np.nan, np.inf, -np.inf):
            arr = a.copy()
            arr.reshape(-1)[arr.size // 2] = bad
            out.append((f"nonfinite {bad}", tv(arr)))
        out.append(("all nan", tv(np.full_like(a, np.nan))))
        out.append(("dtype int64", tv(np.rint(a).astype(np.int64))))
        out.append(("dtype float64", tv(a.astype(np.float64) * 1.01 + 0.01)))
    elif a.size:
        out.append(("values", tv(a + 1)))
        out.append(("dtype float32", tv(a.astype(np.float32) + 0.25)))
    out.append(("extra dim", tv(a.reshape(*a.shape, 1))))
    out.append(("flat", tv(a.reshape(-1)[:-1] if a.size > 1 else np.zeros(3, a.dtype))))
    if a.ndim == 2:
        out.append(("transposed", tv(np.ascontiguousarray(a.T))))
    if a.ndim == 1 and a.size:
        out.append(("square", tv(np.repeat(a[None, :], a.shape[0], axis=0))))
    if a.size:
        first = float(a.reshape(-1)[0]) if a.dtype.kind in "fiu" else 0.0
        out.append(("a float", first))
        out.append(("a list", ObjectValue("list", repr(a.reshape(-1)[:8].tolist()))))
    out.append(("None", None))
    return out


def _wrong_values(value, depth: int = 0) -> list[tuple[str, object]]:
    if depth > 4:
        return []
    if isinstance(value, TensorValue):
        return _wrong_tensors(value)
    if isinstance(value, bool):
        return [("flipped", not value), ("None", None)]
    if isinstance(value, int):
        return [("plus one", value + 1), ("float", float(value) + 0.5), ("tensor", _scalar_tensor(value + 2)),
                ("nan", math.nan), ("string", f"{value}")]
    if isinstance(value, float):
        return [("scaled", value * 1.37 + 0.5), ("nan", math.nan), ("inf", math.inf), ("int", int(value) + 1),
                ("tensor", _scalar_tensor(value * 0.5 - 1))]
    if isinstance(value, dict):
        out = []
        for key, v in value.items():
            for what, wrong in _wrong_values(v, depth + 1):
                mutated = dict(value)
                mutated[key] = wrong
                out.append((f"{key}: {what}", mutated))
        return out
    if isinstance(value, (list, tuple)):
        out = [("shorter", type(value)(list(value)[:-1])), ("reversed", type(value)(list(value)[::-1]))]
        if value:
            for what, wrong in _wrong_values(value[0], depth + 1):
                out.append((f"[0] {what}", type(value)([wrong, *list(value)[1:]])))
        if isinstance(value, tuple):
            out.append(("as list", list(value)))
        return out
    return []


def _scalar_tensor(v: float) -> TensorValue:
    arr = np.array(v, dtype=np.float32)
    return TensorValue(arr, "float32", (), "cpu", False, True, None)


def wrong_outcomes(expected: ProbeOutcome, numbers: list[float]) -> dict[str, ProbeOutcome]:
    outs: dict[str, ProbeOutcome] = {}
    for key, v in expected.values.items():
        for what, wrong in _wrong_values(v):
            values = copy.copy(expected.values)
            values[key] = wrong
            outs[f"{key}: {what}"] = ProbeOutcome("ok", values)
    leaked = ", ".join(f"{n:g}" for n in numbers[:3])
    for kind in ("RuntimeError", "ValueError", "IndexError"):
        outs[f"raised {kind}"] = ProbeOutcome("error", {}, error=ErrorInfo(
            type=kind, message=f"size of tensor a ({leaked}) must match the size of tensor b", where=[STUDENT_LINE]))
    return outs


# ------------------------------------------------------------------ the test

def _messages(name: str, assignment: Assignment, check: Check) -> dict[int, dict[str, tuple[str, np.ndarray, set[str]]]]:
    ctx = Context(cell_of={}, cells={}, reference_available=True)
    by_seed = {}
    for seed in SEEDS:
        inputs = check.probe.make_inputs(seed)
        expected = run_reference(COURSE.solution_path(name), [check.probe], {check.probe.name: inputs}, seed)[check.probe.name]
        assert expected.status == "ok", (check.name, expected)
        numbers: set[float] = set()
        shapes: set[str] = set()
        _collect(inputs, numbers, shapes)
        _collect(expected.values, numbers, shapes)
        messages = {}
        for what, outcome in wrong_outcomes(expected, sorted(numbers, key=abs, reverse=True)).items():
            secret_numbers, secret_shapes = set(numbers), set(shapes)
            _collect(outcome.values, secret_numbers, secret_shapes)
            result = score_check(check, outcome, expected, ctx)
            if result.score < result.max_score:
                messages[what] = (result.message, np.array(sorted(secret_numbers)), secret_shapes)
        by_seed[seed] = messages
    return by_seed


@pytest.mark.parametrize("name,check", HIDDEN, ids=[f"{n}: {c.name}" for n, c in HIDDEN])
def test_hidden_check_messages_quote_nothing_from_their_inputs(name, check):
    if not check.probe.reference:
        pytest.skip("a reference-free hidden probe: judged on the grader's own facts")
    folder = COURSE.assignment_dir(name)
    allowed = _source_literals(folder / "checks.py", ROOT / "grader" / "judge.py", ROOT / "grader" / "scoring.py")
    by_seed = _messages(name, ASSIGNMENTS[name], check)
    leaks = []
    judged = 0
    for seed, messages in by_seed.items():
        for what, (message, secrets, shapes) in messages.items():
            judged += 1
            text = message.replace(STUDENT_LINE, "")
            others = [by_seed[s][what][0] for s in SEEDS if s != seed and what in by_seed[s]]
            for shape in shapes:
                if shape in text and shape not in ("(n, 1)",):
                    leaks.append((what, f"shape {shape}", message))
            for token in NUMBER.findall(text):
                value = float(token)
                if value in allowed:
                    continue
                varies = any(token not in NUMBER.findall(o.replace(STUDENT_LINE, "")) for o in others)
                if varies or _matches_secret(token, secrets):
                    leaks.append((what, token, message))
            assert "could not judge" not in message, (what, message)
    assert judged, "no wrong outcome failed this check: the mutations did not reach its judge"
    assert not leaks, "\n".join(f"{what}: {token!r} in {message!r}" for what, token, message in leaks[:10])


def test_every_assignment_with_hidden_checks_is_covered():
    assert {name for name, _ in HIDDEN} >= {"hw1", "hw2", "hw3", "hw4", "hw5"}
