"""Apply a SandboxPolicy to the calling process. It must be single-threaded (see landlock.py).

Order matters: join the cgroup (writes /sys) and enter a network namespace (needs
capabilities) first, then set the limits, drop capabilities (so the limits stay), and apply
Landlock last. What worked and what did not is returned (and written to the policy's
status file, which the student's code can no longer touch afterwards), never raised: a
missing mechanism is a warning in the report, not a failed grade.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

from grader.sandbox.cgroup import KernelCgroup
from grader.sandbox.cgroup import enforced as cgroup_enforced
from grader.sandbox.limits import apply_limits
from grader.sandbox.policy import SandboxPolicy, user_namespace


@dataclass
class SandboxStatus:
    active: dict[str, str] = field(default_factory=dict)  # protection -> how it is enforced
    missing: dict[str, str] = field(default_factory=dict)  # protection -> why it is not active


ISOLATED_START = "isolated start"
# What a kernel's own namespaces (bwrap.py, or namespaces.py) provide: the attack each stops.
NAMESPACE_PROTECTIONS = {
    "IPC namespace": "private SysV IPC and an empty private /dev/shm: nothing is shared with other kernels "
                     "or outlives this one",
    "device allowlist": "/dev holds only null, zero, full, random, urandom, tty (bwrap: and a private pts)",
    "PID namespace": "every process the kernel starts ends with it, even after setsid(); other processes are invisible",
    "terminal": "a session of its own without a controlling terminal: cannot write to or inject into the grader's",
    "mount namespace": "only the allowed paths exist (solutions and other submissions are absent)",
    "network": "network namespace with only a private loopback",
}
PID_CLEANUP = "PID namespace: everything the kernel started ends with it, even without a cgroup"


def join_cgroup(policy: SandboxPolicy, status: SandboxStatus) -> None:
    """The first step, outside any namespace: writing cgroup.procs needs the host's /sys."""
    if policy.cgroup_dirs:
        try:
            KernelCgroup(dirs=policy.cgroup_dirs).join()
            status.active["process cleanup"] = "cgroup: every process the kernel starts is killed with it"
            status.active.update(cgroup_enforced(policy.cgroup_dirs))
            if "process count" in status.active:
                status.active["process count"] += f" (at most {policy.limits.processes} tasks)"
        except OSError as exc:
            status.missing["process cleanup"] = f"could not join the cgroup: {exc}"
    else:
        status.missing["process cleanup"] = "no writable cgroup: a child that calls setsid() could outlive grading"
    if "CPU share" not in status.active:
        status.missing["CPU share"] = "no cpu cgroup: a fork bomb of spinning processes can starve the machine"


