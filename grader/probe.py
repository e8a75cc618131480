"""The grader's side of the probe channel: inputs out, plain data back in.

A probe's result file comes from the student's process, so it is treated as hostile input:
its size is bounded before it is opened, its header is bounded before it is parsed, it is parsed by
safetensors (a format with no code in it) and every field of its JSON is validated by pydantic
(types, ranges, lengths, which fields go together) before anything looks at it. A result that
fails any of this is an "invalid result" of that one check, never an exception in the grader.
"""

from __future__ import annotations

import inspect
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    model_validator,
)
from safetensors.numpy import load, save

from grader import probe_runtime
from grader.sandbox import safe_io

# Reading a result holds it twice for a moment (the file, then its tensors): 2 x 48 MB stays
# within the grader's memory allowance (+100 MB over an honest grading). Honest results are far
# smaller (hw6's, with two state dicts of a typical CIFARNet: ~2 MB).
MAX_RESULT_BYTES = 48 * 1024 * 1024
# The JSON header (shapes, names, scalars, lists): honest results need well under 1 MB (hw6's
# training record of 100 000 modes is ~1 MB); parsing is bounded before it starts.
MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64  # nesting of lists, tuples and dicts in a result (the runtime writes at most 21)
MAX_DIM = 1 << 40
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


def _cut(limit: int) -> AfterValidator:
    """Truncate (do not reject) text an honest probe may produce at any length, e.g. a long line."""
    return AfterValidator(lambda text: text if len(text) <= limit else text[:limit] + "…")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorInfo(_Wire):
    """An exception raised by the student's code, as the probe runtime describes it."""

    type: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    message: Annotated[StrictStr, _cut(500)] = ""
    where: list[Annotated[StrictStr, _cut(300)]] = Field(default_factory=list, max_length=20)

    def describe(self) -> str:
        text = f"{self.type}: {self.message}" if self.message else self.type
        return f"{text} ({self.where[-1]})" if self.where else text


class _WireResult(_Wire):
    status: Literal["ok", "error", "missing"]
    values: Any = None
    error: ErrorInfo | None = None
    missing: list[Annotated[StrictStr, Field(min_length=1, max_length=200)]] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> _WireResult:
        if (self.status == "error") != (self.error is not None):
            raise ValueError("an error result must describe its error, and only an error result may")
        if (self.status == "missing") != bool(self.missing):
            raise ValueError("a missing result must name what is missing, and only a missing result may")
        if self.status != "ok" and self.values is not None:
            raise ValueError("only an ok result has values")
        return self


class _TensorRef(_Wire):
    key: Annotated[StrictStr, Field(alias="__tensor__", max_length=64)]
    dtype: Annotated[StrictStr, Field(min_length=1, max_length=32)]
    shape: list[Annotated[int, Field(strict=True, ge=0, le=MAX_DIM)]] = Field(max_length=32)
    device: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    requires_grad: StrictBool
    is_leaf: StrictBool
    grad_fn: Annotated[StrictStr, Field(max_length=200)] | None


class _ObjectRef(_Wire):
    type_name: Annotated[StrictStr, Field(alias="__object__", max_length=200)]
    repr: Annotated[StrictStr, _cut(1000)] = ""
    # A tensor the runtime could not store (complex) keeps its description.
    dtype: Annotated[StrictStr, Field(max_length=32)] | None = None
    shape: list[Annotated[int, Field(strict=True, ge=0, le=MAX_DIM)]] | None = Field(default=None, max_length=32)
    device: Annotated[StrictStr, Field(max_length=64)] | None = None
    requires_grad: StrictBool | None = None
    is_leaf: StrictBool | None = None
    grad_fn: Annotated[StrictStr, Field(max_length=200)] | None = None


class _DtypeRef(_Wire):
    name: Annotated[StrictStr, Field(alias="__dtype__", max_length=32)]


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
    return kernel_batch_call([(source, name, uses, in_path, out_path, seed)])


def kernel_batch_call(calls: list[tuple[str, str, list[str], Path, Path, int]]) -> str:
    """One cell running probes in order: (source, name, uses, in_path, out_path, seed) each. Each
    result file is written as its probe ends, so the grader sees progress; an exception other
    than the student's `Exception`s (an interrupt, SystemExit) ends the cell there."""
    specs = ", ".join("(" + ", ".join(repr(a) for a in (src, name, uses, str(i), str(o), seed)) + ")"
                      for src, name, uses, i, o, seed in calls)
    return (
        f"(lambda rt: (exec(compile({RUNTIME_SOURCE!r}, '<grader-runtime>', 'exec'), rt),"
        f" [rt['run_probe'](globals(), *spec) for spec in [{specs}]]))({{'__name__': '__grader_runtime__'}})\n"
        "None"  # keep the tuple above from being displayed as the cell's result
    )


