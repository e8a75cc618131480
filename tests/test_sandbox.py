"""The sandbox: its parts, and the adversarial corpus (tests/adversarial/cases.py) run inside it.

Every case must give a valid report whose score stays within its bound, in bounded time, with
no process of it left afterwards. Risky cases (fork and memory bombs) run only when this
machine's sandbox really enforces the limits that contain them.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import string
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from grader.report import GradeReport
from grader.sandbox import landlock
from grader.sandbox.apply import SandboxStatus, apply
from grader.sandbox.check import check
from grader.sandbox.output import CappedNotebookClient
from grader.sandbox.policy import build_policy, sandbox_environment
from grader.sandbox.safe_io import UnsafeFile, read_bytes, write_bytes
from grader.sandbox.session import KernelSandbox
from tests.adversarial.cases import CASES, Case
from tests.helpers import ROOT, grade, solution, stub, with_cells, write

MARK_ENV = "GRADER_TEST_PROCESS_MARK"


@pytest.fixture(scope="module")
def protections() -> dict[str, bool]:
    return {p.name: p.active for p in check()}


def _leftovers(mark: str) -> list[str]:
    """Processes still carrying this test's mark in their environment, and our own zombies."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark.encode() in (entry / "environ").read_bytes() and b"grader.zygote.server" not in (entry / "cmdline").read_bytes():
                found.append(f"{entry.name}: {(entry / 'cmdline').read_bytes()[:80]!r}")
            stat = (entry / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] == "Z" and int(fields[1]) == os.getpid():
                found.append(f"{entry.name}: zombie child")
        except OSError:
            pass
    return found


