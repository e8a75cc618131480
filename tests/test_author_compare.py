"""`grade-author check` tolerates float32 rounding (another CPU) and still sees real changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load, save

from grader.author.build import stale_files
from grader.author.compare import difference
from grader.course import Course
from grader.probe import ObjectValue, TensorValue
from tests.helpers import ROOT


def _tensor(array: np.ndarray, dtype: str | None = None) -> TensorValue:
    return TensorValue(array, dtype or str(array.dtype), tuple(array.shape), "cpu", False, True, None)


def _perturb(path: Path, relative: float, key: str, index: int | None = None) -> None:
    """Rewrite a stored outcome with one value moved by `relative`, as another CPU might compute it."""
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    result = json.loads(json.loads(data[8:8 + size])["__metadata__"]["result"])
    arrays = dict(load(data))
    stored = result["values"]["__dict__"][key]
    if isinstance(stored, dict) and "__tensor__" in stored:  # a tensor: move its first element
        array = arrays[stored["__tensor__"]].copy()
        array.reshape(-1)[0] *= np.float32(1 + relative)
        arrays[stored["__tensor__"]] = array
    else:
        stored[index] *= 1 + relative
    path.write_bytes(save(arrays, metadata={"result": json.dumps(result)}))


@pytest.fixture(scope="module")
def hw3_course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "assignments" / "hw3", root / "assignments" / "hw3")
    (root / "solutions").mkdir()
    shutil.copy(ROOT / "solutions" / "hw3.ipynb", root / "solutions" / "hw3.ipynb")
    return Course(root)


@pytest.mark.parametrize(("probe", "key", "index"), [
    ("evaluate_public", "per_batch", 0),   # Python floats from float32 arithmetic
    ("evaluate_public", "per_batch", -1),
    ("softmax_public", "out", None),       # a float32 tensor
])
def test_a_value_off_by_float32_rounding_is_current_and_off_by_a_percent_is_stale(hw3_course, probe, key, index):
    stored = hw3_course.expected_dir("hw3") / f"{probe}.safetensors"
    original = stored.read_bytes()
    try:
        _perturb(stored, 1e-7, key, index)
        assert stale_files(hw3_course, "hw3") == []
        stored.write_bytes(original)
        _perturb(stored, 1e-2, key, index)
        stale = stale_files(hw3_course, "hw3")
        assert len(stale) == 1 and stale[0].startswith(str(stored)) and key in stale[0], stale
    finally:
        stored.write_bytes(original)


def test_float_tensors_compare_at_float32_tolerance_and_integers_exactly():
    values = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    assert difference(_tensor(values), _tensor(values * np.float32(1 + 1e-7))) is None
    assert difference(_tensor(values), _tensor(values * np.float32(1.01))) is not None
    doubles = values.astype(np.float64)
    assert difference(_tensor(doubles), _tensor(doubles * (1 + 1e-7))) is None
    ints = np.arange(6, dtype=np.int64)
    assert difference(_tensor(ints), _tensor(ints.copy())) is None
    assert difference(_tensor(ints), _tensor(ints + (ints == 5))) is not None
    assert difference(_tensor(values), _tensor(values.reshape(5, 4))) is not None
    assert difference(_tensor(values), _tensor(values.astype(np.float64), "float32")) is None
    assert difference(_tensor(values), _tensor(values, "float64")) is not None


def test_nan_and_infinity_must_stay_in_place():
    a = np.array([1.0, np.nan, np.inf, -np.inf], dtype=np.float32)
    assert difference(_tensor(a), _tensor(a.copy())) is None
    assert difference(_tensor(a), _tensor(np.array([np.nan, 1.0, np.inf, -np.inf], np.float32))) is not None
    assert difference(_tensor(a), _tensor(np.array([1.0, np.nan, -np.inf, np.inf], np.float32))) is not None


def test_a_series_of_small_values_is_compared_at_its_own_scale():
    losses = [0.0387, 1.4e-4, 4.5e-5]
    assert difference(losses, [v * (1 + 1e-7) for v in losses]) is None
    assert difference(losses, [*losses[:2], 4.5e-5 * 1.01]) is not None
    assert difference(4.5e-5, 4.5e-5 * 1.01) is not None
    # values that are zero up to rounding do not make a file stale
    assert difference(_tensor(np.zeros(3, np.float32)), _tensor(np.full(3, 1e-10, np.float32))) is None


def test_structure_and_exact_kinds_must_match():
    assert difference({"a": 1}, {"a": 1.0}) is not None
    assert difference({"a": 1}, {"b": 1}) is not None
    assert difference((1, 2), [1, 2]) is not None
    assert difference([1.0, 2.0], [1.0, 2.0, 3.0]) is not None
    assert difference("relu", "tanh") is not None
    assert difference(True, True) is None
    # a memory address in a repr changes on every run
    assert difference(ObjectValue("function", "<function f at 0x7f00>"), ObjectValue("function", "<function f at 0x7e11>")) is None
