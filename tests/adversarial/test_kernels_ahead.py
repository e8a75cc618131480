"""Kernels started ahead (bulk grading, `--watch`): the next submission's kernel exists while the
current one runs. The running notebook must not be able to find it, plant anything in it or stop
it: the next submission is graded as if its kernel had been started for it alone."""

from __future__ import annotations

import asyncio

from grader import bulk
from grader.bulk import grade_folder, local_runner
from grader.grade import GradeOptions
from grader.report import read_report
from tests.helpers import solution, with_cells, write

# What a notebook could try against another kernel on the same machine: find its folders and
# sockets, plant a module where it would import it. (Signals are test_isolation's: a kill-all
# here would take the test run with it wherever the sandbox is missing a protection.)
ATTACK = r'''
import glob, os, socket
own = os.path.dirname(os.getcwd())
found = []
for pattern in ("/tmp/grader-*", "/tmp/grader-*/*", "/tmp/*/work", "/tmp/*/probe-io", "/tmp/grader-k-*/*",
                "/dev/shm/*", os.path.join(os.path.dirname(own), "grader-*")):
    for path in glob.glob(pattern):
        if path.startswith(own) or path == os.path.dirname(own):
            continue
        found.append(path)
        for name in ("torch.py", "sitecustomize.py"):
            try:
                with open(os.path.join(path, name), "w") as fh:
                    fh.write("raise SystemExit('planted by the student before')\n")
            except OSError:
                pass
        try:
            socket.socket(socket.AF_UNIX).connect(path)
            found.append("connected to " + path)
        except OSError:
            pass
if found:
    raise RuntimeError(f"reached another kernel's files: {found[:6]}")
'''


def test_a_notebook_cannot_reach_the_kernel_started_ahead_for_the_next_one(tmp_path, monkeypatch):
    subs, out = tmp_path / "subs", tmp_path / "out"
    write(with_cells(solution("hw3"), append=["student = 'first'"]), subs / "a_hw3.ipynb")
    write(with_cells(solution("hw3"), append=[ATTACK]), subs / "b_hw3.ipynb")  # a kernel is ahead meanwhile
    write(with_cells(solution("hw3"), append=["student = 'next'"]), subs / "c_hw3.ipynb")
    ahead = []
    real_open = bulk.open_spare

    async def recording_open(*args, **kwargs):
        lease = await real_open(*args, **kwargs)
        ahead.append(lease)
        return lease

    monkeypatch.setattr(bulk, "open_spare", recording_open)
    result = asyncio.run(grade_folder(subs, out, GradeOptions(), local_runner(1)))
    assert len(result.graded) == 3
    assert ahead and all(lease is not None for lease in ahead)  # c's kernel was started while b ran
    attacker, victim = read_report(out / "b_hw3.json"), read_report(out / "c_hw3.json")
    assert [c.error for c in attacker.cells if c.status != "ok"] == []  # it found nothing to attack
    assert victim.score == victim.max_score == 18
    assert all(c.status == "ok" for c in victim.cells) and not victim.errors
