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


def _kernels_of(zygote) -> list[psutil.Process]:
    return [p for p in psutil.Process(zygote._process.pid).children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]


def test_a_regrade_starts_from_the_spare_kernel_started_before_the_save(tmp_path):
    """The kernel for the next grading is started while the student edits: the re-grade after a
    save does not wait for one, still runs in a fresh one, and nothing is left at the end."""
    import asyncio

    from grader.grade import GradeOptions
    from grader.watch import watch

    target = write(solution("hw3"), tmp_path / "hw3.ipynb")
    reports = []

    def show(report, _seconds):
        reports.append(report)
        if len(reports) == 1:  # the student saves a new version after the first grade
            threading.Timer(1.0, lambda: write(with_cells(solution("hw3"), replace={"softmax": BROKEN_SOFTMAX}),
                                               target)).start()

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    asyncio.run(asyncio.wait_for(watch(target, GradeOptions(), show, runs=2), 300))
    first, second = reports
    assert first.score == 18 and second.score < 18  # the second grade is the new notebook's
    assert first.timings["kernel start"] > 0.05
    assert second.timings["kernel start"] < 0.05, second.timings  # it was started before the save
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    _, alive = psutil.wait_procs(left, timeout=10)
    assert not alive, f"left running: {[p.cmdline()[:4] for p in alive]}"


def test_a_spare_kernel_on_other_terms_is_stopped_not_used(tmp_path):
    import asyncio

    from grader.grade import GradeOptions, grade_notebook_async, open_spare
    from tests.helpers import shared_zygote

    zygote = shared_zygote()
    target = write(solution("hw3"), tmp_path / "hw3.ipynb")

    async def run():
        spare = await open_spare(GradeOptions(), zygote, "hw3")
        assert spare is not None and len(_kernels_of(zygote)) >= 1
        spare_folder = spare.folder
        report = await grade_notebook_async(target, GradeOptions(budget_s=999), zygote, spare=spare)
        return report, spare_folder

    report, spare_folder = asyncio.run(run())
    assert report.score == 18 and report.timings["kernel start"] > 0.05  # a kernel of its own: other limits
    assert not spare_folder.exists()
    _, alive = psutil.wait_procs(_kernels_of(shared_zygote()), timeout=10)
    assert not alive


def test_a_whole_saved_file_is_graded_at_once_and_a_half_written_one_waits(tmp_path, monkeypatch):
    import asyncio
    import json

    from grader import watch
    from grader.watch import _next_save, _stamp, _whole_notebook

    SETTLE_S = 1.0  # long enough to tell "at once" from "held still first" on a loaded machine
    monkeypatch.setattr(watch, "SETTLE_S", SETTLE_S)

    path = tmp_path / "hw3.ipynb"
    text = json.dumps(nbformat.v4.new_notebook())
    path.write_text(text[: len(text) // 2])  # an editor part-way through writing it
    assert not _whole_notebook(path, _stamp(path))
    path.write_text(text)
    assert _whole_notebook(path, _stamp(path))

    async def seen_after(write) -> float:
        last = _stamp(path)
        time.sleep(0.01)  # a new mtime
        started = time.monotonic()
        task = asyncio.ensure_future(_next_save(path, last))
        write()
        await task
        return time.monotonic() - started

    staged = tmp_path / "staged"
    def rename():
        staged.write_text(text + " ")
        os.replace(staged, path)
    assert asyncio.run(seen_after(rename)) < 0.8 * SETTLE_S  # no settling for a whole file
    assert asyncio.run(seen_after(lambda: path.write_text(text[:10]))) >= SETTLE_S  # half-written: held still first
