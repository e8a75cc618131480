"""Bulk grading vs executing the same notebooks serially with raw nbclient, side by side.

Usage: python scripts/bench_bulk.py [--count 14] [--jobs 2] [--scale 200]
Makes COUNT distinct correct hw3 submissions (the solution plus a cell naming the student),
times (a) one Python process executing them one after another with nbclient, each in a fresh
kernel, and (b) `grade DIR -o OUT --jobs N` as a whole process; prints the ratio b / a
(<= 0.10 is the goal; nbgrader is about 1.0 on this machine), and a per-stage profile of where
each grading's time goes (from the reports' `timings`).
With --scale M, it also grades M submissions the same way (bulk only) and prints how time and
the grader process's peak memory grow from COUNT to M (linear time, flat memory is the goal).

The grader's own modules are byte-compiled first, as installing a wheel does (a checkout run
with PYTHONDONTWRITEBYTECODE=1 would otherwise compile ~70 of them in every process).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import psutil

ROOT = Path(__file__).resolve().parent.parent
SERIAL = """
import sys, pathlib, nbformat
from nbclient import NotebookClient
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.ipynb")):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=600, allow_errors=True).execute()
"""


def make_submissions(folder: Path, count: int) -> None:
    solution = nbformat.read(ROOT / "solutions" / "hw3.ipynb", as_version=4)
    for i in range(count):
        nb = nbformat.from_dict(solution)
        nb.cells.insert(1, nbformat.v4.new_code_cell(f"student = 'student{i:02d}'"))
        nbformat.write(nb, folder / f"student{i:02d}_hw3.ipynb")


def timed(cmd: list[str]) -> float:
    return timed_with_memory(cmd)[0]


def timed_with_memory(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds, and the peak RSS in MB of the process itself (the grader, not its children),
    sampled every 50 ms."""
    started = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    while process.poll() is None:
        try:
            peak = max(peak, psutil.Process(process.pid).memory_info().rss / 2**20)
        except psutil.Error:
            pass
        time.sleep(0.05)
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, cmd)
    return time.perf_counter() - started, peak


def scaling(grade: str, jobs: int, small: int, large: int) -> None:
    """Bulk only, COUNT then M submissions: time should grow linearly, the grader's memory not at all."""
    results = {}
    for count in (small, large):
        with tempfile.TemporaryDirectory() as tmp:
            subs = Path(tmp) / "subs"
            subs.mkdir()
            make_submissions(subs, count)
            results[count] = timed_with_memory([grade, str(subs), "-o", str(Path(tmp) / "out"), "--jobs", str(jobs)])
    (t_small, m_small), (t_large, m_large) = results[small], results[large]
    print(f"scaling: {small} -> {large} submissions: {t_small:.1f} s -> {t_large:.1f} s"
          f" ({t_large / t_small:.1f}x for {large / small:.1f}x the notebooks; goal <= 15x),"
          f" grader peak RSS {m_small:.0f} -> {m_large:.0f} MB")


def stage_profile(out: Path) -> dict[str, float]:
    """Seconds per grading stage, summed over every report of the run (each report's `timings`)."""
    totals: dict[str, float] = {}
    for path in out.rglob("*.json"):
        try:
            timings = json.loads(path.read_text())["timings"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a report (e.g. a similarity or summary file)
        for stage, seconds in timings.items():
            totals[stage] = totals.get(stage, 0.0) + float(seconds)
    return totals


def print_profile(totals: dict[str, float], count: int, wall: float, jobs: int) -> None:
    """Where the time of one notebook goes, and what the per-notebook stages do not explain."""
    graded = sum(totals.values())
    print(f"per-stage profile (wall seconds inside each grading, summed over {count} notebooks):")
    for stage, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {stage:26} {seconds:7.2f} s  {1000 * seconds / count:7.0f} ms/notebook  {100 * seconds / graded:5.1f} %")
    outside = wall - graded / jobs
    print(f"  outside the gradings (start-up, fork server, reports, CSV): ~{outside:.2f} s of the {wall:.1f} s wall time")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=14)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scale", type=int, default=0, metavar="M")
    args = parser.parse_args()
    grade = str(Path(sys.executable).with_name("grade"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "grader")], check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as tmp:
        subs, out = Path(tmp) / "subs", Path(tmp) / "out"
        subs.mkdir()
        make_submissions(subs, args.count)
        serial = timed([sys.executable, "-c", SERIAL, str(subs)])
        bulk = timed([grade, str(subs), "-o", str(out), "--jobs", str(args.jobs)])
        rerun = timed([grade, str(subs), "-o", str(out), "--jobs", str(args.jobs)])
        scores = (out / "grades.csv").read_text().splitlines()[1:]
        profile = stage_profile(out)
    full = sum(1 for row in scores if ",18.0,18.0," in row)
    print(f"{args.count} correct hw3 submissions, {full} graded 18/18")
    print(f"raw nbclient, serial, one process:     {serial:6.1f} s")
    print(f"grade DIR --jobs {args.jobs} (whole process):   {bulk:6.1f} s")
    print(f"re-run, all reports current:           {rerun:6.1f} s")
    print(f"ratio bulk / serial nbclient: {bulk / serial:.3f}  (target <= 0.10; nbgrader ~1.0, otter-grader ~1.9)")
    print_profile(profile, args.count, bulk, args.jobs)
    if args.scale:
        scaling(grade, args.jobs, args.count, args.scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
