"""Grading one notebook vs executing it with nbclient alone, whole processes, side by side.

Usage: python scripts/bench_single.py [NOTEBOOK] [--runs N]
Prints the median wall time of each and the ratio grade / nbclient (issue 3 asks for <= 1.5).
Runs alternate (nbclient, grade, nbclient, grade, ...) so machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBCLIENT_ONLY = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, kernel_name="python3", timeout=600, allow_errors=True).execute()
"""


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("notebook", nargs="?", default=str(ROOT / "solutions" / "hw3.ipynb"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    python = sys.executable
    grade = str(Path(python).with_name("grade"))
    raw, graded = [], []
    with tempfile.TemporaryDirectory() as tmp:
        report = str(Path(tmp) / "report.json")
        timed([grade, args.notebook, "-o", report])  # warm the page cache for both
        for _ in range(args.runs):
            raw.append(timed([python, "-c", NBCLIENT_ONLY, args.notebook]))
            graded.append(timed([grade, args.notebook, "-o", report]))
    r, g = statistics.median(raw), statistics.median(graded)
    print(f"notebook: {args.notebook}  runs: {args.runs}")
    print(f"nbclient alone (whole process): median {r:.2f} s  [{', '.join(f'{x:.2f}' for x in raw)}]")
    print(f"grade -o report (whole process): median {g:.2f} s  [{', '.join(f'{x:.2f}' for x in graded)}]")
    print(f"ratio grade / nbclient: {g / r:.2f}  (target <= 1.5; nbgrader ~2, otter-grader ~4)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
