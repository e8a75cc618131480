"""Hostile probe results: the result file comes from the student's process.

Every field of the wire format is validated; a result no honest probe writes is an "invalid
result" of that one check, in plain words, never an exception in the grader.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from safetensors.numpy import save

from grader.probe import MAX_HEADER_BYTES, ProbeResultError, read_result
from tests.helpers import by_name, grade, solution, with_cells

GOOD_TENSOR = {"__tensor__": "t0", "dtype": "float32", "shape": [2, 3], "device": "cpu", "requires_grad": False,
               "is_leaf": True, "grad_fn": None}


def result_file(tmp_path, result: object, arrays: dict | None = None):
    path = tmp_path / "probe.out"
    meta = result if isinstance(result, str) else json.dumps(result)
    path.write_bytes(save(arrays if arrays is not None else {"t0": np.zeros((2, 3), np.float32)},
                          metadata={"result": meta}))
    return path


def ok(values: object) -> dict:
    return {"status": "ok", "values": values, "error": None, "missing": []}


def test_an_honest_result_reads_back(tmp_path):
    outcome = read_result(result_file(tmp_path, ok({"__dict__": {"y": GOOD_TENSOR, "n": 3, "t": {"__tuple__": [1, 2]}}})))
    assert outcome.status == "ok" and outcome.values["y"].shape == (2, 3) and outcome.values["t"] == (1, 2)
    outcome = read_result(result_file(tmp_path, {"status": "error", "values": None, "missing": [],
                                                 "error": {"type": "ValueError", "message": "", "where": []}}))
    assert outcome.status == "error" and outcome.error is not None and outcome.error.type == "ValueError"


IMPOSSIBLE = {
    "error without error": {"status": "error", "values": None, "error": None, "missing": []},
    "error with empty type": {"status": "error", "values": None, "missing": [],
                              "error": {"type": "", "message": "x", "where": []}},
    "error type not a string": {"status": "error", "values": None, "missing": [],
                                "error": {"type": 3, "message": "x", "where": []}},
    "huge type name": {"status": "error", "values": None, "missing": [],
                       "error": {"type": "E" * 100_000, "message": "x", "where": []}},
    "where not a list": {"status": "error", "values": None, "missing": [],
                         "error": {"type": "E", "message": "x", "where": "line 1"}},
    "too many frames": {"status": "error", "values": None, "missing": [],
                        "error": {"type": "E", "message": "x", "where": ["l"] * 10_000}},
    "missing names nothing": {"status": "missing", "values": None, "error": None, "missing": []},
    "missing names another function": {"status": "missing", "values": None, "error": None, "missing": ["os"]},
    "ok with an error": {"status": "ok", "values": 1, "missing": [], "error": {"type": "E", "message": "", "where": []}},
    "unknown status": {"status": "passed", "values": 1, "error": None, "missing": []},
    "extra field": {"status": "ok", "values": 1, "error": None, "missing": [], "score": 18},
    "not an object": [1, 2, 3],
    "negative shape": ok(GOOD_TENSOR | {"shape": [-2, -3]}),
    "huge shape": ok(GOOD_TENSOR | {"shape": [2**62, 3]}),
    "shape of strings": ok(GOOD_TENSOR | {"shape": ["2", "3"]}),
    "shape not matching": ok(GOOD_TENSOR | {"shape": [3, 2]}),
    "tensor not stored": ok(GOOD_TENSOR | {"__tensor__": "t9"}),
    "tensor key not a string": ok(GOOD_TENSOR | {"__tensor__": ["t0"]}),
    "requires_grad not a bool": ok(GOOD_TENSOR | {"requires_grad": "yes"}),
    "tensor without dtype": ok({k: v for k, v in GOOD_TENSOR.items() if k != "dtype"}),
    "tuple of a dict": ok({"__tuple__": {"a": 1}}),
    "dict of a list": ok({"__dict__": [1, 2]}),
    "unknown encoding": ok({"__pickle__": "gASV"}),
    "two encodings": ok({"__tuple__": [1], "__dict__": {}}),
    "deep nesting": ok(json.loads("[" * 500 + "]" * 500)),
    "very deep nesting": "{\"status\": \"ok\", \"values\": " + "[" * 100_000 + "]" * 100_000 + "}",
    "huge integer": '{"status": "ok", "values": ' + "9" * 10_000 + ', "error": null, "missing": []}',
    "not json": "{not json",
    "long string": ok("x" * 20_000),
}


@pytest.mark.parametrize("name", sorted(IMPOSSIBLE))
def test_an_impossible_result_is_an_invalid_result_in_plain_words(tmp_path, name):
    with pytest.raises(ProbeResultError) as caught:
        read_result(result_file(tmp_path, IMPOSSIBLE[name]), uses=("softmax",))
    message = str(caught.value)
    assert message.startswith("invalid result") and len(message) < 200
    assert "Traceback" not in message


def test_a_header_larger_than_the_bound_is_not_parsed(tmp_path):
    path = tmp_path / "probe.out"
    path.write_bytes(struct.pack("<Q", MAX_HEADER_BYTES + 1) + b"{" + b" " * (MAX_HEADER_BYTES + 1))
    with pytest.raises(ProbeResultError, match="larger than"):
        read_result(path)


@pytest.mark.parametrize("data", [b"", b"\x01", struct.pack("<Q", 2**63) + b"{}", struct.pack("<Q", 2) + b"[]"])
def test_truncated_or_odd_files_are_invalid(tmp_path, data):
    path = tmp_path / "probe.out"
    path.write_bytes(data)
    with pytest.raises(ProbeResultError):
        read_result(path)


# A notebook that forges every probe's result by replacing the function that writes it.
FORGE = r'''
import json, safetensors.torch as _st
def _forged(tensors, path, metadata=None):
    with open(path, "wb") as fh:
        header = json.dumps({"__metadata__": {"result": json.dumps(%s)}}).encode()
        fh.write(len(header).to_bytes(8, "little") + header)
_st.save_file = _forged
'''


@pytest.mark.parametrize("forged", [
    {"status": "error", "values": None, "error": None, "missing": []},
    {"status": "error", "values": None, "missing": [], "error": {"type": "[/]\x1b[2J" * 1000, "message": "", "where": []}},
    {"status": "ok", "values": {"__tensor__": "t0", "dtype": "float32", "shape": [-1], "device": "cpu",
                                "requires_grad": False, "is_leaf": True, "grad_fn": None}, "error": None, "missing": []},
], ids=["error without text", "markup type name", "negative shape"])
def test_forged_results_cost_the_checks_and_still_give_a_report(tmp_path, forged):
    nb = with_cells(solution("hw3"), append=[FORGE % json.dumps(forged)])
    report = grade(nb, tmp_path, probe_timeout_s=20)
    assert report.status == "graded" and report.score == 0 and report.max_score == 18
    first = by_name(report)["softmax: values on a non-square batch"]
    assert first.status == "error" and "invalid result" in first.message, first.message


def test_error_outputs_count_toward_the_output_cap():
    import nbformat

    from grader.sandbox.output import CappedNotebookClient

    client = CappedNotebookClient(nbformat.v4.new_notebook())
    client.clear_before_next_output = False  # set by nbclient when a cell starts
    outs: list = []
    msg = {"msg_type": "error", "header": {"msg_type": "error"}, "parent_header": {}, "metadata": {},
           "content": {"ename": "ValueError", "evalue": "x", "traceback": ["y" * 400_000]}}
    for _ in range(20):  # 8 MB of tracebacks
        client.output(outs, msg, None, 0)
    kept = sum(len("".join(o.get("traceback", []))) for o in outs)
    assert kept <= client.output_limit and any("truncated" in o.get("text", "") for o in outs)


def test_a_result_file_larger_than_the_bound_is_not_read(tmp_path):
    from grader.probe import MAX_RESULT_BYTES

    path = tmp_path / "probe.out"
    with open(path, "wb") as fh:
        fh.truncate(MAX_RESULT_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(ProbeResultError, match="larger than"):
        read_result(path)
