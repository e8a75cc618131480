"""Pieces in isolation: marks, stub generation, the probe wire format, judging helpers."""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from grader import probe_runtime
from grader.author.stub import PLACEHOLDER, MarkerError, strip_solutions
from grader.checks import Fail, judging
from grader.judge import assert_close, describe
from grader.notebook import cell_marks, defined_names
from grader.probe import ObjectValue, ProbeResultError, TensorValue, read_result, write_inputs
from grader.report import GradeReport, Submission, read_report, write_report


def test_marks_from_comment_lines_and_tags():
    cell = nbformat.v4.new_code_cell("x = 1\n#| grade: softmax, cross_entropy\ndef softmax(X): ...")
    cell.metadata["tags"] = ["grade:accuracy", "other"]
    assert cell_marks(cell) == ["accuracy", "softmax", "cross_entropy"]
    assert cell_marks(nbformat.v4.new_code_cell("# grade: softmax")) == []


def test_defined_names_ignores_unparseable_cells():
    assert defined_names("def f():\n  pass\nclass C: pass\nx = y = 2") == {"f", "C", "x", "y"}
    assert defined_names("%matplotlib inline\ndef f(): pass") == set()


def test_strip_solutions_keeps_indentation_and_rejects_bad_markers():
    source = "def f(x):\n    \"\"\"doc\"\"\"\n    #| begin solution\n    return x + 1\n    #| end solution\n"
    assert strip_solutions(source, "c") == f"def f(x):\n    \"\"\"doc\"\"\"\n    {PLACEHOLDER}"
    with pytest.raises(MarkerError):
        strip_solutions("#| begin solution\nx = 1", "c")
    with pytest.raises(MarkerError):
        strip_solutions("#| end solution", "c")


def _probe(ns, X, k):
    return {"out": ns["f"](X) * k, "shape": ns["f"](X).shape, "items": [1, 2.5, "a", None], "gen": (i for i in [])}


def test_probe_round_trip_through_files(tmp_path):
    import inspect

    write_inputs(tmp_path / "in", {"X": np.arange(6, dtype=np.float32).reshape(2, 3), "k": 2})
    probe_runtime.run_probe({"f": lambda X: X + 1}, inspect.getsource(_probe), "_probe", ["f"],
                            str(tmp_path / "in"), str(tmp_path / "out"), 0)
    outcome = read_result(tmp_path / "out")
    assert outcome.status == "ok"
    out = outcome.values["out"]
    assert isinstance(out, TensorValue) and out.dtype == "float32" and out.shape == (2, 3)
    assert out.array.tolist() == [[2, 4, 6], [8, 10, 12]]
    assert outcome.values["shape"] == (2, 3)
    assert outcome.values["items"] == [1, 2.5, "a", None]
    assert isinstance(outcome.values["gen"], ObjectValue) and outcome.values["gen"].type_name == "generator"


def test_probe_reports_missing_names_and_student_errors(tmp_path):
    import inspect

    write_inputs(tmp_path / "in", {"X": np.zeros((1, 1), dtype=np.float32), "k": 1})
    probe_runtime.run_probe({}, inspect.getsource(_probe), "_probe", ["f"], str(tmp_path / "in"), str(tmp_path / "o1"), 0)
    assert read_result(tmp_path / "o1").missing == ["f"]

    def f(X):
        raise ValueError("bad shape\nsecond line")

    probe_runtime.run_probe({"f": f}, inspect.getsource(_probe), "_probe", ["f"], str(tmp_path / "in"), str(tmp_path / "o2"), 0)
    outcome = read_result(tmp_path / "o2")
    assert outcome.status == "error" and outcome.error.type == "ValueError" and outcome.error.message == "bad shape"


@pytest.mark.parametrize("content", [b"", b"\x80\x04not safetensors", b"{}" * 10])
def test_garbage_result_files_are_rejected(tmp_path, content):
    path = tmp_path / "out"
    path.write_bytes(content)
    with pytest.raises(ProbeResultError):
        read_result(path)


