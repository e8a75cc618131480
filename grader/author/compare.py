"""Is a stored expected outcome still what the solution produces? Tolerant where arithmetic is.

Stored outcomes are results of floating-point arithmetic, and the same solution gives slightly
different bits on another CPU (vector width, fused multiply-add, thread count change the order
of additions). A stored training loss differed by about 1e-8 between two machines, so `==` made
CI fail on every machine but the one that built the files. The rule here:

- structure, types, shapes, dtypes, integers, booleans and strings must be identical;
- floating-point values (tensors of any float dtype, Python floats) may differ by float32
  rounding: `|a - b| <= atol + rtol * |b|` with float32's rtol, and an atol taken at the scale
  of the data (a list of losses around 1e-4 is compared at its own scale, not at 1e-6);
- NaN and infinities must sit in the same places.

A real change to a solution or a probe moves values by far more than this, so it is still seen.
float64 values get float32's tolerance too: they usually come from float32 computations
(`.item()` of a float32 loss, `.double()` at the end), so they carry float32's noise.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from grader.judge import TOLERANCES
from grader.probe import ObjectValue, ProbeOutcome, TensorValue

FLOAT32_RTOL, FLOAT32_ATOL = TOLERANCES["float32"]
# atol is float32's at data of magnitude 1 and shrinks with the data, down to this floor, so that
# values that are zero up to rounding (a gradient that cancels) do not flag a file as stale.
MIN_SCALE = 1e-3
ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def _float_rtol_atol(dtype: str) -> tuple[float, float]:
    rtol, atol = TOLERANCES.get(dtype, (FLOAT32_RTOL, FLOAT32_ATOL))
    return max(rtol, FLOAT32_RTOL), max(atol, FLOAT32_ATOL)


def _array_difference(stored: np.ndarray, fresh: np.ndarray, dtype: str) -> str | None:
    if stored.shape != fresh.shape:
        return f"shape {fresh.shape}, stored {stored.shape}"
    if stored.dtype.kind not in "fc" or fresh.dtype.kind not in "fc":
        if stored.dtype != fresh.dtype or not np.array_equal(stored, fresh):
            return "integer or boolean values differ"
        return None
    s, f = stored.astype(np.float64), fresh.astype(np.float64)
    if not np.array_equal(np.isnan(s), np.isnan(f)):
        return "NaN in different places"
    if not (np.array_equal(np.isposinf(s), np.isposinf(f)) and np.array_equal(np.isneginf(s), np.isneginf(f))):
        return "infinities in different places"
    finite = np.isfinite(s)
    if not finite.any():
        return None
    rtol, atol = _float_rtol_atol(dtype)
    scale = float(max(np.abs(s[finite]).max(), np.abs(f[finite]).max()))
    atol *= min(1.0, max(scale, MIN_SCALE))
    off = np.zeros(s.shape, dtype=bool)
    off[finite] = np.abs(s[finite] - f[finite]) > atol + rtol * np.abs(s[finite])
    if off.any():
        idx = tuple(int(i) for i in np.argwhere(off)[0])
        at = f" at index {idx}" if idx else ""
        return f"{int(off.sum())} of {off.size} values off{at}: {f[idx]!r}, stored {s[idx]!r}"
    return None


def _is_float_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(type(v) is float for v in value)


def difference(stored: Any, fresh: Any, where: str = "") -> str | None:
    """The first difference that float32 rounding cannot explain, as 'where: what'; None if none."""
    label = where or "value"
    if isinstance(stored, TensorValue) and isinstance(fresh, TensorValue):
        for attr in ("dtype", "shape", "device", "requires_grad", "is_leaf", "grad_fn"):
            if getattr(stored, attr) != getattr(fresh, attr):
                return f"{label}: {attr} {getattr(fresh, attr)!r}, stored {getattr(stored, attr)!r}"
        why = _array_difference(stored.array, fresh.array, stored.dtype)
        return f"{label}: {why}" if why else None
    if type(stored) is not type(fresh):
        return f"{label}: {type(fresh).__name__}, stored {type(stored).__name__}"
    if isinstance(stored, float):
        why = _array_difference(np.array(stored), np.array(fresh), "float32")
        return f"{label}: {why}" if why else None
    if _is_float_list(stored) and _is_float_list(fresh) and len(stored) == len(fresh):
        # One series (e.g. losses per epoch) is compared at the scale of the whole series.
        why = _array_difference(np.array(stored), np.array(fresh), "float32")
        return f"{label}: {why}" if why else None
    if isinstance(stored, dict):
        if stored.keys() != fresh.keys():
            return f"{label}: keys {sorted(fresh)}, stored {sorted(stored)}"
        found = (difference(stored[k], fresh[k], f"{where}.{k}" if where else k) for k in stored)
        return next((d for d in found if d), None)
    if isinstance(stored, (list, tuple)):
        if len(stored) != len(fresh):
            return f"{label}: {len(fresh)} items, stored {len(stored)}"
        found = (difference(s, f, f"{label}[{i}]") for i, (s, f) in enumerate(zip(stored, fresh)))
        return next((d for d in found if d), None)
    if isinstance(stored, ObjectValue):
        # A repr may hold a memory address, which changes on every run.
        same = stored.type_name == fresh.type_name and ADDRESS.sub("0x", stored.repr) == ADDRESS.sub("0x", fresh.repr)
        return None if same else f"{label}: {fresh.type_name} {fresh.repr!r}, stored {stored.repr!r}"
    return None if stored == fresh else f"{label}: {fresh!r}, stored {stored!r}"


def outcome_difference(stored: ProbeOutcome, fresh: ProbeOutcome) -> str | None:
    if stored.status != fresh.status:
        return f"status {fresh.status}, stored {stored.status}"
    return difference(stored.values, fresh.values)
