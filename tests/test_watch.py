"""`grade --watch`: a new grade after every save, and nothing left running after Ctrl-C."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import nbformat
import psutil

from tests.helpers import ROOT, solution, with_cells, write

BROKEN_SOFTMAX = """
def softmax(X):
    X_exp = torch.exp(X)
    return X_exp / X_exp.sum(dim=1)
"""


def _lines(proc: subprocess.Popen) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _until(lines: queue.Queue, marker: str, timeout: float = 240) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        assert line is not None, "the watcher exited early:\n" + "".join(seen)
        seen.append(line)
        if marker in line:
            return seen


def test_watch_regrades_each_save_and_ctrl_c_leaves_nothing(tmp_path):
    target = write(solution("hw3"), tmp_path / "hw3.ipynb")
    proc = subprocess.Popen([sys.executable, "-m", "grader.cli", str(target), "--watch"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"})
    lines = _lines(proc)
    try:
        first = _until(lines, "re-graded in")
        assert any("Score: 18 / 18" in line for line in first), "".join(first)
        descendants = psutil.Process(proc.pid).children(recursive=True)
        assert descendants, "the warm fork server should be running between saves"

        time.sleep(0.1)  # a save with a new mtime even on coarse file systems
        nbformat.write(with_cells(solution("hw3"), replace={"softmax": BROKEN_SOFTMAX}), target)
        second = _until(lines, "re-graded in")
        score = next(line for line in second if "Score:" in line)
        assert "Score: 18 / 18" not in score, "".join(second)
        assert "keepdim" in "".join(second)  # the new grade's own reason, not the old table

        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 130
        _, alive = psutil.wait_procs(descendants, timeout=10)
        assert not alive, f"left running after Ctrl-C: {[p.pid for p in alive]}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_watch_is_for_one_notebook(tmp_path):
    (tmp_path / "a.ipynb").write_text("{}")
    done = subprocess.run([sys.executable, "-m", "grader.cli", str(tmp_path), "--watch", "-o", str(tmp_path / "o")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--watch" in done.stderr
