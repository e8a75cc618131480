"""The side of a probe that runs next to the code being graded.

The grader sends this file's source into the student's kernel and calls `run_probe` there; the
same function runs in the grader's own process against the reference solution, so both sides
encode their results identically.

Contract: inputs arrive in a safetensors file (tensors, plus JSON in its metadata); the result
leaves as a safetensors file of tensors plus a JSON description of everything else. Nothing is
pickled in either direction, so the grader only ever parses data. Whatever this code says about
itself is not trusted: a student can replace any of it, and can only change their own outputs.

Only the standard library, torch and safetensors may be imported here.
"""

import json
import random
import traceback

REPR_LIMIT = 200
MAX_ITEMS = 10_000


def _tensor_meta(t):
    return {
        "dtype": str(t.dtype).replace("torch.", ""),
        "shape": list(t.shape),
        "device": str(t.device),
        "requires_grad": bool(t.requires_grad),
        "is_leaf": bool(t.is_leaf),
        "grad_fn": type(t.grad_fn).__name__ if t.grad_fn is not None else None,
    }


def _encode(value, tensors, depth=0):
    """Turn a probe's return value into JSON, moving tensors aside into `tensors`."""
    import torch

    if depth > 20:
        return {"__object__": type(value).__name__, "repr": "<nested too deep>"}
    if value is None or isinstance(value, (bool, str)):
        return value if not isinstance(value, str) else value[:10_000]
    if isinstance(value, torch.Tensor):
        key = "t%d" % len(tensors)
        t = value.detach().to("cpu")
        if t.dtype == torch.bfloat16 or t.dtype == torch.float16:
            stored = t.to(torch.float32)  # numpy on the grader side has no bfloat16
        elif t.is_complex():
            return {"__object__": "Tensor", "repr": "complex tensor (not supported)", **_tensor_meta(value)}
        else:
            stored = t
        tensors[key] = stored.contiguous().clone()
        return {"__tensor__": key, **_tensor_meta(value)}
    if isinstance(value, torch.Size):
        return {"__tuple__": [int(v) for v in value]}
    if isinstance(value, torch.dtype):
        return {"__dtype__": str(value).replace("torch.", "")}
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if type(value).__module__ == "numpy":
        try:
            if getattr(value, "ndim", None) == 0 or not hasattr(value, "shape"):
                item = value.item()
                if isinstance(item, (bool, int, float)):
                    return item
            return {"__ndarray__": _encode(torch.as_tensor(value), tensors, depth + 1)}
        except Exception:
            pass
    if isinstance(value, (list, tuple)) and len(value) <= MAX_ITEMS:
        items = [_encode(v, tensors, depth + 1) for v in value]
        return items if isinstance(value, list) else {"__tuple__": items}
    if isinstance(value, dict) and len(value) <= MAX_ITEMS and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: _encode(v, tensors, depth + 1) for k, v in value.items()}}
    try:
        text = repr(value)[:REPR_LIMIT]
    except BaseException:  # a student's __repr__ may do anything
        text = "<unrepresentable>"
    return {"__object__": type(value).__name__, "repr": text}


def _load_inputs(in_path):
    from safetensors import safe_open

    tensors = {}
    with safe_open(in_path, framework="pt") as f:
        meta = json.loads((f.metadata() or {}).get("json", "{}"))
        for key in f.keys():
            tensors[key] = f.get_tensor(key)
    return tensors, meta


def _library_dirs():
    """Where installed code lives (the standard library, site-packages): never the student's lines."""
    import sysconfig

    paths = sysconfig.get_paths()
    return tuple(paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(k))


def _is_notebook_file(filename):
    """Code of the notebook itself: an ipykernel cell file, an IPython input, or a solution cell."""
    return "ipykernel_" in filename or filename.startswith("<ipython-input") or filename.startswith("<solution cell")


def _student_frames(exc):
    """The innermost frames of the student's own code, as 'line N: code' (innermost last).

    Frames inside libraries (torch, numpy) are left out: the student's line that called them is
    where the fix goes. Frames of the notebook's cells come first when there are any.
    """
    libraries = _library_dirs()
    frames = [
        fr for fr in traceback.extract_tb(exc.__traceback__)
        if "<grader" not in fr.filename and "probe_runtime" not in fr.filename
        and not fr.filename.startswith(libraries)
    ]
    own = [fr for fr in frames if _is_notebook_file(fr.filename)]
    return ["line %s: %s" % (fr.lineno, (fr.line or "").strip()[:300]) for fr in (own or frames)[-3:]]


def run_probe(user_ns, probe_source, probe_name, uses, in_path, out_path, seed):
    """Call the probe function `probe_name` (defined by `probe_source`) and write its result."""
    import torch
    from safetensors.torch import save_file

    result: dict = {"status": "ok", "values": None, "error": None, "missing": []}
    tensors: dict = {}
    missing = [name for name in uses if name not in user_ns]
    if missing:
        result["status"] = "missing"
        result["missing"] = missing
    else:
        arrays, scalars = _load_inputs(in_path)
        kwargs = dict(scalars)
        kwargs.update(arrays)
        random.seed(seed)
        torch.manual_seed(seed)
        try:
            import numpy

            numpy.random.seed(seed % (2**32))
        except ImportError:
            pass
        probe_globals: dict = {"__name__": "__grader_probe__"}
        exec(compile(probe_source, "<grader-probe:%s>" % probe_name, "exec"), probe_globals)
        try:
            values = probe_globals[probe_name](user_ns, **kwargs)
            result["values"] = _encode(values, tensors)
        except Exception as exc:
            result["status"] = "error"
            result["values"] = None
            tensors.clear()
            message = str(exc).strip().splitlines()
            result["error"] = {
                "type": type(exc).__name__,
                "message": (message[0] if message else "")[:500],
                "where": _student_frames(exc),
            }
    save_file(tensors, out_path, metadata={"result": json.dumps(result)})
