"""`grade --watch`: from a save to the new score on the terminal, median of N saves.

Usage: python scripts/bench_watch.py [--saves 5] [--student] [NOTEBOOK]   (default: the hw3 solution)
`--student`: from a copy of the course without `solutions/`, as a student has it (hidden checks are
left to the instructor, so no reference run); by default, the instructor's checkout.
Each save changes the notebook's content (a new cell), as a student's edit would, so every
re-grade is a real one (new hash, new hidden inputs), in a fresh sandboxed kernel.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def reader(proc: subprocess.Popen) -> queue.Queue:
    """The watcher's output lines, read by a thread (a pipe's buffered text defeats select())."""
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for(lines: queue.Queue, marker: str, timeout: float) -> str:
    """Read the watcher's output until a line with `marker`; return that line."""
    deadline = time.monotonic() + timeout
    while True:
        line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        if line is None:
            raise RuntimeError("the watcher exited")
        if marker in line:
            return line


def drain(lines: queue.Queue) -> list[str]:
    """Lines printed since the last grade: a second grade for one save would show up here."""
    extra = []
    while True:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            return [line.strip() for line in extra if "Score:" in line]
        if line is None:
            raise RuntimeError("the watcher exited")
        extra.append(line)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("notebook", nargs="?", type=Path, default=ROOT / "solutions" / "hw3.ipynb")
    parser.add_argument("--saves", type=int, default=5)
    parser.add_argument("--pause", type=float, default=1.5,
                        help="seconds between a score and the next save (a student reads it, edits, saves;"
                        " the next kernel is started in that time)")
    parser.add_argument("--student", action="store_true", help="grade as a student does: a course without solutions/")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / args.notebook.name
        staged = Path(tmp) / f".~{args.notebook.name}"
        nb = nbformat.read(args.notebook, as_version=4)
        nbformat.write(nb, target)
        course = []
        if args.student:
            shutil.copytree(ROOT / "assignments", Path(tmp) / "course" / "assignments")
            course = ["--course-dir", str(Path(tmp) / "course")]
        proc = subprocess.Popen([sys.executable, "-m", "grader.cli", str(target), "--watch", *course], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                env={**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"})
        lines = reader(proc)
        try:
            first = time.perf_counter()
            wait_for(lines, "re-graded in", 300)
            print(f"first grading (fork server start included): {time.perf_counter() - first:.2f} s")
            times, scores = [], []
            for i in range(args.saves):
                time.sleep(args.pause)
                extra = drain(lines)
                if extra:
                    raise RuntimeError(f"the watcher printed a grade nobody saved for: {extra}")
                nb.cells.append(nbformat.v4.new_code_cell(f"edit_{i} = {i}"))
                # Saved as Jupyter saves (a whole new file renamed over the old one), and timed
                # from the rename, the moment the new version exists.
                nbformat.write(nb, staged)
                saved = time.perf_counter()
                os.replace(staged, target)
                scores.append(wait_for(lines, "Score:", 120).strip())
                times.append(time.perf_counter() - saved)
                print(f"save {i + 1}: {times[-1]:.2f} s, {wait_for(lines, 're-graded in', 120).strip()}", flush=True)
        finally:
            proc.terminate()
            proc.wait(30)
    print("save -> new score printed: " + ", ".join(f"{t:.2f}" for t in times) + " s")
    print(f"median {statistics.median(times):.2f} s (target <= 0.5 s); last score: {scores[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
