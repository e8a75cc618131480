"""check() in the student's own kernel: the public rows of `grade`, for feedback only.

These run a real IPython kernel (jupyter_client), started from the hw3 stub, as a student's
Jupyter would.
"""

from __future__ import annotations

import json
import re
import textwrap

import pytest
from jupyter_client.manager import start_new_kernel

from grader.course import Course
from grader.live import LiveCheckError, run_checks
from tests.helpers import ROOT, by_name, grade, solution, stub, with_cells

GOOD_SOFTMAX = """
def softmax(X):
    X_exp = torch.exp(X - X.max(dim=1, keepdim=True).values)
    return X_exp / X_exp.sum(dim=1, keepdim=True)
"""
# The typical mistake: row sums without keepdim broadcast along the wrong axis.
BAD_SOFTMAX = """
def softmax(X):
    X_exp = torch.exp(X)
    return X_exp / X_exp.sum(dim=1)
"""


@pytest.fixture(scope="module")
def kernel():
    """A kernel that ran the hw3 stub's code cells, then a correct softmax, cwd in the checkout (as
    Jupyter would). Each test starts from that state: pytest-xdist may give this module's tests to
    different workers, so none may rely on another having run first."""
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(ROOT))
    try:
        for stub_cell in stub("hw3").cells:
            if stub_cell.cell_type == "code" and "#| grade:" in stub_cell.source:  # definitions, not demos
                run(kc, stub_cell.source)
        run(kc, cell(GOOD_SOFTMAX))
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def cell(source: str) -> str:
    """A graded cell exactly as tests.helpers.with_cells writes it (so line numbers agree)."""
    return "#| grade: softmax\n" + textwrap.dedent(source).strip() + "\n"


def run(kc, code: str) -> str:
    """Execute `code`; return everything it printed or displayed as plain text."""
    out: list[str] = []

    def hook(msg):
        content = msg["content"]
        if msg["msg_type"] == "stream":
            out.append(content["text"])
        elif msg["msg_type"] in ("display_data", "execute_result"):
            out.append(content["data"].get("text/plain", ""))
        elif msg["msg_type"] == "error":
            out.append("\n".join(content["traceback"]))

    reply = kc.execute_interactive(textwrap.dedent(code), output_hook=hook, timeout=120)
    assert reply["content"]["status"] == "ok", "".join(out)
    return "".join(out)


def live(kc, call: str) -> tuple[dict, float, str]:
    printed = run(kc, f"""
        import json as _json, time as _time
        from grader import check
        _t = _time.perf_counter()
        _r = {call}
        _elapsed = _time.perf_counter() - _t
        print("@@" + _json.dumps({{"elapsed": _elapsed,
              "rows": {{r.name: [r.status, r.score, r.max_score, r.message] for r in _r.results}}}}))
    """)
    payload = json.loads(printed.split("@@")[-1].strip().splitlines()[0])
    return payload["rows"], payload["elapsed"], printed


def test_correct_softmax_passes_its_public_rows_in_the_kernel(kernel):
    run(kernel, cell(GOOD_SOFTMAX))
    run(kernel, 'from grader import check\ncheck("softmax")')  # warm: the first import of numpy/pydantic
    rows, elapsed, printed = live(kernel, 'check("softmax")')
    course = Course.locate(ROOT)
    public = [c.name for c in course.load("hw3").checks if c.probe.uses == ("softmax",) and not c.hidden]
    assert public and set(rows) == set(public)
    assert all(status == "passed" for status, *_ in rows.values()), rows
    assert "feedback only" in printed and "not your grade" in printed
    for name in public:  # the same rows as the terminal table
        assert name.split()[0] in printed
    assert "hidden" in printed  # says hidden points are graded by the instructor
    assert elapsed < 1.0, f"check('softmax') took {elapsed:.2f} s"


def _without_cell_name(message: str) -> str:
    """`grade` also names the notebook cell ("the `#| grade: softmax` cell (cell 4), line 4"); a kernel
    does not know its notebook's layout, so check() says "line 4" of the same code."""
    return re.sub(r"the `#\| grade: \w+` cell \(cell \d+\), ", "", message)


def test_wrong_softmax_prints_the_message_grade_gives(kernel, tmp_path):
    run(kernel, cell(BAD_SOFTMAX))
    try:
        rows, _, printed = live(kernel, 'check("softmax")')
    finally:
        run(kernel, cell(GOOD_SOFTMAX))  # leave the kernel as the other tests expect
    graded = grade(with_cells(solution("hw3"), replace={"softmax": BAD_SOFTMAX}), tmp_path)
    official = by_name(graded)
    failed = {name: row for name, row in rows.items() if row[0] != "passed"}
    assert failed, rows
    for name, (status, score, _, message) in failed.items():
        assert official[name].status == status and official[name].score == score
        assert _without_cell_name(official[name].message) == message


def test_every_public_check_with_no_argument(kernel):
    rows, _, printed = live(kernel, "check()")
    course = Course.locate(ROOT)
    hw3 = course.load("hw3")
    expected = {c.name for c in hw3.checks if not c.hidden and c.probe.reference}
    assert set(rows) == expected
    # only softmax is written; the stub's other functions say so, as in grade
    assert all(r[0] == "passed" for n, r in rows.items() if n.startswith("softmax")), rows
    others = [r for n, r in rows.items() if r[0] != "passed"]
    assert others and all("not implemented yet" in r[3] for r in others), others


def test_the_students_random_state_is_left_alone(kernel):
    printed = run(kernel, """
        torch.manual_seed(7); _a = torch.rand(3)
        torch.manual_seed(7)
        from grader import check
        check("softmax")
        print("SAME", bool((torch.rand(3) == _a).all()))
    """)
    assert "SAME True" in printed


def test_does_nothing_inside_a_graded_run(tmp_path):
    nb = with_cells(solution("hw3"), append=['from grader import check\nr = check("softmax")\nassert r is None'])
    report = grade(nb, tmp_path)
    assert report.score == report.max_score
    assert all(c.status == "ok" for c in report.cells)


def test_unknown_function_is_explained_not_raised():
    with pytest.raises(LiveCheckError, match="no assignment grades a function called 'sofmax'"):
        run_checks("sofmax", ns={}, course_dir=ROOT)
    with pytest.raises(LiveCheckError, match="cannot tell which assignment"):
        run_checks(None, ns={}, course_dir=ROOT)


def test_undefined_function_says_run_its_cell():
    report = run_checks("softmax", ns={}, course_dir=ROOT)
    assert report.results and all("run its cell first" in r.message for r in report.results)
