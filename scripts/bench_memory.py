"""Peak memory of one grading, over the whole process tree (grader, sandbox wrapper, kernel).

PSS (proportional set size) counts a page shared by k processes as 1/k in each, so the sum over
the tree is what the tree really costs a container such as Gradescope's (768 MB by default).
Sampled every 50 ms from /proc/<pid>/smaps_rollup (Linux only).

    python scripts/bench_memory.py                       # hw1-hw5 solutions, then hw6
    python scripts/bench_memory.py solutions/hw3.ipynb   # one notebook
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
GRADE = [sys.executable, "-m", "grader.cli"]


def pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass  # the process ended, or is not ours to read
    return 0


def tree_pss_kb(root: psutil.Process) -> tuple[int, int]:
    """(PSS of the tree, PSS of the root process alone), in kB."""
    try:
        pids = [root.pid, *(p.pid for p in root.children(recursive=True))]
    except psutil.Error:
        return 0, 0
    own = pss_kb(root.pid)
    return own + sum(pss_kb(pid) for pid in pids[1:]), own


def measure(notebook: Path, extra: list[str]) -> dict[str, float]:
    report_path = Path(tempfile.mkdtemp(prefix="bench-memory-")) / "report.json"
    proc = subprocess.Popen([*GRADE, str(notebook), "-o", str(report_path), *extra], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = psutil.Process(proc.pid)
    peak = peak_grader = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_grader
        while not stop.is_set():
            tree, own = tree_pss_kb(root)
            peak, peak_grader = max(peak, tree), max(peak_grader, own)
            time.sleep(0.05)

    started = time.monotonic()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    proc.wait()
    stop.set()
    sampler.join()
    return {"tree_mb": peak / 1024, "grader_mb": peak_grader / 1024, "seconds": time.monotonic() - started,
            "exit": proc.returncode}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--limit-mb", type=float, default=650.0, help="the target for hw1-hw5 (default 650)")
    args, extra = parser.parse_known_args()
    notebooks = args.notebooks or sorted((ROOT / "solutions").glob("hw*.ipynb"))
    print(f"{'notebook':28} {'tree PSS':>10} {'grader PSS':>11} {'time':>7}")
    worst = 0.0
    for nb in notebooks:
        m = measure(nb, extra)
        worst = max(worst, m["tree_mb"]) if "hw6" not in nb.name else worst
        print(f"{nb.name:28} {m['tree_mb']:8.0f} MB {m['grader_mb']:8.0f} MB {m['seconds']:6.1f} s"
              + ("" if m["exit"] == 0 else f"  (exit {m['exit']})"))
    print(f"worst tree PSS without hw6: {worst:.0f} MB (target {args.limit_mb:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
