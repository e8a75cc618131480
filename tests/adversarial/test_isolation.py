"""Kernel isolation (issues 11 and 13): each escape class, in an exec'd kernel (the `grade`
command's path) and in a kernel forked from the zygote (bulk grading's path).

A case is a notebook (the hw3 solution plus hostile cells from cases.py). Whatever it does, the
report is valid, the honest functions keep their points, the cells marked CLEAN ran without
finding a way out, nothing outside the sandbox changed, and nothing of it is left behind.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import random
import select
import string
import subprocess
import sys
import tempfile
import termios
import time
import uuid
from pathlib import Path

import pytest

from grader.grade import zygote_environment
from grader.report import GradeReport
from grader.sandbox.apply import NAMESPACE_PROTECTIONS
from grader.zygote.client import Zygote
from tests.adversarial.cases import CLEAN, DEVICES, ENVIRON, IPC, KILL_ONCE, MAX, PIDS, PROBING, SHADOW, STILL_SANDBOXED
from tests.helpers import grade, shared_zygote, solution, with_cells, write
from tests.test_sandbox import MARK_ENV, Outside, _leftovers

SECRET_NAME = "GRADER_TEST_API_TOKEN"

both = pytest.mark.parametrize("fork", [False, True], ids=["exec", "forked"])


def own_namespace(kind: str) -> str:
    return os.readlink(f"/proc/self/ns/{kind}")


def own_start_time() -> str:
    """This process's start time in clock ticks since boot: with its pid, it names this process
    in any PID namespace (a pid alone may belong to another process there)."""
    return Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]


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
    own_module = ("import sys\nopen('helper_mod.py', 'w').write('X = 1')\nimport helper_mod\nassert helper_mod.X == 1\n"
                  "assert hash('abc') == " + str(hash_of_abc_with_seed_0()) + ", 'PYTHONHASHSEED=0 was not applied'\n" + CLEAN)
    try:
        report = run([own_module], tmp_path, monkeypatch, fork, zygote=zygote)
    finally:
        if zygote is not None:
            zygote.stop()
    assert all(c.status == "ok" for c in report.cells)


def hash_of_abc_with_seed_0() -> int:
    run = subprocess.run([sys.executable, "-c", "print(hash('abc'))"], env={**os.environ, "PYTHONHASHSEED": "0"},
                         capture_output=True, text=True, check=True)
    return int(run.stdout)


def test_relative_pythonpath_entries_never_reach_the_kernel(tmp_path):
    """PYTHONPATH=. is common; relative to the kernel's cwd it would be the scratch dir."""
    from grader.sandbox.policy import sandbox_environment

    env = sandbox_environment({"PYTHONPATH": os.pathsep.join([".", "", "/opt/lib", "src"])}, tmp_path)
    assert env["PYTHONPATH"] == "/opt/lib"


def test_cells_marked_clean_are_checked(tmp_path, monkeypatch):
    """The harness itself: a CLEAN cell that finds a way out fails the test."""
    with pytest.raises(AssertionError, match="escaped"):
        run(["raise RuntimeError('escaped: test')\n" + CLEAN], tmp_path, monkeypatch, fork=True)


# ---- 11.3: a private IPC namespace and /dev/shm; nothing a kernel leaves survives it --------------

_libc = ctypes.CDLL(None, use_errno=True)
IPC_CREAT, IPC_RMID = 0o1000, 0


def _sysv(key: int) -> dict[str, int]:
    """The SysV objects of this key visible here (id per kind)."""
    found = {"shm": _libc.shmget(key, 0, 0), "msg": _libc.msgget(key, 0), "sem": _libc.semget(key, 0, 0)}
    return {kind: ident for kind, ident in found.items() if ident != -1}


def _remove_sysv(key: int) -> None:
    for kind, ident in _sysv(key).items():
        if kind == "shm":
            _libc.shmctl(ident, IPC_RMID, None)
        elif kind == "msg":
            _libc.msgctl(ident, IPC_RMID, None)
        else:
            _libc.semctl(ident, 0, IPC_RMID)


@both
def test_ipc_objects_are_private_and_do_not_outlive_the_kernel(fork, tmp_path, monkeypatch):
    key = random.randrange(1 << 20, 1 << 30)
    name = f"grader-test-{uuid.uuid4().hex[:8]}"
    planted = Path("/dev/shm") / name
    planted.write_text("answers of an earlier submission")
    assert _libc.shmget(key, 4096, IPC_CREAT | 0o666) != -1
    assert _libc.msgget(key, IPC_CREAT | 0o666) != -1
    assert _libc.semget(key, 1, IPC_CREAT | 0o666) != -1
    try:
        run([IPC], tmp_path, monkeypatch, fork, {"shm_name": name, "sysv_key": str(key)})
        assert not (Path("/dev/shm") / f"{name}-left").exists()
        assert _sysv(key + 1) == {}
    finally:
        planted.unlink(missing_ok=True)
        (Path("/dev/shm") / f"{name}-left").unlink(missing_ok=True)
        _remove_sysv(key)
        _remove_sysv(key + 1)


# ---- 11.9: only the devices a kernel needs; no controlling terminal ------------------------------

