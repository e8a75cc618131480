"""The grader's side of the probe channel: inputs out, plain data back in.

A probe's result file comes from the student's process, so it is treated as hostile input:
its size is bounded before it is opened, it is parsed by safetensors (a format with no code in
it) and its JSON is validated by pydantic before anything looks at it.
"""

from __future__ import annotations

import inspect
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError
from safetensors.numpy import load, save

from grader import probe_runtime
from grader.sandbox import safe_io

MAX_RESULT_BYTES = 256 * 1024 * 1024
RUNTIME_SOURCE = inspect.getsource(probe_runtime)


@dataclass(frozen=True)
class TensorValue:
    """A tensor as the probe saw it: values plus the metadata checks care about."""

    array: np.ndarray
    dtype: str
    shape: tuple[int, ...]
    device: str
    requires_grad: bool
    is_leaf: bool
    grad_fn: str | None


@dataclass(frozen=True)
class ObjectValue:
    """Something that is not data (a generator, a module, a student's own class): type and repr only."""

    type_name: str
    repr: str


class ErrorInfo(BaseModel):
    type: str
    message: str = ""
    where: list[str] = Field(default_factory=list)

    def describe(self) -> str:
        text = f"{self.type}: {self.message}" if self.message else self.type
        return f"{text} ({self.where[-1]})" if self.where else text


class _WireResult(BaseModel):
    status: Literal["ok", "error", "missing"]
    values: Any = None
    error: ErrorInfo | None = None
    missing: list[str] = Field(default_factory=list)


@dataclass
class ProbeOutcome:
    """What one probe returned. `status` adds the grader's own findings to the wire status."""

    status: Literal["ok", "error", "missing", "timeout", "dead", "invalid"]
    values: dict[str, Any]
    error: ErrorInfo | None = None
    missing: list[str] | None = None
    detail: str = ""
    duration_s: float = 0.0


class ProbeResultError(Exception):
    """The result file is absent, too big or not what a probe writes."""


def write_inputs(path: Path, inputs: dict[str, Any]) -> None:
    arrays = {k: np.ascontiguousarray(v) for k, v in inputs.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in inputs.items() if not isinstance(v, np.ndarray)}
    # Via a temporary file and a rename: a symlink planted at `path` is replaced, not followed.
    safe_io.write_bytes(path, save(arrays, metadata={"json": json.dumps(scalars)}))


def probe_source(fn: Any, helpers: tuple[Any, ...] = ()) -> str:
    return "\n\n".join(textwrap.dedent(inspect.getsource(f)) for f in (*helpers, fn))


def kernel_call(source: str, name: str, uses: list[str], in_path: Path, out_path: Path, seed: int) -> str:
    """The code executed in the student's kernel for one probe: defines nothing in their namespace."""
    args = ", ".join(repr(a) for a in (source, name, uses, str(in_path), str(out_path), seed))
    return (
        f"(lambda rt: (exec(compile({RUNTIME_SOURCE!r}, '<grader-runtime>', 'exec'), rt),"
        f" rt['run_probe'](globals(), {args})))({{'__name__': '__grader_runtime__'}})\n"
        "None"  # keep the tuple above from being displayed as the cell's result
    )


def _decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        key = value["__tensor__"]
        if key not in arrays:
            raise ProbeResultError(f"tensor {key!r} is described but not stored")
        array = arrays[key]
        shape = tuple(int(s) for s in value.get("shape", array.shape))
        if tuple(array.shape) != shape:
            raise ProbeResultError(f"tensor {key!r} has shape {array.shape}, described as {shape}")
        return TensorValue(
            array=array,
            dtype=str(value.get("dtype", array.dtype)),
            shape=shape,
            device=str(value.get("device", "cpu")),
            requires_grad=bool(value.get("requires_grad", False)),
            is_leaf=bool(value.get("is_leaf", True)),
            grad_fn=value.get("grad_fn"),
        )
    if "__tuple__" in value:
        return tuple(_decode(v, arrays) for v in value["__tuple__"])
    if "__dict__" in value:
        return {str(k): _decode(v, arrays) for k, v in value["__dict__"].items()}
    if "__ndarray__" in value:
        return _decode(value["__ndarray__"], arrays)
    if "__dtype__" in value:
        return ObjectValue("dtype", str(value["__dtype__"]))
    if "__object__" in value:
        return ObjectValue(str(value["__object__"]), str(value.get("repr", ""))[:200])
    raise ProbeResultError("unknown value encoding")


def _safetensors_metadata(data: bytes) -> dict[str, str] | None:
    """The `__metadata__` of a safetensors file held in memory (an 8-byte length, then JSON)."""
    size = int.from_bytes(data[:8], "little")
    if len(data) < 8 or size > len(data) - 8:
        raise ValueError("not a safetensors file")
    return json.loads(data[8:8 + size]).get("__metadata__")


def read_result(path: Path) -> ProbeOutcome:
    try:  # never through a symlink, never a FIFO or device, never more than the bound
        data = safe_io.read_bytes(path, MAX_RESULT_BYTES)
    except FileNotFoundError:
        raise ProbeResultError("the probe wrote no result") from None
    except OSError as exc:
        raise ProbeResultError(f"the probe's result could not be read ({exc})") from None
    try:
        meta = (_safetensors_metadata(data) or {}).get("result", "")
        arrays = load(data)
        wire = _WireResult.model_validate(json.loads(meta))
    except (ValidationError, ValueError, OSError, Exception) as exc:
        raise ProbeResultError(f"the probe's result could not be read ({type(exc).__name__})") from None
    values = _decode(wire.values, arrays) if wire.status == "ok" else {}
    if wire.status == "ok" and not isinstance(values, dict):
        values = {"value": values}
    return ProbeOutcome(status=wire.status, values=values, error=wire.error, missing=wire.missing)
