"""`grade --check-sandbox`: which protections are really active on this machine.

Not a guess from kernel versions: a sandboxed process is started exactly as a kernel would be,
and tries what a student would (read a file beside its scratch dir, write outside, connect to a
port the checker listens on, raise its limits). Its findings are combined with what the wrapper
reported having applied.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox import bwrap, cgroup, namespaces
from grader.sandbox.apply import ISOLATED_START, read_status
from grader.sandbox.limits import OUTPUT_LIMIT
from grader.sandbox.policy import MEMORY_MAX, build_policy
from grader.sandbox.session import launcher_argv

PROBE = r"""
import json, os, resource, socket, sys
secret, outside, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
found = {}
def denied(f):
    try:
        f()
        return False
    except OSError:
        return True
found["read"] = denied(lambda: open(secret).read())
found["write"] = denied(lambda: open(outside, "w").write("x"))
found["connect"] = denied(lambda: socket.create_connection(("127.0.0.1", port), timeout=2).close())
try:
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    found["limits_fixed"] = False
except (ValueError, OSError):
    found["limits_fixed"] = True
caps = [l for l in open("/proc/self/status") if l.startswith("CapEff:")]
found["no_capabilities"] = bool(caps) and int(caps[0].split()[1], 16) == 0
found["own_ipc"] = os.readlink("/proc/self/ns/ipc") != sys.argv[4] and not os.listdir("/dev/shm")
found["own_pid"] = os.readlink("/proc/self/ns/pid") != sys.argv[5]
found["devices"] = set(os.listdir("/dev")) <= set(sys.argv[6].split(","))
found["no_terminal"] = os.getsid(0) != int(sys.argv[7])
print(json.dumps(found))
"""
# A module the exec wrapper would import first if the scratch dir were on its sys.path.
SHADOW = "open(__file__ + '.imported', 'w').close()\n"
DEVICES = "null,zero,full,random,urandom,tty,shm,fd,stdin,stdout,stderr,pts,ptmx,core"


@dataclass
class Protection:
    name: str
    active: bool
    how: str


ADVICE = {
    "file system": "file system and network (Landlock): Linux >= 5.13 with Landlock enabled (TCP rules: >= 6.7); "
                   "not macOS, Windows or WSL1. In a container whose seccomp profile blocks landlock_* (Docker "
                   "before 25), allow those syscalls. Without it, grade only trusted notebooks, or in a throwaway VM.",
    "network": "network: unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu "
               "kernel.apparmor_restrict_unprivileged_userns=0), or root with CAP_SYS_ADMIN.",
    "cgroup v2": "cleanup, process count, memory, CPU share (cgroup v2): run the grader in a cgroup delegated to "
                 "you: `systemd-run --user --scope -p Delegate=yes grade ...` (systemd >= 252 delegates pids, "
                 "memory and cpu to users; older: a drop-in with `Delegate=pids memory cpu` for user@.service), a "
                 "systemd service with Delegate=yes, or root.",
    "cgroup v1": "cleanup, process count, memory, CPU share (cgroup v1): v1 hierarchies are never delegated to "
                 "users: run the grader as root, or on a cgroup v2 machine with a delegated cgroup.",
    "namespaces": "IPC namespace, device allowlist, PID namespace, terminal: install bubblewrap (apt-get install "
                  "bubblewrap) and allow unprivileged user namespaces (see network), or run the grader as root.",
    "process count": "process count: as non-root, unprivileged user namespaces give a cap that counts only the "
                     "kernel's tasks; as root, only a pids cgroup caps processes.",
}


def advice(missing: list[Protection], cgroup_root: Path | None = None) -> list[str]:
    """How to get the missing protections on this kind of machine (also in the README, "Where it runs")."""
    names = " ".join(p.name for p in missing)
    tips = []
    if "file system" in names:
        tips.append(ADVICE["file system"])
    if "network" in names:
        tips.append(ADVICE["network"])
    if any(k in names for k in ("CPU share", "cleanup", "memory of all", "process count")):
        v2 = (cgroup_root or cgroup.ROOT) / "cgroup.controllers"
        tips.append(ADVICE["cgroup v2" if v2.exists() else "cgroup v1"])
    if "process count" in names:
        tips.append(ADVICE["process count"])
    if any(k in names for k in ("IPC namespace", "device allowlist", "PID namespace", "controlling terminal")):
        tips.append(ADVICE["namespaces"])
    return tips


def check() -> list[Protection]:
    with tempfile.TemporaryDirectory(prefix="grader-check-") as tmp:
        root = Path(tmp)
        scratch = root / "work"
        scratch.mkdir()
        (root / "secret.txt").write_text("solutions")
        (scratch / "probe.py").write_text(PROBE)
        for name in ("grader.py", "json.py", "os.py", "sitecustomize.py"):
            (scratch / name).write_text(SHADOW)
        placement = cgroup.place(build_policy(scratch).limits.processes, MEMORY_MAX)
        group = placement.group
        policy = build_policy(scratch, root / "status.json", cgroup_dirs=group.dirs if group else [])
        policy.isolation = "bwrap" if bwrap.unusable_reason() is None else "namespaces"
        (root / "policy.json").write_text(policy.to_json())
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        try:
            namespaces = [os.readlink(f"/proc/self/ns/{kind}") if sys.platform == "linux" else "" for kind in ("ipc", "pid")]
            run = subprocess.run(
                [*launcher_argv(root / "policy.json"),
                 sys.executable, "-I", "probe.py", str(root / "secret.txt"), str(root / "outside.txt"),
                 str(listener.getsockname()[1]), *namespaces, DEVICES, str(os.getsid(0))],
                cwd=scratch, capture_output=True, text=True, timeout=60, start_new_session=True,
            )
            found = json.loads(run.stdout.strip().splitlines()[-1]) if run.returncode == 0 else {}
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            found = {}
        finally:
            listener.close()
            if group is not None:
                group.remove()
        status = read_status(str(root / "status.json"))
        shadowed = [p.name for p in scratch.glob("*.imported")]
    active = status.active if status else {}
    missing = cgroup.combine_missing(active, status.missing if status else {"sandbox": "the exec wrapper did not run"},
                                     placement.missing)
    abi = 0
    if sys.platform == "linux":  # landlock.py loads libc through ctypes: Linux only
        from grader.sandbox import landlock

        abi = landlock.abi_version()

    def how(key: str, fallback: str) -> str:
        return active.get(key) or missing.get(key) or fallback

    limits = policy.limits
    memory_how = "; ".join(filter(None, [active.get("memory (address space)"), active.get("memory (resident)")]))
    protections = [
        Protection("file system: reading outside allowed dirs", bool(found.get("read")),
                   how("file system", f"Landlock ABI {abi}")),
        Protection("file system: writing outside scratch", bool(found.get("write")), how("file system", f"Landlock ABI {abi}")),
        Protection("network: TCP to this machine or beyond", bool(found.get("connect")),
                   how("network", missing.get("network namespace", "no mechanism"))),
        Protection("memory", "memory (address space)" in active or "memory (resident)" in active,
                   memory_how or missing.get("memory", "no RLIMIT_AS and no memory cgroup")),
        Protection("memory of all its processes together", "memory (resident)" in active,
                   how("memory (resident)", "no memory cgroup: each process has its own RLIMIT_AS")),
        Protection("CPU time", "CPU time" in active, how("CPU time", f"RLIMIT_CPU {limits.cpu_s} s")),
        Protection("CPU share (a fork bomb cannot starve the machine)", "CPU share" in active,
                   how("CPU share", "no cpu cgroup")),
        Protection("wall time", True, "per-cell timeout and notebook budget in the grader; a stuck kernel is killed"),
        Protection("process count", "process count" in active, how("process count", "no mechanism")),
        Protection("file size", "file size" in active, how("file size", "RLIMIT_FSIZE")),
        Protection("output size", True, f"at most {OUTPUT_LIMIT >> 10} KB of output kept per cell"),
        Protection("cleanup of every process the kernel started", "process cleanup" in active,
                   how("process cleanup", "process group only: a child that calls setsid() escapes")),
        Protection("limits cannot be raised", bool(found.get("limits_fixed")),
                   how("capabilities", "hard limits set; no capability to raise them")
                   if os.geteuid() == 0 else "hard limits set; an unprivileged process cannot raise them"),
    ]
    protections += [
        Protection("isolated start (nothing the notebook writes is imported before the sandbox)",
                   not shadowed and bool(found), how(ISOLATED_START, "") if not shadowed else f"imported {shadowed}"),
        Protection("IPC namespace and private /dev/shm", bool(found.get("own_ipc")), how("IPC namespace", "")),
        Protection("device allowlist", bool(found.get("devices")), how("device allowlist", "")),
        Protection("PID namespace (nothing outlives the kernel)", bool(found.get("own_pid")), how("PID namespace", "")),
        Protection("no controlling terminal", bool(found.get("no_terminal")),
                   active.get("terminal") or ("a session of its own: /dev/tty cannot be opened" if found.get("no_terminal")
                                              else missing.get("terminal", "the kernel has a controlling terminal"))),
    ]
    if os.geteuid() == 0:
        protections.append(Protection("no root privileges", bool(found.get("no_capabilities")),
                                      how("capabilities", "running as root with capabilities")))
    if abi >= 6:
        protections.append(Protection("signals and abstract sockets outside the sandbox", "signals, abstract sockets" in active,
                                      how("signals, abstract sockets", "")))
    return protections


def how_kernels_start() -> str:
    """Which way a grading here starts its kernel (grade.kernel_fork_server decides the same way)."""
    if not sys.platform.startswith("linux"):
        return "Kernels: exec'd (fork servers need Linux)."
    reason = namespaces.unusable_reason()
    if reason is None:
        return ("Kernels: forked from a fork server (torch imported once); each makes the namespaces above"
                " itself, as tried here.")
    if bwrap.unusable_reason() is None:
        return f"Kernels: exec'd through bubblewrap, since a forked kernel cannot make namespaces here ({reason})."
    return f"Kernels: forked; neither a forked kernel nor bubblewrap can make namespaces here ({reason})."


def main() -> int:
    protections = check()
    width = max(len(p.name) for p in protections)
    for p in protections:
        print(f"{'active ' if p.active else 'MISSING'}  {p.name.ljust(width)}  {p.how}")
    missing = [p for p in protections if not p.active]
    print(f"\n{len(protections) - len(missing)}/{len(protections)} protections active"
          + (f"; missing: {', '.join(p.name for p in missing)}" if missing else ""))
    print(how_kernels_start())
    tips = advice(missing)
    if tips:
        print("\nTo get the missing protections:")
        for tip in tips:
            print(f"- {tip}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
