"""Machines other than this one: no Landlock, no namespaces, no cgroups, not Linux, other devices.

A seccomp filter (what a locked-down container applies) makes this Linux look like such a machine:
landlock_* fail with ENOSYS and every namespace-creating call with EPERM, for the grader and every
process it starts. Linux-only modules are blocked in the grader process, as on Windows.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader import device
from grader.report import GradeReport

ROOT = Path(__file__).resolve().parent.parent

# (audit arch, unshare, setns, clone) per machine; landlock_* (444-446) and clone3 (435) are shared
ARCHES = {"x86_64": (0xC000003E, 272, 308, 56), "aarch64": (0xC00000B7, 97, 268, 220)}
NO_SECCOMP = 77  # exit status of a test process that could not install the filter
NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000


def seccomp_without_sandboxing() -> None:
    """Install a filter: no Landlock (ENOSYS), no new namespaces (EPERM), clone3 ENOSYS (glibc falls back)."""
    arch, unshare, setns, clone = ARCHES[platform.machine()]
    ld, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06
    allow, enosys, eperm = 0x7FFF0000, 0x00050000 | 38, 0x00050000 | 1
    # (code, true-target, false-target, k) with targets as labels resolved below
    program = [
        (ld, None, None, 4), (jeq, "next", "allow", arch),
        (ld, None, None, 0),
        (jeq, "enosys", "next", 444), (jeq, "enosys", "next", 445), (jeq, "enosys", "next", 446),
        (jeq, "enosys", "next", 435), (jeq, "eperm", "next", unshare), (jeq, "eperm", "next", setns),
        (jeq, "next", "allow", clone),
        (ld, None, None, 16), (jset, "eperm", "allow", NAMESPACE_FLAGS),
        ("allow",), ("enosys",), ("eperm",),
    ]
    labels = {entry[0]: i for i, entry in enumerate(program) if len(entry) == 1}
    results = {"allow": allow, "enosys": enosys, "eperm": eperm}
    raw = b""
    for i, entry in enumerate(program):
        if len(entry) == 1:
            raw += struct.pack("HBBI", ret, 0, 0, results[entry[0]])
            continue
        code, jt, jf, k = entry
        offset = {None: 0, "next": 0}
        jt_off = offset.get(jt, labels.get(jt, 0) - i - 1)
        jf_off = offset.get(jf, labels.get(jf, 0) - i - 1)
        raw += struct.pack("HBBI", code, jt_off, jf_off, k)
    buffer = ctypes.create_string_buffer(raw)

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    prog = Prog(len(program), ctypes.cast(buffer, ctypes.c_void_p))
    # PR_SET_NO_NEW_PRIVS, then PR_SET_SECCOMP with a filter; a machine that refuses: SystemExit(NO_SECCOMP)
    if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:
        raise SystemExit(NO_SECCOMP)


BLOCK_LINUX_ONLY = """
import importlib.abc, socket, sys
BLOCKED = {"resource", "fcntl", "termios", "pty"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not available on this platform")
for loaded in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:
    del sys.modules[loaded]
sys.meta_path.insert(0, Block())
if hasattr(socket, "SO_PEERCRED"):
    del socket.SO_PEERCRED
"""


def run_python(code: str, tmp_path: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(code))
    run = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if run.returncode == NO_SECCOMP:
        pytest.skip("this machine refuses a seccomp filter, so it cannot pretend to lack Landlock")
    return run


@pytest.mark.skipif(sys.platform != "linux" or platform.machine() not in ARCHES, reason="seccomp simulation: Linux x86_64/arm64")
def test_a_machine_without_landlock_namespaces_cgroups_or_linux_modules_still_grades_hw3(tmp_path):
    """Everything missing at once: 18/18 all the same, and the report says which protections are missing."""
    (tmp_path / "no-cgroups").mkdir()
    out = tmp_path / "report.json"
    run = run_python(f"""
        import sys
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from test_platforms import seccomp_without_sandboxing
        seccomp_without_sandboxing()
        {BLOCK_LINUX_ONLY.strip().replace(chr(10), chr(10) + "        ")}
        from pathlib import Path
        import grader.sandbox.cgroup as cgroup
        cgroup.ROOT = Path({str(tmp_path / "no-cgroups")!r})
        from grader.cli import main
        code = main([{str(ROOT / "solutions" / "hw3.ipynb")!r}, "-o", {str(out)!r}, "--json"])
        print("LOADED", sorted(m for m in sys.modules if m in ("resource", "fcntl")))
        sys.exit(code)
    """, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "LOADED []" in run.stdout
    report = GradeReport.model_validate_json(out.read_text())
    assert report.status == "graded" and report.score == pytest.approx(18.0), report.errors
    assert report.device == "cpu"
    warnings = "\n".join(report.warnings)
    for protection in ("file system", "network", "process cleanup", "CPU share"):
        assert f"sandbox: no {protection} protection" in warnings, warnings
    assert "Landlock unavailable" in warnings
    assert "setsid()" in warnings  # the report says what the missing cleanup means
    if os.geteuid() == 0:
        assert "sandbox: no process count protection" in warnings


@pytest.mark.skipif(sys.platform != "linux" or platform.machine() not in ARCHES, reason="seccomp simulation")
def test_check_sandbox_on_such_a_machine_names_the_missing_protections_and_the_fix(tmp_path):
    (tmp_path / "no-cgroups").mkdir()
    run = run_python(f"""
        import sys
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from test_platforms import seccomp_without_sandboxing
        seccomp_without_sandboxing()
        from pathlib import Path
        import grader.sandbox.cgroup as cgroup
        cgroup.ROOT = Path({str(tmp_path / "no-cgroups")!r})
        from grader.cli import main
        sys.exit(main(["--check-sandbox"]))
    """, tmp_path, timeout=120)
    assert run.returncode == 1, run.stderr[-3000:]
    missing = [line for line in run.stdout.splitlines() if line.startswith("MISSING")]
    text = "\n".join(missing)
    for name in ("file system: reading", "file system: writing", "network", "CPU share", "cleanup"):
        assert name in text, run.stdout
    assert "To get the missing protections" in run.stdout
    assert "Landlock" in run.stdout and "never delegated to users: run the grader as root" in run.stdout


def test_check_sandbox_advice_fits_the_cgroup_version(tmp_path):
    from grader.sandbox.check import Protection, advice

    missing = [Protection("cleanup of every process the kernel started", False, "no writable cgroup"),
               Protection("process count", False, "no pids cgroup")]
    v1 = "\n".join(advice(missing, tmp_path))
    assert "(cgroup v1)" in v1 and "systemd-run" not in v1 and "user namespaces" in v1
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    v2 = "\n".join(advice(missing, tmp_path))
    assert "systemd-run --user --scope -p Delegate=yes grade" in v2
    assert advice([Protection("file size", False, "")], tmp_path) == []


@pytest.mark.parametrize("platform_name,has_resource", [("darwin", True), ("win32", False)])
def test_the_wrapper_on_macos_and_windows_reports_instead_of_crashing(tmp_path, platform_name, has_resource):
    status_path = tmp_path / "status.json"
    run = run_python(f"""
        import sys
        {"" if has_resource else BLOCK_LINUX_ONLY.strip().replace(chr(10), chr(10) + "        ")}
        sys.platform = {platform_name!r}
        from pathlib import Path
        from grader.sandbox.apply import apply
        from grader.sandbox.policy import build_policy
        policy = build_policy(Path({str(tmp_path)!r}), Path({str(status_path)!r}))
        policy.limits.address_space = None
        apply(policy)
        print("LOADED", sorted(m for m in sys.modules if m.startswith("grader.sandbox.")))
    """, tmp_path, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "grader.sandbox.landlock" not in run.stdout and "grader.sandbox.network" not in run.stdout
    status = json.loads(status_path.read_text())
    for protection in ("file system", "network", "process cleanup", "process count", "CPU share"):
        assert platform_name in status["missing"][protection]
    if has_resource:
        assert "CPU time" in status["active"] and "file size" in status["active"]
    else:
        assert "no setrlimit" in status["missing"]["resource limits"]


def test_device_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(device, "cuda_present", lambda: True)
    monkeypatch.setattr(device, "mps_present", lambda: True)
    assert device.resolve_device("auto") == "cuda"
    monkeypatch.setattr(device, "cuda_present", lambda: False)
    assert device.resolve_device("auto") == "mps"
    assert device.resolve_device("mps") == "mps"
    monkeypatch.setattr(device, "mps_present", lambda: False)
    assert device.resolve_device("auto") == "cpu"
    with pytest.raises(device.DeviceUnavailable, match="Apple silicon"):
        device.resolve_device("mps")


@pytest.mark.parametrize("system,machine,version,expected", [
    ("darwin", "arm64", "14.2.1", True), ("darwin", "arm64", "12.3", True), ("darwin", "arm64", "12.2", False),
    ("darwin", "x86_64", "14.0", False), ("linux", "arm64", "", False), ("darwin", "arm64", "", False),
])
def test_mps_is_present_on_apple_silicon_with_macos_12_3_or_later(monkeypatch, system, machine, version, expected):
    monkeypatch.setattr(device.sys, "platform", system)
    monkeypatch.setattr(device.platform, "machine", lambda: machine)
    monkeypatch.setattr(device.platform, "mac_ver", lambda: (version, ("", "", ""), ""))
    assert device.mps_present() is expected


def test_the_report_names_the_device_used(monkeypatch):
    from grader import grade

    monkeypatch.setattr(grade, "resolve_device", lambda requested: "mps" if requested == "auto" else requested)
    stub = ROOT / "assignments" / "hw1" / "hw1.ipynb"  # no training: nothing runs on the device
    report = grade.grade_notebook(stub, grade.GradeOptions(device="auto"))
    assert report.status == "graded" and report.device == "mps"


# ---- bulk: the run's missing protections, once ---------------------------------------------------

def _report(name: str, warnings: list[str], status: str = "graded") -> GradeReport:
    return GradeReport(assignment="hw3", score=18, max_score=18, status=status, submission={"path": name},
                       grader_version="test", warnings=warnings)


NO_CGROUP = "sandbox: no process cleanup protection on this machine (no writable cgroup: a child that calls setsid() could outlive grading)"
NO_CPU = "sandbox: no CPU share protection on this machine (no cpu cgroup: a fork bomb can starve the machine)"
NO_FS = "sandbox: no file system protection on this machine (Landlock unavailable: [Errno 38] Function not implemented)"


def test_bulk_sandbox_summary_says_the_run_wide_set_once_and_names_notebooks_that_differ():
    from grader.sandbox_summary import summarize_sandbox

    reports = {f"s{i}/hw3.ipynb": _report(f"s{i}", [NO_CGROUP, NO_CPU, "cell 3 printed a lot"]) for i in range(4)}
    reports["odd/hw3.ipynb"] = _report("odd", [NO_CGROUP, NO_FS])
    reports["broken/hw3.ipynb"] = _report("broken", [], status="error")  # ran no kernel: nothing to compare
    summary = summarize_sandbox(reports)
    assert list(summary.usual) == ["CPU share", "process cleanup"]
    assert "setsid()" in summary.usual["process cleanup"]
    assert list(summary.differing) == ["odd/hw3.ipynb"]
    assert summary.differing["odd/hw3.ipynb"] == [
        "also missing file system (Landlock unavailable: [Errno 38] Function not implemented)", "had CPU share"]
    text = "\n".join(summary.lines())
    assert text.count("process cleanup") == 1 and "cell 3 printed" not in text
    markdown = summary.markdown()
    assert markdown.startswith("## Sandbox") and "- **CPU share**:" in markdown and "`odd/hw3.ipynb`" in markdown


def test_bulk_sandbox_summary_when_everything_held():
    from grader.sandbox_summary import summarize_sandbox

    summary = summarize_sandbox({"a.ipynb": _report("a", []), "b.ipynb": _report("b", ["cell 1 is slow"])})
    assert not summary.usual and not summary.differing
    assert summary.lines() == ["sandbox: every protection was active for every notebook"]


def test_bulk_console_and_summary_md_put_the_sandbox_section_at_the_top(tmp_path, monkeypatch, capsys):
    """run_bulk with grading replaced by reports already on disk: the summary is what is tested."""
    from grader import bulk_cli
    from grader.bulk import BulkResult, find_submissions
    from grader.grade import GradeOptions
    from grader.report import write_atomic

    subs, out = tmp_path / "subs", tmp_path / "out"
    warnings = {"ann": [NO_CGROUP], "bea": [NO_CGROUP], "[bold]cid": [NO_CGROUP, NO_FS]}
    for name in warnings:
        (subs / name).mkdir(parents=True)
        (subs / name / "hw3.ipynb").write_text("{}")
    items = find_submissions(subs, out)
    for item in items:
        item.report_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(item.report_path, _report(str(item.relative), warnings[item.relative.parts[0]]).model_dump_json())

    async def graded(*args, **kwargs):
        return BulkResult(items=items, graded=items)

    monkeypatch.setattr(bulk_cli, "grade_folder", graded)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert bulk_cli.run_bulk(subs, out, GradeOptions(), jobs=1, force=False, fail_under=None) == 0
    console = capsys.readouterr().out
    assert console.index("sandbox: missing for this whole run") < console.index("checks across submissions")
    assert console.count("process cleanup") == 1
    assert "[bold]cid/hw3.ipynb: also missing file system" in console  # literal, not markup
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# Grading summary\n\n## Sandbox")
    assert summary.index("## Sandbox") < summary.index("| assignment | check |")
    assert summary.count("process cleanup") == 1


def test_writing_a_report_to_a_device_or_fifo_writes_through_and_never_replaces_it(tmp_path):
    """`grade -o /dev/null` as root once replaced /dev/null with a regular file for the whole machine."""
    import stat
    import threading

    from grader.report import write_atomic

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    write_atomic(fifo, "report")
    reader.join(10)
    assert received == ["report"] and stat.S_ISFIFO(os.stat(fifo).st_mode)
    write_atomic(Path(os.devnull), "report")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