class Outside:
    """Things outside the sandbox that the student's code must not reach."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "outside"
        self.dir.mkdir()
        self.pwned = self.dir / "pwned"
        self.canary = self.dir / "canary.txt"
        self.canary.write_text("precious")
        self.victim = self.dir / "victim"
        self.victim.mkdir()
        (self.victim / "file.txt").write_text("precious")
        self.other = self.dir / "other-student.ipynb"
        self.other.write_text("{}")
        self.report = self.dir / "report.json"
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.tcp.setblocking(False)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.setblocking(False)

    def values(self) -> dict[str, str]:
        return {"pwned": str(self.pwned), "canary": str(self.canary), "victim_dir": str(self.victim),
                "other": str(self.other), "report": str(self.report), "solutions": str(ROOT / "solutions"),
                "tcp_port": str(self.tcp.getsockname()[1]), "udp_port": str(self.udp.getsockname()[1])}

    def assert_untouched(self) -> None:
        assert not self.pwned.exists(), self.pwned.read_text()
        assert self.canary.read_text() == "precious"
        assert (self.victim / "file.txt").read_text() == "precious"
        with pytest.raises(BlockingIOError):
            self.tcp.accept()
        with pytest.raises(BlockingIOError):
            self.udp.recv(100)

    def close(self) -> None:
        self.tcp.close()
        self.udp.close()


def build(case: Case, values: dict[str, str]) -> nbformat.NotebookNode:
    fill = lambda source: string.Template(source).safe_substitute(values)  # noqa: E731
    return with_cells(solution("hw3") if case.base == "solution" else stub("hw3"),
                      replace={k: fill(v) for k, v in case.replace.items()},
                      append=[fill(s) for s in case.append], prepend=[fill(s) for s in case.prepend])


# Every case runs in a kernel forked from a fork server (every grading's path on Linux); those
# that test containment also in a kernel exec'd through the wrapper (--exec-kernels, off Linux).
EXEC_TOO = {"memory bomb", "fork bomb", "processes that escape their session", "segfault",
            "reading solutions, other submissions and reports", "connecting to local ports", "deleting files",
            "a huge exception text", "a graded function that prints a huge message"}
RUNS = [(c, True) for c in CASES] + [(c, False) for c in CASES if c.name in EXEC_TOO and not c.via_cli]


@pytest.mark.parametrize("case,fork", RUNS, ids=[c.name.replace(" ", "-") + ("" if f else "-exec") for c, f in RUNS])
def test_adversarial_case(case: Case, fork: bool, tmp_path, monkeypatch, protections):
    if case.risky:
        needed = ("memory", "process count", "cleanup of every process the kernel started", "CPU time")
        missing = [n for n in needed if not protections.get(n)]
        if missing:
            pytest.skip(f"risky case, and this machine's sandbox lacks: {', '.join(missing)}")
    mark = uuid.uuid4().hex
    monkeypatch.setenv(MARK_ENV, mark)  # every process the kernel starts inherits it
    outside = Outside(tmp_path)
    try:
        nb = build(case, outside.values())
        started = time.monotonic()
        if case.via_cli:
            from grader.cli import main

            path = write(nb, tmp_path / "hw3.ipynb")
            assert main([str(path), "-o", str(outside.report), "--json"]) == 0
            report = GradeReport.model_validate_json(outside.report.read_text())
        else:
            report = grade(nb, tmp_path, fork=fork, **case.options)
        elapsed = time.monotonic() - started
        GradeReport.model_validate(report.model_dump())  # a valid report, whatever happened
        assert report.status == "graded", report.errors
        assert case.min_score <= report.score <= case.max_score, (report.score, [(t.name, t.status, t.message) for t in report.tests])
        lost = [t for t in report.tests if t.score < t.max_score]
        assert all(t.status != "passed" for t in lost)
        if case.lost_status:
            assert {t.status for t in lost} <= set(case.lost_status), [(t.name, t.status, t.message) for t in lost]
        if case.message:
            assert any(case.message in t.message for t in lost), [t.message for t in lost]
        assert elapsed < case.time_limit_s
        if all(protections.values()):
            assert not [w for w in report.warnings if w.startswith("sandbox")], report.warnings
        if case.via_cli:
            assert json.loads(outside.report.read_text())["score"] == report.score
            outside.report.unlink()
        outside.assert_untouched()
    finally:
        outside.close()
    deadline = time.monotonic() + 10
    while _leftovers(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _leftovers(mark) == []


def test_reading_solutions_is_denied_in_a_forked_kernel_too(tmp_path, protections):
    """Bulk grading forks kernels from a zygote: the sandbox must hold there as well."""
    if not protections["file system: reading outside allowed dirs"]:
        pytest.skip("no Landlock here")
    from grader.grade import GradeOptions, grade_notebook_async
    from grader.zygote.client import Zygote
    steal = next(c for c in CASES if c.name.startswith("reading solutions"))
    outside = Outside(tmp_path)
    path = write(build(steal, outside.values()), tmp_path / "hw3.ipynb")

    async def run() -> GradeReport:
        with Zygote(tmp_path / "zygote", dict(os.environ)) as zygote:
            return await grade_notebook_async(path, GradeOptions(), zygote)

    try:
        report = asyncio.run(run())
        assert report.status == "graded" and report.score == 0
        # other protections may be missing for a normal user (no cgroup); the file system one may not
        assert not [w for w in report.warnings if "file system" in w or "did not report" in w], report.warnings
        outside.assert_untouched()
    finally:
        outside.close()


# ---- the parts ----------------------------------------------------------------------------------

def test_check_sandbox_lists_every_protection_and_fails_when_one_is_missing(capsys):
    from grader.cli import main

    code = main(["--check-sandbox"])
    out = capsys.readouterr().out
    for name in ("file system", "network", "memory", "CPU time", "process count", "file size", "output size",
                 "isolated start", "IPC namespace", "device allowlist", "PID namespace"):
        assert name in out
    assert code == (0 if "MISSING" not in out else 1)
    # and which way kernels start here, as a grading decides it
    from grader.sandbox import bwrap, namespaces
    expected = ("forked from a fork server" if namespaces.unusable_reason() is None
                else "exec'd through bubblewrap" if bwrap.unusable_reason() is None else "neither")
    assert f"Kernels: {expected}" in out or expected in out, out


def test_these_machines_have_every_protection(protections):
    if landlock.abi_version() < 6 or os.geteuid() != 0:
        pytest.skip("the full set needs Landlock ABI >= 6 and a writable cgroup (root)")
    assert all(protections.values()), protections


def _in_sandboxed_child(tmp_path: Path, action: str) -> tuple[int, str]:
    """Fork, apply a policy in the child as the zygote does, run `action`, report."""
    scratch = tmp_path / "work"
    scratch.mkdir(exist_ok=True)
    policy = build_policy(scratch)
    policy.limits.address_space = None  # this test process has loaded torch already
    read_fd, write_fd = os.pipe()
    grader = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            apply(policy)
            try:
                exec(action, {"scratch": str(scratch), "outside": str(tmp_path), "grader": grader})
                result = "allowed"
            except OSError as exc:
                result = f"denied {exc.errno}"
        except BaseException as exc:
            result = f"crash {exc!r}"
        os.write(write_fd, result.encode())
        os._exit(0)
    os.close(write_fd)
    _, status = os.waitpid(pid, 0)
    text = os.read(read_fd, 1000).decode()
    os.close(read_fd)
    return status, text


@pytest.mark.skipif(landlock.abi_version() < 1, reason="no Landlock")
@pytest.mark.parametrize("action,expected", [
    ("open(outside + '/secret.txt').read()", "denied"),
    ("open(outside + '/new.txt', 'w')", "denied"),
    ("open(scratch + '/mine.txt', 'w').write('ok')", "allowed"),
    ("open('" + str(ROOT / "solutions" / "hw3.ipynb") + "').read()", "denied"),
    ("import os; os.kill(grader, 0)", "denied"),
], ids=["read-outside", "write-outside", "write-scratch", "read-solutions", "signal-grader"])
def test_apply_in_a_forked_child(tmp_path, action, expected):
    (tmp_path / "secret.txt").write_text("x")
    status, result = _in_sandboxed_child(tmp_path, action)
    assert status == 0 and result.startswith(expected), result


def test_the_wrapper_execs_into_the_kernel_command(tmp_path):
    scratch = tmp_path / "work"
    scratch.mkdir()
    policy_path = tmp_path / "policy.json"
    policy = build_policy(scratch, tmp_path / "status.json")
    policy_path.write_text(policy.to_json())
    code = "import os; print(os.getpid(), os.getcwd())"
    run = subprocess.run([sys.executable, "-m", "grader.sandbox.launch", "--policy", str(policy_path), "--",
                          sys.executable, "-c", code], cwd=scratch, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[1] == str(scratch)
    status = json.loads((tmp_path / "status.json").read_text())
    assert set(status) == {"active", "missing"}
    bad = subprocess.run([sys.executable, "-m", "grader.sandbox.launch"], capture_output=True, text=True)
    assert bad.returncode != 0 and "usage" in bad.stderr


def test_missing_protections_become_report_warnings(tmp_path):
    sandbox = KernelSandbox(tmp_path, tmp_path, enabled=False)
    assert "disabled" in sandbox.warnings()[0]
    sandbox = KernelSandbox(tmp_path, tmp_path)
    try:
        assert "did not report" in sandbox.warnings()[0]  # the wrapper never ran: nothing is assumed
        status = SandboxStatus(active={"CPU time": "RLIMIT_CPU"}, missing={"file system": "Landlock unavailable"})
        sandbox.status_path.write_text(json.dumps({"active": status.active, "missing": status.missing}))
        sandbox.cgroup_missing = {}  # as where the cgroup gave everything (root); else its reasons are added
        assert sandbox.warnings() == ["sandbox: no file system protection on this machine (Landlock unavailable)"]
    finally:
        sandbox.close()


def test_secrets_stay_out_of_the_kernel_environment(tmp_path):
    env = sandbox_environment({"PATH": "/bin", "GITHUB_TOKEN": "x", "AWS_SECRET_ACCESS_KEY": "y", "MY_PASSWORD": "z",
                               "HOME": "/root"}, tmp_path)
    assert env["PATH"] == "/bin" and env["HOME"] == str(tmp_path)
    assert not {"GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "MY_PASSWORD"} & set(env)


def test_output_is_capped_per_cell():
    client = CappedNotebookClient(nbformat.v4.new_notebook())
    client.clear_before_next_output = False  # set by nbclient when a cell starts
    outs: list = []
    msg = {"msg_type": "stream", "header": {"msg_type": "stream"}, "parent_header": {"msg_id": "m"},
           "content": {"name": "stdout", "text": "x" * 100_000}}
    for _ in range(500):  # 50 MB
        client.output(outs, msg, None, 0)
    kept = sum(len(o.get("text", "")) for o in outs)
    assert kept <= client.output_limit + 200
    assert "truncated" in outs[-1]["text"]
    fresh: list = []  # the next cell starts again from zero
    client.output(fresh, msg, None, 0)
    assert len(fresh) == 1 and "truncated" not in fresh[0]["text"]


def test_probe_files_are_never_followed_through_symlinks_or_fifos(tmp_path):
    target = tmp_path / "target"
    target.write_text("precious")
    link = tmp_path / "probe.in"
    link.symlink_to(target)
    write_bytes(link, b"data")
    assert target.read_text() == "precious" and link.read_bytes() == b"data" and not link.is_symlink()
    out = tmp_path / "probe.out"
    out.symlink_to(target)
    with pytest.raises(OSError):
        read_bytes(out, 1000)
    fifo = tmp_path / "fifo.out"
    os.mkfifo(fifo)
    with pytest.raises(UnsafeFile):
        read_bytes(fifo, 1000)
    big = tmp_path / "big.out"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(UnsafeFile):
        read_bytes(big, 1000)


def test_sockets_of_the_grader_are_not_discoverable_from_the_sandbox(tmp_path, protections):
    """Landlock (ABI 7) does not cover connecting to a named UNIX socket whose path is known; the
    network namespace keeps the paths of the grader's sockets (zygote, other kernels) out of
    /proc/net/unix, and their directories cannot be listed."""
    if not protections["network: TCP to this machine or beyond"]:
        pytest.skip("no network isolation here")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "grader.sock"))
    listener.listen(1)
    try:
        status, result = _in_sandboxed_child(
            tmp_path, "import grader.sandbox.network as n; n.isolate(True)\n"
                      "assert 'grader.sock' not in open('/proc/net/unix').read()\n"
                      "import os; os.listdir(outside)")
    finally:
        listener.close()
    assert result.startswith("denied"), result


@pytest.mark.parametrize("request_line", [
    {"kernel_args": [], "env": {}, "cwd": "/", "log": os.devnull},
    {"reference": "/tmp", "log": os.devnull},  # the reference run is forked without a sandbox
], ids=["kernel", "reference run"])
def test_the_zygote_forks_kernels_only_for_the_grader_that_started_it(tmp_path, request_line):
    """A kernel that found the zygote's socket must not get an unsandboxed child from it."""
    from grader.zygote.client import Zygote

    request = json.dumps(request_line) + "\n"
    code = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ns.settimeout(10)\n"
            f"try:\n    s.sendall({request.encode()!r})\n    print(repr(s.recv(100)))\n"
            "except OSError:\n    print(repr(b''))")  # refused: closed, reset or a broken pipe
    with Zygote(tmp_path / "zygote", dict(os.environ)) as zygote:
        run = subprocess.run([sys.executable, "-c", code, zygote.socket_path], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "b''"  # closed without forking anything