@both
def test_only_allowed_devices_and_no_terminal(fork, tmp_path, monkeypatch):
    run([DEVICES], tmp_path, monkeypatch, fork, {"grader_sid": str(os.getsid(0))})


# ---- 13.3: a PID namespace: nothing the kernel started outlives it, even without a cgroup ---------

@both
def test_daemons_end_with_the_kernel_without_a_cgroup(fork, tmp_path, monkeypatch):
    monkeypatch.setattr("grader.sandbox.cgroup.create", lambda *a, **k: None)  # as for a non-root user
    report = run([PIDS], tmp_path, monkeypatch, fork,
                 {"grader_pidns": own_namespace("pid"), "grader_pid": str(os.getpid()),
                  "grader_start": own_start_time()})
    assert not [w for w in report.warnings if "process cleanup" in w], report.warnings


def _grade_in_a_terminal(args: list[str], timeout_s: float = 300) -> tuple[bytes, bytes]:
    """Run `grade ARGS` with a pseudo-terminal as its controlling terminal, as a user at a shell.

    Returns what appeared on the terminal and what was typed into it (input nobody read).
    """
    master, slave = os.openpty()
    grade_bin = str(Path(sys.executable).with_name("grade"))
    process = subprocess.Popen([grade_bin, *args], stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                               preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    shown = b""
    deadline = time.monotonic() + timeout_s
    while process.poll() is None and time.monotonic() < deadline:
        readable, _, _ = select.select([master], [], [], 0.2)
        if readable:
            shown += os.read(master, 1 << 16)
    if process.poll() is None:
        process.kill()
    process.wait()
    while select.select([master], [], [], 0.2)[0]:
        try:
            shown += os.read(master, 1 << 16)
        except OSError:
            break
    os.set_blocking(slave, False)
    try:
        typed = os.read(slave, 1 << 16)
    except OSError:
        typed = b""
    os.close(master)
    os.close(slave)
    return shown, typed


@both
def test_the_kernel_cannot_reach_the_graders_terminal(fork, tmp_path):
    """`grade` at a real terminal: nothing appears on it or is typed into it from the kernel."""
    cell = DEVICES.replace("$grader_sid", "-1").replace(CLEAN, "")
    nb = with_cells(solution("hw3"), append=[cell.replace("raise RuntimeError", "print")])
    folder = tmp_path / "subs"
    path = write(nb, folder / "hw3.ipynb")
    args = [str(folder), "-o", str(tmp_path / "out")] if fork else [str(path), "-o", str(tmp_path / "report.json")]
    shown, typed = _grade_in_a_terminal(args)
    assert b"PWNED" not in shown + typed, (shown[-2000:], typed)
    assert b"18" in shown  # the grader's own output did reach the terminal


# ---- without bwrap: the exec'd kernel gets the same namespaces from namespaces.py -----------------

def test_without_bwrap_an_execd_kernel_is_isolated_all_the_same(tmp_path, monkeypatch):
    monkeypatch.setattr("grader.sandbox.bwrap.unusable_reason", lambda: "bwrap is not installed (simulated)")
    key = random.randrange(1 << 20, 1 << 30)
    name = f"grader-test-{uuid.uuid4().hex[:8]}"
    try:
        report = run([IPC, DEVICES, PIDS, STILL_SANDBOXED], tmp_path, monkeypatch, fork=False,
                     values={"shm_name": name, "sysv_key": str(key), "grader_sid": str(os.getsid(0)),
                             "grader_pidns": own_namespace("pid"), "grader_pid": str(os.getpid()),
                             "grader_start": own_start_time()})
        # what the namespaces give must all hold (a normal user may still lack cgroup-only ones: CPU share)
        assert not [w for w in report.warnings if any(f"no {name} protection" in w for name in NAMESPACE_PROTECTIONS)
                    or "did not report" in w], report.warnings
        assert _sysv(key + 1) == {}
    finally:
        (Path("/dev/shm") / f"{name}-left").unlink(missing_ok=True)
        _remove_sysv(key + 1)


def test_where_no_namespace_can_be_made_the_report_names_what_is_missing(tmp_path):
    """unshare(2) refused (user namespaces disabled): grading goes on, each missing protection named."""
    from grader.sandbox import namespaces, network
    from grader.sandbox.apply import SandboxStatus
    from grader.sandbox.policy import build_policy

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        status = SandboxStatus()
        try:
            def refuse(flags: int) -> None:
                raise PermissionError(1, "unshare: Operation not permitted")

            network._unshare = refuse  # where namespaces.enter makes them (unshare_as_self)
            namespaces.enter(build_policy(tmp_path), [], status)
            os.write(write_fd, json.dumps({"missing": status.missing, "pid": os.getpid()}).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    result = json.loads(os.read(read_fd, 1 << 16))
    os.close(read_fd)
    assert result["pid"] == pid  # no fork happened: the caller goes on as itself
    for name in ("IPC namespace", "device allowlist", "PID namespace", "terminal"):
        assert "user namespaces may be disabled" in result["missing"][name]


# ---- what a student who read this code tries next (cases.PROBING lists each attempt) --------------

@both
def test_probing_the_sandbox_from_inside_finds_nothing(fork, tmp_path, monkeypatch):
    run([PROBING], tmp_path, monkeypatch, fork)
