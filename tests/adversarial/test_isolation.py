"""Kernel isolation (issues 11 and 13): each escape class, in an exec'd kernel (the `grade`
command's path) and in a kernel forked from the zygote (bulk grading's path).

A case is a notebook (the hw3 solution plus hostile cells from cases.py). Whatever it does, the
report is valid, the honest functions keep their points, the cells marked CLEAN ran without
finding a way out, nothing outside the sandbox changed, and nothing of it is left behind.
"""

from __future__ import annotations

import os
import string
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from grader.bulk import zygote_environment
from grader.report import GradeReport
from grader.zygote.client import Zygote
from tests.adversarial.cases import CLEAN, ENVIRON, KILL_ONCE, MAX, SHADOW, STILL_SANDBOXED
from tests.helpers import grade, shared_zygote, solution, with_cells
from tests.test_sandbox import MARK_ENV, Outside, _leftovers

SECRET_NAME = "GRADER_TEST_API_TOKEN"

both = pytest.mark.parametrize("fork", [False, True], ids=["exec", "forked"])


def own_namespace(kind: str) -> str:
    return os.readlink(f"/proc/self/ns/{kind}")


def run(cells: list[str], tmp_path: Path, monkeypatch, fork: bool, values: dict[str, str] | None = None,
        zygote: Zygote | None = None, **options) -> GradeReport:
    """Grade the hw3 solution with `cells` appended; check everything every case must hold."""
    mark = uuid.uuid4().hex
    monkeypatch.setenv(MARK_ENV, mark)  # every process the kernel starts inherits it
    outside = Outside(tmp_path)
    if fork and zygote is None:
        zygote = shared_zygote()  # started before the recording below: it outlives this test
    made = record_temporary_dirs(monkeypatch)
    try:
        fill = {**outside.values(), "grader_netns": own_namespace("net"), **(values or {})}
        nb = with_cells(solution("hw3"), append=[string.Template(c).safe_substitute(fill) for c in cells])
        if zygote is not None:
            options["zygote"] = zygote
        report = grade(nb, tmp_path, fork=fork, **options)
        GradeReport.model_validate(report.model_dump())
        assert report.status == "graded", report.errors
        assert report.score == MAX, [(t.name, t.status, t.message) for t in report.tests if t.status != "passed"]
        for i, cell in enumerate(nb.cells):
            if CLEAN in cell.source:
                record = next(r for r in report.cells if r.index == i)
                assert record.status == "ok", record.error
        outside.assert_untouched()
    finally:
        outside.close()
    deadline = time.monotonic() + 10
    while _leftovers(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _leftovers(mark) == []
    left = [d for d in made if os.path.exists(d) and (zygote is None or not d.startswith(zygote_dirs(zygote)))]
    assert left == [], left
    return report


def record_temporary_dirs(monkeypatch) -> list[str]:
    """Every temporary directory made in this process from now on (the machine's /tmp is shared)."""
    made: list[str] = []
    real = tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):
        path = real(*args, **kwargs)
        made.append(path)
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    return made


def zygote_dirs(zygote: Zygote) -> tuple[str, ...]:
    """A zygote the test started itself keeps its dirs until the test stops it."""
    return (str(zygote.workdir), str(zygote._socket_dir))


# ---- 11.1: nothing the notebook writes is importable before the sandbox is applied ----------------

@both
def test_shadow_modules_then_a_restart_leave_the_kernel_sandboxed(fork, tmp_path, monkeypatch):
    report = run([SHADOW, KILL_ONCE, STILL_SANDBOXED], tmp_path, monkeypatch, fork)
    assert any("restarted" in n for n in report.warnings), report.warnings  # the restart did happen


# ---- 11.8: no secret in any kernel's environment, nor in what /proc shows -------------------------

@both
def test_secrets_are_not_in_any_environment_the_kernel_can_read(fork, tmp_path, monkeypatch):
    secret = "s3cr3t-" + uuid.uuid4().hex
    monkeypatch.setenv(SECRET_NAME, secret)
    zygote = None
    if fork:  # a zygote started while the grader's environment holds the secret, as `grade DIR` does
        zygote = Zygote(tmp_path / "zygote", zygote_environment(jobs=1))
        zygote.start()
    try:
        report = run([ENVIRON], tmp_path, monkeypatch, fork, {"secret": secret}, zygote=zygote)
        if zygote is not None:
            assert secret.encode() not in Path(f"/proc/{zygote._process.pid}/environ").read_bytes()
    finally:
        if zygote is not None:
            zygote.stop()
    assert secret not in report.model_dump_json()


# ---- 13.2: every socket in a short private dir, whatever TMPDIR is --------------------------------

@both
def test_a_90_character_tmpdir_still_grades(fork, tmp_path, monkeypatch):
    long_tmp = tmp_path / ("t" * (90 - len(str(tmp_path)) - 1))
    long_tmp.mkdir()
    assert len(str(long_tmp)) == 90
    monkeypatch.setenv("TMPDIR", str(long_tmp))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    zygote = None
    if fork:
        zygote = Zygote(long_tmp / "zygote", zygote_environment(jobs=1))
        zygote.start()
    try:
        report = run([], tmp_path, monkeypatch, fork, zygote=zygote)
    finally:
        if zygote is not None:
            zygote.stop()
    assert all(c.status == "ok" for c in report.cells)


def test_cells_marked_clean_are_checked(tmp_path, monkeypatch):
    """The harness itself: a CLEAN cell that finds a way out fails the test."""
    with pytest.raises(AssertionError, match="escaped"):
        run(["raise RuntimeError('escaped: test')\n" + CLEAN], tmp_path, monkeypatch, fork=True)
