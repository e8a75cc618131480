"""The grader's own memory, whatever the kernel sends it (issue 11.7).

A Jupyter message is received and decoded whole before any output cap can look at it, so the
bound lives at the socket (grader/sandbox/limits.py: MESSAGE_LIMIT per message, MESSAGE_QUEUE
waiting). Each payload below is graded by `grade` in a process of its own, whose peak resident
set (VmHWM, read at exit) must stay within the honest solution's peak + 100 MB.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from grader.report import GradeReport
from tests.helpers import ROOT, solution, with_cells, write

ALLOWANCE_KB = 100 * 1024
WIDE = "\\U0001F600"  # one 4-byte character makes Python store a whole decoded text at 4 bytes per character

PAYLOADS = {
    "one 60 MB print": "print('x' * 60_000_000)",
    "a 60 MB exception text": f"raise ValueError('y' * 60_000_000 + '{WIDE}')",
    "a 60 MB display": "from IPython.display import display\ndisplay({'text/plain': 'z' * 60_000_000}, raw=True)",
    # just under the per-message limit, wide characters, as fast as the kernel can send them
    "a flood of wide messages just under the limit": (
        f"for i in range(30):\n    print('w' * 3_900_000 + '{WIDE}', flush=True)"),
    "an exception just under the limit": f"raise ValueError('v' * 1_200_000 + '{WIDE}')",
}

MEASURE = """
import sys
from grader.cli import main
code = main(sys.argv[1:])
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print("VmHWM", line.split()[1], file=sys.stderr)
sys.exit(code)
"""


def peak_kb(tmp_path: Path, cells: list[str], name: str) -> tuple[int, GradeReport]:
    notebook = write(with_cells(solution("hw3"), append=cells), tmp_path / f"{name}.ipynb")
    report_path = tmp_path / f"{name}.json"
    done = subprocess.run([sys.executable, "-c", MEASURE, str(notebook), "-o", str(report_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-2000:]
    peak = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("VmHWM"))
    return peak, GradeReport.model_validate_json(report_path.read_text())


@pytest.fixture(scope="module")
def honest_peak_kb(tmp_path_factory) -> int:
    peak, report = peak_kb(tmp_path_factory.mktemp("honest"), [], "honest")
    assert report.score == report.max_score
    return peak


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_what_a_kernel_sends_cannot_grow_the_grader(payload, honest_peak_kb, tmp_path):
    peak, report = peak_kb(tmp_path, [PAYLOADS[payload]], "hostile")
    assert report.status == "graded" and report.score == report.max_score, report.errors
    assert peak <= honest_peak_kb + ALLOWANCE_KB, (payload, peak, honest_peak_kb)
    last = report.cells[-1]
    if payload in ("one 60 MB print", "a 60 MB display"):  # refused at the socket
        assert last.status == "dead", last
    if last.status == "dead":  # (a 60 MB wide text may exhaust the kernel's own memory first)
        assert "MB" in (last.error or "") and "Print less" in (last.error or ""), last  # the student is told why
    assert all(len(c.error or "") < 2000 for c in report.cells)