def apply(policy: SandboxPolicy, extra_read_write: Sequence[str] = (), *, outer: SandboxStatus | None = None,
          status_fd: int | None = None,
          start: str = "python -I: nothing in the scratch dir is importable until the sandbox is applied") -> SandboxStatus:
    """Apply the policy. `outer`: what a first stage already did (the cgroup joined before bwrap,
    bwrap's namespaces); `status_fd`: where to report (else the policy's status file)."""
    if sys.platform != "linux":
        return _apply_elsewhere(policy)
    # Linux only (libc through ctypes, fcntl): imported here, so the grader imports this module anywhere
    from grader.sandbox import landlock, namespaces, network, privileges

    as_root = os.geteuid() == 0
    if status_fd is None and policy.status_path:  # opened now: a new root will not show the file
        status_fd = os.open(policy.status_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    if outer is None:
        status = SandboxStatus()
        status.active[ISOLATED_START] = start
        join_cgroup(policy, status)
        if policy.isolation == "namespaces":
            namespaces.enter(policy, list(extra_read_write), status)  # forks: we continue as the child
        else:
            for name in NAMESPACE_PROTECTIONS:
                if name != "network":
                    status.missing[name] = policy.isolation_missing or "no namespaces"
    else:
        status = outer
    if "PID namespace" in status.active and "process cleanup" in status.missing:
        del status.missing["process cleanup"]
        status.active["process cleanup"] = PID_CLEANUP

    network_isolated = "network" in status.active
    if policy.network == "isolated" and not network_isolated:
        try:
            network.isolate(as_root)
            network_isolated = True
            status.active["network"] = "network namespace with only a private loopback"
        except OSError as exc:
            status.missing["network namespace"] = f"{exc}"

    # RLIMIT_NPROC counts the tasks of a uid *per user namespace*: in a namespace made for this
    # kernel alone (unprivileged network isolation, bubblewrap) it counts only the kernel's own tasks.
    own_namespace = policy.grader_user_namespace != 0 and user_namespace() != policy.grader_user_namespace
    nproc: Literal["exact", "shared"] | None = None
    if not as_root and "process count" not in status.active:
        nproc = "exact" if own_namespace else "shared"
    problems = apply_limits(policy.limits, nproc)
    limits = policy.limits
    if limits.address_space:
        status.active["memory (address space)"] = f"RLIMIT_AS {limits.address_space >> 20} MB"
    if "memory (resident)" not in status.active and not limits.address_space:
        status.missing["memory"] = "no RLIMIT_AS (CUDA) and no memory cgroup: resident memory is not limited"
    if limits.cpu_s:
        status.active["CPU time"] = f"RLIMIT_CPU {limits.cpu_s} s"
    if limits.file_size:
        status.active["file size"] = f"RLIMIT_FSIZE {limits.file_size >> 20} MB"
    if "process count" not in status.active:
        if as_root:
            status.missing["process count"] = "running as root, RLIMIT_NPROC is ignored, and no pids cgroup"
        elif nproc == "exact":
            status.active["process count"] = (f"RLIMIT_NPROC {limits.processes} in the kernel's own user namespace "
                                              f"(counts only its tasks)")
        else:
            status.missing["process count"] = (f"no pids cgroup and no user namespace of its own: RLIMIT_NPROC counts "
                                               f"every process of uid {os.getuid()}, so the cap is {limits.processes} "
                                               f"on top of what that uid already runs")
    for problem in problems:
        status.missing[problem.split(":")[0]] = problem

    if policy.drop_capabilities and privileges.effective_capabilities():
        try:
            privileges.drop_all()
            status.active["capabilities"] = "all dropped (limits cannot be raised, no admin operations)"
        except OSError as exc:
            status.missing["capabilities"] = f"could not drop: {exc}"

    try:
        abi = landlock.restrict(
            read=policy.read_only, write=[*policy.read_write, *extra_read_write], devices=policy.devices,
            tcp_bind=policy.tcp_bind_ports, restrict_tcp=not network_isolated,
        )
        status.active["file system"] = f"Landlock ABI {abi}: read Python + grader + system dirs, write scratch only"
        if abi >= 6:
            status.active["signals, abstract sockets"] = "Landlock scopes: cannot signal or connect outside the sandbox"
        if not network_isolated:
            if abi >= 4:
                status.active["network"] = "Landlock: no TCP connect or bind (UDP is not covered)"
            else:
                status.missing["network"] = f"no network namespace and Landlock ABI {abi} < 4 has no TCP rules"
    except OSError as exc:
        status.missing["file system"] = f"Landlock unavailable: {exc}"
        if not network_isolated:
            status.missing["network"] = "no network namespace and no Landlock"
    if status_fd is not None:
        os.write(status_fd, json.dumps(asdict(status)).encode())
        os.close(status_fd)
    return status


def _apply_elsewhere(policy: SandboxPolicy) -> SandboxStatus:
    """macOS, Windows: the resource limits where the platform has them; every other protection is missing."""
    status = SandboxStatus()
    why = f"{sys.platform} has no Landlock, namespaces or cgroups: only Linux sandboxes the kernel"
    for what in ("file system", "network", "process cleanup", "process count", "CPU share"):
        status.missing[what] = why
    try:
        problems = apply_limits(policy.limits)
        status.active["CPU time"] = f"RLIMIT_CPU {policy.limits.cpu_s} s"
        status.active["file size"] = f"RLIMIT_FSIZE {(policy.limits.file_size or 0) >> 20} MB"
        status.missing.update({problem.split(":")[0]: problem for problem in problems})
    except ImportError:  # Windows: no setrlimit
        status.missing["resource limits"] = f"{sys.platform} has no setrlimit: CPU time and file size are not limited"
    if policy.status_path:
        with open(policy.status_path, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(status)))
    return status


def read_status(path: str) -> SandboxStatus | None:
    try:
        data = json.loads(open(path, encoding="utf-8").read())
        return SandboxStatus({str(k): str(v) for k, v in data["active"].items()},
                             {str(k): str(v) for k, v in data["missing"].items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
