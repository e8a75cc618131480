"""Bulk grading: every notebook a row, same scores as alone, skip what is current, survive Ctrl-C."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from grader.cli import main
from grader.report import read_report
from tests.helpers import ROOT, grade, solution, stub, with_cells, write

MISTAKE = {"accuracy": "def accuracy(y_hat, y):\n    return (y_hat.argmax(dim=1) == y).float().mean().item()"}


def make_class(folder: Path) -> dict[str, nbformat.NotebookNode]:
    notebooks = {
        # graded first (sorted order); patches torch for good in its own kernel, which must not
        # leak into the kernels forked after it from the same zygote
        "aaron/hw3.ipynb": with_cells(solution("hw3"), prepend=["import torch\ntorch.exp = lambda x: x * 0"]),
        "alice/hw3.ipynb": with_cells(solution("hw3"), append=["student = 'alice'"]),
        "bob/hw3.ipynb": with_cells(solution("hw3"), replace=MISTAKE),
        "carol/hw3.ipynb": stub("hw3"),
        "zed/hw3.ipynb": with_cells(solution("hw3"), append=["student = 'zed'"]),
        "erin/hw3.ipynb": with_cells(solution("hw3"), replace={"cross_entropy": "import os\ndef cross_entropy(y_hat, y):\n    os._exit(1)"}),
    }
    for relative, nb in notebooks.items():
        write(nb, folder / relative)
    (folder / "frank").mkdir()
    (folder / "frank" / "hw3.ipynb").write_text("{ not json")
    return notebooks


def rows(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", newline="") as fh:
        return {row["submission"]: row for row in csv.DictReader(fh)}


def test_a_class_is_graded_once_and_then_skipped(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    make_class(subs)
    assert main([str(subs), "-o", str(out), "--jobs", "2"]) == 0
    table = rows(out)
    assert set(table) == {"aaron/hw3.ipynb", "alice/hw3.ipynb", "bob/hw3.ipynb", "carol/hw3.ipynb",
                          "erin/hw3.ipynb", "frank/hw3.ipynb", "zed/hw3.ipynb"}
    assert float(table["aaron/hw3.ipynb"]["score"]) < 18  # his own patch breaks his own softmax
    assert float(table["alice/hw3.ipynb"]["score"]) == 18
    assert float(table["zed/hw3.ipynb"]["score"]) == 18
    assert float(table["carol/hw3.ipynb"]["score"]) == 0
    assert table["frank/hw3.ipynb"]["status"] == "error" and "not a valid Jupyter notebook" in table["frank/hw3.ipynb"]["reason"]
    erin = read_report(out / "erin" / "hw3.json")
    assert {t.name for t in erin.tests if t.score < t.max_score} == {
        "cross_entropy: per-example loss", "cross_entropy: random batches",
        "end to end: trained model reaches 0.85 held-out accuracy"}
    summary = (out / "summary.md").read_text()
    assert "| hw3 | softmax: rows sum to 1 |" in summary

    # Same scores as grading alone, without the fork server.
    alone = grade(subs / "bob" / "hw3.ipynb", tmp_path)
    bulk = read_report(out / "bob" / "hw3.json")
    assert [(t.name, t.score) for t in bulk.tests] == [(t.name, t.score) for t in alone.tests]

    # A re-run touches nothing; a changed notebook is the only one graded again.
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.json")}
    assert main([str(subs), "-o", str(out)]) == 0
    assert stamps == {p: p.stat().st_mtime_ns for p in out.rglob("*.json")}
    write(with_cells(solution("hw3"), append=["student = 'alice, resubmitted'"]), subs / "alice" / "hw3.ipynb")
    assert main([str(subs), "-o", str(out)]) == 0
    changed = {p for p, t in stamps.items() if p.stat().st_mtime_ns != t}
    assert changed == {out / "alice" / "hw3.json"}


def test_kernels_started_ahead_each_grade_a_submission_as_a_fresh_one_would(tmp_path, monkeypatch):
    """While two gradings run, the next ones' kernels start (one per job); never more than the
    submissions left, so every kernel started grades one, and each scores as graded alone."""
    import asyncio

    from grader import bulk
    from grader.bulk import grade_folder, local_runner
    from grader.grade import GradeOptions
    from grader.kernel_lease import KernelLease

    subs, out = tmp_path / "subs", tmp_path / "out"
    for i in range(5):
        write(with_cells(solution("hw3"), append=[f"student = {i}"]), subs / f"s{i}_hw3.ipynb")
    write(with_cells(solution("hw3"), replace=MISTAKE), subs / "s5_hw3.ipynb")
    leases, ahead = [], []
    real_init, real_open = KernelLease.__init__, bulk.open_spare

    def counting_init(self, *args, **kwargs):
        leases.append(self)
        real_init(self, *args, **kwargs)

    async def counting_open(*args, **kwargs):
        lease = await real_open(*args, **kwargs)
        ahead.append(lease)
        return lease

    monkeypatch.setattr(KernelLease, "__init__", counting_init)
    monkeypatch.setattr(bulk, "open_spare", counting_open)
    result = asyncio.run(grade_folder(subs, out, GradeOptions(), local_runner(2)))
    assert len(result.graded) == 6
    assert len(leases) == 6  # one kernel per submission: none started for nothing
    assert ahead and all(lease is not None for lease in ahead)  # the kernels started ahead were used
    scores = {p.name: read_report(p).score for p in out.glob("*.json")}
    assert scores == {**{f"s{i}_hw3.json": 18 for i in range(5)}, "s5_hw3.json": scores["s5_hw3.json"]}
    assert scores["s5_hw3.json"] < 18
    assert all(not lease.folder.exists() for lease in leases)


def test_a_report_is_stale_once_a_file_the_checks_ship_changes(tmp_path):
    """hw6's initial weights decide grades as much as its checks.py: changing either (or adding
    a file next to them) makes the next bulk run grade again."""
    import shutil

    from grader.course import Course

    course_dir = tmp_path / "course"
    shutil.copytree(ROOT / "assignments" / "hw6", course_dir / "assignments" / "hw6")
    course = Course(course_dir)
    before = course.fingerprint("hw6")
    weights = course_dir / "assignments" / "hw6" / "initial_parameters.npy"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    changed = course.fingerprint("hw6")
    assert changed != before
    (course_dir / "assignments" / "hw6" / "labels.txt").write_text("cat\n")
    assert course.fingerprint("hw6") not in (before, changed)


def test_force_regrades_everything(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    write(stub("hw3"), subs / "a_hw3.ipynb")
    (subs / "b_hw3.ipynb").write_text("")
    assert main([str(subs), "-o", str(out)]) == 0
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.json")}
    time.sleep(0.01)
    assert main([str(subs), "-o", str(out), "--force"]) == 0
    assert all(p.stat().st_mtime_ns != t for p, t in stamps.items())


def test_ctrl_c_keeps_finished_reports(tmp_path):
    subs, out, private_tmp = tmp_path / "subs", tmp_path / "out", tmp_path / "tmp"
    private_tmp.mkdir()
    for i in range(6):
        # a slow cell: the Ctrl-C below lands while a kernel is running (nbclient's own SIGINT
        # handler, installed while a kernel runs, once swallowed it)
        write(with_cells(solution("hw3"), append=[f"student = {i}\nimport time\ntime.sleep(4)"]),
              subs / f"s{i}_hw3.ipynb")
    # Its own TMPDIR: the zygote (and every kernel forked from it) carries that path in its command line.
    env = dict(os.environ, TMPDIR=str(private_tmp))
    process = subprocess.Popen([sys.executable, "-m", "grader.cli", str(subs), "-o", str(out), "--jobs", "1"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(out.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2)  # the next submission's kernel is started and in its slow cell
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr.decode()[-2000:]
    finished = list(out.glob("*.json"))
    assert 1 <= len(finished) < 6
    for path in finished:
        assert read_report(path).score == 18
    table = rows(out)
    assert len(table) == 6 and sum(r["status"] == "not graded" for r in table.values()) == 6 - len(finished)
    assert _processes_mentioning(str(private_tmp)) == []
    assert list(private_tmp.iterdir()) == []  # nor the folder of a kernel started ahead


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_while_one_notebook_runs_ends_the_grading_cleanly(tmp_path, signum):
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    notebook = write(with_cells(solution("hw3"), append=["import pathlib, time\npathlib.Path('in-slow-cell').touch()\ntime.sleep(60)"]),
                     tmp_path / "hw3.ipynb")
    env = dict(os.environ, TMPDIR=str(private_tmp))
    process = subprocess.Popen([sys.executable, "-m", "grader.cli", str(notebook), "-o", str(tmp_path / "r.json")],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(private_tmp.glob("*/*/in-slow-cell")) and time.monotonic() < deadline:  # in the kernel's scratch dir
        time.sleep(0.1)
    started = time.monotonic()
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr.decode()[-2000:]
    assert time.monotonic() - started < 20  # not after the 60 s cell
    assert "Traceback" not in stderr.decode()
    assert not (tmp_path / "r.json").exists()
    assert _processes_mentioning(str(private_tmp)) == [] and list(private_tmp.iterdir()) == []


def _processes_mentioning(text: str) -> list[str]:
    result = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True)
    return [line for line in result.stdout.splitlines() if text in line and "ps -eo" not in line]


def test_folder_needs_an_output_directory(tmp_path):
    assert main([str(tmp_path)]) == 2
    assert main([str(tmp_path), "-o", str(tmp_path / "o"), "--jobs", "0"]) == 2
