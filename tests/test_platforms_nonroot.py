"""As root, also grade as an unprivileged uid, so CI keeps the non-root path honest.

Users run the grader as themselves: no writable cgroup, RLIMIT_NPROC counted per uid, no
capabilities. When the suite runs as root, this grades the hw3 solution with a notebook cell that
escapes its session (`setsid sleep`) as `nobody`, through `setpriv`, with a private HOME and
TMPDIR. Where the interpreter lives under a directory that uid cannot enter (pyenv in /root), a
private mount namespace shows it just that path: a tmpfs over the closed directory with only the
needed child bound back.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from grader.report import GradeReport
from tests.helpers import solution, with_cells

ROOT = Path(__file__).resolve().parent.parent
UID = GID = 65534  # nobody: exists everywhere, owns nothing of ours

as_root_only = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("unshare") is None,
    reason="runs as root only (it switches to an unprivileged uid with setpriv)")


def closed_directories(paths: list[Path]) -> list[tuple[Path, str]]:
    """(directory others cannot enter, its child on the way to one of `paths`), outermost first."""
    found: list[tuple[Path, str]] = []
    for path in paths:
        parts = path.resolve().parts
        for depth in range(1, len(parts) - 1):
            directory = Path(*parts[:depth])
            if not os.stat(directory).st_mode & stat.S_IXOTH and (directory, parts[depth]) not in found:
                found.append((directory, parts[depth]))
    return found


def as_unprivileged(argv: list[str], env: dict[str, str], timeout: int) -> subprocess.CompletedProcess:
    needed = [Path(os.path.realpath(sys.executable)), Path(sys.prefix), Path(sys.base_prefix), ROOT]
    script = ["set -e"]
    for i, (directory, child) in enumerate(closed_directories(needed)):
        alias = f"/run/grader-alias-{os.getpid()}-{i}"
        script += [f"mkdir -p {alias}", f"mount --bind {directory} {alias}",
                   f"mount -t tmpfs -o mode=755 tmpfs {directory}", f"mkdir -p {directory}/{child}",
                   f"mount --bind {alias}/{child} {directory}/{child}"]
    script.append(f'exec setpriv --reuid={UID} --regid={GID} --clear-groups --inh-caps=-all -- "$@"')
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(script), "sh",
                           *argv], env=env, capture_output=True, text=True, timeout=timeout)


def sleepers(tag: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and tag.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


@as_root_only
def test_hw3_as_an_unprivileged_user_gets_full_marks_and_leaves_no_process_behind():
    home = Path(tempfile.mkdtemp(prefix="grader-nonroot-"))
    os.chown(home, UID, GID)
    tag = f"600.{uuid.uuid4().int % 10**9}"  # sleep's argument: finds exactly this test's process
    nb = with_cells(solution("hw3"), append=[
        f"import subprocess\nsubprocess.Popen(['sleep', '{tag}'], start_new_session=True)"])
    notebook = home / "hw3.ipynb"
    nbformat.write(nb, notebook)
    os.chown(notebook, UID, GID)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TMPDIR": str(home),
           "LANG": "C.UTF-8", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    try:
        run = as_unprivileged([sys.executable, "-m", "grader.cli", str(notebook), "-o", str(home / "report.json"),
                               "--json"], env | {"PYTHONPATH": str(ROOT)}, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        report = GradeReport.model_validate_json((home / "report.json").read_text())
        assert report.status == "graded" and report.score == pytest.approx(18.0), report.errors
        warnings = "\n".join(report.warnings)
        time.sleep(0.5)
        left = sleepers(tag)
        if "no process cleanup protection" not in warnings:
            assert left == [], f"the report claims cleanup, but `sleep {tag}` outlived grading"
        # the report never claims protections a normal user cannot have on this machine
        user_cannot = "the grader's cgroup" in warnings or "not writable by uid" in warnings
        if user_cannot:
            assert "process cleanup" in warnings or left == []
        assert json.loads((home / "report.json").read_text())["score"] == report.score
    finally:
        for pid in sleepers(tag):
            os.kill(pid, 9)
        shutil.rmtree(home, ignore_errors=True)


def test_closed_directories_are_found_outermost_first(tmp_path):
    closed = tmp_path / "closed"
    (closed / "inner" / "deeper").mkdir(parents=True)
    closed.chmod(0o700)
    try:
        found = closed_directories([closed / "inner" / "deeper" / "python"])
        assert [(d, child) for d, child in found if d == closed or closed in d.parents] == [(closed, "inner")]
    finally:
        closed.chmod(0o755)


FORK_COUNT = r"""
import json, os, subprocess, sys, time
from pathlib import Path
from grader.sandbox.apply import apply
from grader.sandbox.policy import build_policy

others = [subprocess.Popen(["sleep", "60"]) for _ in range(int(sys.argv[2]))]  # the user's other processes
scratch = Path(sys.argv[1])
policy = build_policy(scratch, scratch / "status.json")
policy.limits.processes, policy.limits.address_space = int(sys.argv[3]), None
policy.network = sys.argv[4]  # open: no namespace of its own, so the cap is shared with the user's tasks
pid = os.fork()
if pid == 0:  # the kernel: sandboxed, then forks until refused
    apply(policy)
    children = []
    try:
        while len(children) < 1000:
            child = os.fork()
            if child == 0:
                time.sleep(30)
                os._exit(0)
            children.append(child)
    except OSError:
        pass
    print(json.dumps({"forked": len(children)}), flush=True)
    for child in children:
        os.kill(child, 9)
    os._exit(0)
os.waitpid(pid, 0)
for other in others:
    other.kill()
print(json.dumps(json.loads((scratch / "status.json").read_text())))
"""


@pytest.mark.parametrize("network", ["isolated", "open"])
def test_the_process_cap_counts_only_the_kernels_tasks_whatever_else_the_user_runs(network):
    """Non-root without a pids cgroup: 100 other processes of the uid must not raise the kernel's cap."""
    scratch = Path(tempfile.mkdtemp(prefix="grader-nproc-"))
    if os.geteuid() == 0:
        os.chown(scratch, UID, GID)
    argv = [sys.executable, "-c", FORK_COUNT, str(scratch), "100", "40", network]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "HOME": str(scratch)}
    try:
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None or shutil.which("unshare") is None:
                pytest.skip("needs setpriv and unshare to run as an unprivileged uid")
            run = as_unprivileged(argv, env, timeout=120)
        else:
            run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
        forked, status = (json.loads(line) for line in run.stdout.strip().splitlines()[-2:])
        if "process count" in status["active"]:
            assert forked["forked"] < 40, (forked, status["active"]["process count"])
            assert "only its tasks" in status["active"]["process count"] or "cgroup" in status["active"]["process count"]
        else:  # no user namespace here: the report must say the cap is shared, not claim 40
            assert "counts every process of uid" in status["missing"]["process count"]
            assert network == "open" or "network" in status["missing"] or "network namespace" in status["missing"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