def test_forged_result_structure_is_rejected(tmp_path):
    path = tmp_path / "out"
    save_file({"t0": torch.zeros(3)}, str(path), metadata={"result": json.dumps(
        {"status": "ok", "values": {"__dict__": {"out": {"__tensor__": "t0", "shape": [4], "dtype": "float32",
         "device": "cpu", "requires_grad": False, "is_leaf": True, "grad_fn": None}}}})})
    with pytest.raises(ProbeResultError, match="shape"):
        read_result(path)
    save_file({}, str(path), metadata={"result": json.dumps({"status": "passed", "score": 100})})
    with pytest.raises(ProbeResultError):
        read_result(path)


def test_assert_close_messages():
    with pytest.raises(Fail, match=r"has shape \(2,\), expected \(3,\)"):
        assert_close(np.zeros(2), np.zeros(3), "x", 1e-5, 1e-6)
    with pytest.raises(Fail, match="contains NaN"):
        assert_close(np.array([np.nan, 1.0]), np.array([0.0, 1.0]), "x", 1e-5, 1e-6)
    with pytest.raises(Fail, match=r"at index \(1,\): got 2, expected 1"):
        assert_close(np.array([1.0, 2.0]), np.array([1.0, 1.0]), "x", 1e-5, 1e-6)
    assert_close(np.array([1.0 + 1e-7]), np.array([1.0]), "x", 1e-5, 1e-6)


def test_describe_values():
    assert describe([1, 2]) == "a list of 2 items"
    assert describe(None) == "None"
    tv = TensorValue(np.zeros((2, 2), np.float32), "float32", (2, 2), "cpu", False, True, None)
    assert describe(tv) == "a float32 tensor of shape (2, 2)"


def test_report_written_atomically_and_read_back(tmp_path):
    report = GradeReport(assignment="hw3", score=1, max_score=2, status="graded",
                         submission=Submission(path="x.ipynb"), grader_version="0")
    write_report(report, tmp_path / "sub" / "r.json")
    assert read_report(tmp_path / "sub" / "r.json") == report
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["r.json"]
    assert report.percent == 50.0


def test_hidden_check_errors_do_not_quote_the_exception_text():
    from grader.checks import Check, Probe
    from grader.probe import ErrorInfo, ProbeOutcome
    from grader.scoring import Context, score_check

    def probe(ns, X):
        return {}

    error = ErrorInfo(type="RuntimeError", message="size of tensor a (17) must match b (5)", where=["line 3: return X / s"])
    outcome = ProbeOutcome("error", {}, error=error)
    ctx = Context(cell_of={}, cells={}, reference_available=True)
    hidden = Check("h", 1, Probe("p", probe, ("f",), hidden=True), judge=lambda s, e: None, error_hint="use keepdim")
    public = Check("p", 1, Probe("q", probe, ("f",)), judge=lambda s, e: None)
    hidden_message = score_check(hidden, outcome, None, ctx).message
    assert "17" not in hidden_message and "RuntimeError" in hidden_message and "line 3" in hidden_message
    assert "use keepdim" in hidden_message
    assert "(17)" in score_check(public, outcome, None, ctx).message


def test_hidden_comparisons_name_no_shape_index_or_value():
    cases = [(np.zeros((17, 3)), np.zeros((5, 3))), (np.array([np.nan, 1.0]), np.array([0.0, 1.0])),
             (np.array([1.0, 2.5]), np.array([1.0, 1.0]))]
    for actual, expected in cases:
        with pytest.raises(Fail) as hidden, judging(True):
            assert_close(actual, expected, "x", 1e-5, 1e-6, hint="use keepdim")
        with pytest.raises(Fail) as public:
            assert_close(actual, expected, "x", 1e-5, 1e-6, hint="use keepdim")
        assert "hidden input" in hidden.value.message and hidden.value.message.endswith(": use keepdim")
        assert not any(s in hidden.value.message for s in ("17", "2.5", "index", "(5, 3)"))
        assert any(s in public.value.message for s in ("17", "2.5", "index"))
