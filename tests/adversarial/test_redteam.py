"""A red-team pass over the merged grader: notebooks written against the code as it stands, by a
determined student and by honest students with odd files. Each must end in a report that scores
what the honest functions earn, with nothing left behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from grader.notebook import load_notebook, locate_graded_cells
from tests.helpers import ROOT, grade, lost, solution, with_cells, write

# Cells as a hand-edited or tool-written notebook may hold them: nbformat reads them, the schema
# does not allow them, and the rest of the notebook is still the student's work.
ODD_CELLS = {
    "number source": {"cell_type": "code", "source": 42, "metadata": {}, "outputs": [], "execution_count": None},
    "null source": {"cell_type": "code", "source": None, "metadata": {}, "outputs": []},
    "no source": {"cell_type": "code", "metadata": {}, "outputs": []},
    "no cell type": {"source": "x = 1", "metadata": {}},
    "metadata a list": {"cell_type": "code", "source": "x = 1", "metadata": [1], "outputs": []},
}


def with_odd_cell(tmp_path: Path, cell: dict) -> Path:
    raw = json.loads((ROOT / "solutions" / "hw3.ipynb").read_text())
    raw["cells"].insert(2, cell)
    path = tmp_path / "hw3.ipynb"
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.parametrize("kind", sorted(ODD_CELLS))
def test_odd_cells_are_read_and_the_graded_cells_still_found(tmp_path, kind):
    try:
        loaded = load_notebook(with_odd_cell(tmp_path, ODD_CELLS[kind]))
    except Exception as exc:  # a plain-language SubmissionError is also a report; anything else is a bug
        assert type(exc).__name__ == "SubmissionError", exc
        return
    assert all(isinstance(c.source, str) for c in loaded.nb.cells)
    assert set(locate_graded_cells(loaded, ["softmax", "evaluate_accuracy"])) == {"softmax", "evaluate_accuracy"}


def test_a_cell_whose_source_is_a_number_costs_nothing(tmp_path):
    report = grade(with_odd_cell(tmp_path, ODD_CELLS["number source"]), tmp_path)
    assert report.status == "graded" and report.score == report.max_score == 18
    assert any("treated as empty" in w for w in report.warnings)


def test_a_notebook_whose_sources_are_lists_of_lines_earns_full_marks(tmp_path):
    raw = json.loads(nbformat.writes(solution("hw3")))
    for cell in raw["cells"]:  # nbformat may already write lists; make sure every cell has one
        text = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        cell["source"] = text.splitlines(True)
    assert all(isinstance(c["source"], list) for c in raw["cells"])
    path = tmp_path / "hw3.ipynb"
    path.write_text(json.dumps(raw))
    report = grade(path, tmp_path)
    assert report.score == 18 and not lost(report)


# --- Ctrl-C before bulk grading has installed its handler ------------------------------------------

@pytest.mark.parametrize("target", ["file", "folder"])
def test_ctrl_c_while_the_grader_is_still_starting_exits_130_without_a_traceback(tmp_path, target, monkeypatch, capsys):
    import grader.cli

    def interrupted(device: str) -> str:  # runs before the heavy imports and before any handler
        raise KeyboardInterrupt

    monkeypatch.setattr(grader.cli, "resolve_device", interrupted)
    path = write(solution("hw3"), tmp_path / "subs" / "hw3.ipynb")
    args = [str(path)] if target == "file" else [str(path.parent), "-o", str(tmp_path / "out")]
    assert grader.cli.main(args) == 130
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "interrupted" in captured.err


# Says "ready" once inside `main` (where Ctrl-C must be caught), before the grading modules load.
STARTING = """
import sys, grader.cli
inner = grader.cli._main
def announced(argv):
    print("ready", flush=True)
    return inner(argv)
grader.cli._main = announced
sys.exit(grader.cli.main(sys.argv[1:]))
"""


def test_ctrl_c_during_start_up_of_the_real_command_is_exit_130(tmp_path):
    """The real command, interrupted while it imports its modules: 130, one line, no traceback."""
    import signal
    import subprocess
    import sys

    folder = tmp_path / "subs"
    write(solution("hw3"), folder / "hw3.ipynb")
    process = subprocess.Popen([sys.executable, "-c", STARTING, str(folder), "-o", str(tmp_path / "out")],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    # Now inside main: grading modules still loading, no handler yet (or, on a fast machine,
    # bulk grading already started: 130 all the same).
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr.decode()[-2000:]
    assert b"Traceback" not in stderr


# --- scratch cells that kill the kernel again and again --------------------------------------------

def test_cells_that_kill_the_kernel_again_and_again_do_not_cost_the_working_functions(tmp_path):
    from grader.student_kernel import MAX_RESTARTS

    nb = with_cells(solution("hw3"), append=["import os; os._exit(1)"] * (MAX_RESTARTS + 3))
    report = grade(nb, tmp_path)
    assert report.status == "graded" and report.score == 18, [(t.name, t.message) for t in report.tests if t.score < t.max_score]
    assert any("remaining cells were not run" in n for n in report.warnings)
    # Far fewer than one restart per hostile cell: the cells stop after the limit.
    assert sum(r.status == "skipped" for r in report.cells) >= 2