class _Invalid(ValueError):
    """A result that no honest probe writes: said in plain words, without quoting its values."""


def _decode(value: Any, arrays: dict[str, np.ndarray], depth: int = 0) -> Any:
    """The JSON description of a probe's value, back into Python values; every node validated."""
    if depth > MAX_DEPTH:
        raise _Invalid("it is nested too deeply")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        if len(value) > 10_000:  # the runtime cuts strings at 10 000 characters
            raise _Invalid("it holds a string longer than a probe writes")
        return value
    if isinstance(value, list):
        return [_decode(v, arrays, depth + 1) for v in value]
    if not isinstance(value, dict):
        raise _Invalid("it holds a value of an unknown kind")
    if "__tensor__" in value:
        ref = _TensorRef.model_validate(value)
        array = arrays.get(ref.key)
        if array is None:
            raise _Invalid("a tensor it describes is not stored in it")
        if tuple(array.shape) != tuple(ref.shape):
            raise _Invalid("a tensor's shape differs from its description")
        return TensorValue(array=array, dtype=ref.dtype, shape=tuple(ref.shape), device=ref.device,
                           requires_grad=ref.requires_grad, is_leaf=ref.is_leaf, grad_fn=ref.grad_fn)
    if len(value) != 1 and "__object__" not in value:
        raise _Invalid("it holds a value of an unknown kind")
    if "__tuple__" in value:
        items = value["__tuple__"]
        if not isinstance(items, list):
            raise _Invalid("a tuple in it is not a list of values")
        return tuple(_decode(v, arrays, depth + 1) for v in items)
    if "__dict__" in value:
        entries = value["__dict__"]
        if not isinstance(entries, dict):
            raise _Invalid("a dict in it is not a mapping")
        return {str(k)[:200]: _decode(v, arrays, depth + 1) for k, v in entries.items()}
    if "__ndarray__" in value:
        return _decode(value["__ndarray__"], arrays, depth + 1)
    if "__dtype__" in value:
        return ObjectValue("dtype", _DtypeRef.model_validate(value).name)
    if "__object__" in value:
        obj = _ObjectRef.model_validate(value)
        return ObjectValue(obj.type_name, obj.repr)
    raise _Invalid("it holds a value of an unknown kind")


def _safetensors_metadata(data: bytes) -> dict[str, str] | None:
    """The `__metadata__` of a safetensors file held in memory (an 8-byte length, then JSON)."""
    if len(data) < 8:
        raise _Invalid("it is not a safetensors file")
    size = int.from_bytes(data[:8], "little")
    if size > MAX_HEADER_BYTES:
        raise _Invalid(f"its description is larger than {MAX_HEADER_BYTES >> 20} MB")
    if size > len(data) - 8:
        raise _Invalid("it is not a safetensors file")
    header = json.loads(data[8:8 + size])
    if not isinstance(header, dict):
        raise _Invalid("it is not a safetensors file")
    meta = header.get("__metadata__")
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise _Invalid("it is not a safetensors file")
    return meta


def read_result(path: Path, uses: tuple[str, ...] | list[str] | None = None) -> ProbeOutcome:
    """Read and validate a probe's result file; ProbeResultError (plain words) if it is not valid.

    `uses`: the names the probe calls; a "missing" result may only name those.
    """
    try:  # never through a symlink, never a FIFO or device, never more than the bound
        data = safe_io.read_bytes(path, MAX_RESULT_BYTES)
    except FileNotFoundError:
        raise ProbeResultError("the probe wrote no result") from None
    except OSError as exc:
        raise ProbeResultError(f"the probe's result could not be read ({exc})") from None
    try:
        meta = (_safetensors_metadata(data) or {}).get("result")
        if meta is None:
            raise _Invalid("it has no result description")
        wire = _WireResult.model_validate(json.loads(meta))
        if uses is not None and not set(wire.missing) <= set(uses):
            raise _Invalid("it names as missing a function the check does not use")
        arrays = load(data) if wire.status == "ok" else {}
        values = _decode(wire.values, arrays) if wire.status == "ok" else {}
    except _Invalid as exc:
        raise ProbeResultError(f"invalid result: {exc}") from None
    except ValidationError as exc:
        errors = exc.errors()
        field = ".".join(str(part)[:40] for part in errors[0]["loc"])[:120] if errors else ""
        what = str(errors[0]["msg"])[:120] if errors else "not valid"
        raise ProbeResultError(f"invalid result: {field or 'a field'}: {what}") from None
    except Exception as exc:  # ValidationError, JSON errors, RecursionError, safetensors errors, ...
        raise ProbeResultError(f"invalid result: it is not what a probe writes ({type(exc).__name__})") from None
    finally:
        del data
    if wire.status == "ok" and not isinstance(values, dict):
        values = {"value": values}
    return ProbeOutcome(status=wire.status, values=values, error=wire.error, missing=list(wire.missing))
