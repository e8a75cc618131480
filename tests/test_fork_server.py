"""Where kernels come from: forked from a fork server when it can sandbox them, else exec'd."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from grader.grade import GradeOptions, kernel_fork_server
from grader.sandbox import bwrap
from grader.sandbox.apply import NAMESPACE_PROTECTIONS
from grader.zygote.client import Zygote
from tests.helpers import ROOT, grade, shared_zygote, solution


def _fake(missing: str | None) -> Zygote:
    zygote = Zygote.__new__(Zygote)
    zygote.namespaces_missing = missing
    return zygote


def test_kernels_are_execd_through_bwrap_where_a_forked_kernel_cannot_have_namespaces(monkeypatch):
    restricted = _fake("PermissionError: [Errno 1] Operation not permitted")
    monkeypatch.setattr(bwrap, "unusable_reason", lambda: None)
    assert kernel_fork_server(GradeOptions(), restricted) is None  # bwrap can: exec through it
    assert kernel_fork_server(GradeOptions(sandbox=False), restricted) is restricted  # no sandbox asked for
    monkeypatch.setattr(bwrap, "unusable_reason", lambda: "bwrap is not installed")
    assert kernel_fork_server(GradeOptions(), restricted) is restricted  # neither can: the report says what is missing
    able = _fake(None)
    assert kernel_fork_server(GradeOptions(), able) is able
    assert kernel_fork_server(GradeOptions(), None) is None


def test_the_fork_server_tells_whether_its_kernels_can_have_namespaces():
    """Its answer is the one a fresh process finds by trying (root, or user namespaces)."""
    fresh = subprocess.run([sys.executable, "-c", "from grader.sandbox.namespaces import unusable_reason;"
                            " print(unusable_reason())"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert fresh.returncode == 0, fresh.stderr
    assert str(shared_zygote().namespaces_missing) == fresh.stdout.strip()


def test_a_grading_execs_its_kernel_when_the_fork_server_cannot_sandbox_it(tmp_path, monkeypatch):
    if bwrap.unusable_reason() is not None:
        pytest.skip(f"needs a working bubblewrap: {bwrap.unusable_reason()}")
    zygote = shared_zygote()
    forks = []
    real_spawn = Zygote.spawn

    def spawn(self, *args, **kwargs):
        forks.append(args)
        return real_spawn(self, *args, **kwargs)

    monkeypatch.setattr(Zygote, "spawn", spawn)
    monkeypatch.setattr(zygote, "namespaces_missing", "PermissionError: restricted here")
    report = grade(solution("hw3"), tmp_path, zygote=zygote)
    assert report.score == report.max_score == 18
    assert forks == []  # the kernel was exec'd; the reference was still forked (spawn_reference)
    # every namespace protection holds (bwrap made them); a normal user may still lack cgroup-only ones
    assert not [w for w in report.warnings if any(f"no {name} protection" in w for name in NAMESPACE_PROTECTIONS)], \
        report.warnings


def _private_kb(pid: int, pattern) -> int:
    """kB resident in the mappings of `pid` whose file name matches `pattern`, and mapped by no
    other process: a page another process maps too (another fork server of this test session,
    one of its kernels) cannot be handed back, and is shared, not this one's cost."""
    total, matching = 0, False
    with open(f"/proc/{pid}/smaps", encoding="utf-8") as smaps:
        for line in smaps:
            fields = line.split()
            if fields and "-" in fields[0] and not fields[0].endswith(":"):
                matching = len(fields) >= 6 and bool(pattern.search(os.path.basename(fields[5])))
            elif matching and fields[0] in ("Private_Clean:", "Private_Dirty:"):
                total += int(fields[1])
    return total


def test_the_fork_server_keeps_no_cuda_library_pages_on_a_machine_without_a_gpu():
    """What makes one grading fit in 650 MB: importing the CUDA build of torch reads ~140 MB of
    CUDA libraries that no kernel on a CPU uses; the fork server hands them back before forking.
    Measured in a fresh process doing what the fork server does, since a page another process of
    this test session maps at that moment cannot be handed back (it is shared, not this one's)."""
    from grader.device import cuda_present

    if cuda_present():
        pytest.skip("a GPU machine keeps them: its kernels use them")
    code = ("import os, sys; from grader.zygote import server; from tests.test_fork_server import _private_kb\n"
            "server.preload(server.PRELOAD)\n"
            "before = _private_kb(os.getpid(), server.CUDA_LIBRARY)\n"
            "server.page_out_libraries()\n"
            "print(before, _private_kb(os.getpid(), server.CUDA_LIBRARY))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    before, after = (int(x) for x in run.stdout.split())
    if before == 0:
        pytest.skip("this torch build loads no CUDA library")
    assert after < 40 * 1024, (before, after)  # alone: 154 MB before, 14 MB after


def test_an_exit_status_that_arrives_with_the_pid_is_not_lost(tmp_path):
    """A child that ends at once (a fast reference run on a busy machine) has its exit status
    sent before the grader read the pid line: both arrive in one read. The status must be the
    child's own, not "killed" (a reference that succeeded was reported as failed, exit -9)."""
    import socket
    import threading

    from grader.zygote.process import ZygoteProcess

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that is no longer alive, as the child's is when its status comes
    path = str(tmp_path / "z.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)

    def serve_one(status: int) -> None:
        conn, _ = server.accept()
        conn.recv(4096)
        conn.sendall(f'{{"pid": {gone.pid}}}\n{{"exit": {status}}}\n'.encode())
        conn.close()

    zygote = Zygote.__new__(Zygote)
    zygote.socket_path = path
    zygote._process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])  # "running"
    try:
        for status in (0, 3):
            thread = threading.Thread(target=serve_one, args=(status,))
            thread.start()
            process = zygote._fork({"reference": "x", "log": "y"})
            thread.join()
            assert isinstance(process, ZygoteProcess) and process.pid == gone.pid
            assert process.wait(5) == status
    finally:
        zygote._process.kill()
        zygote._process.wait()
        server.close()
