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
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from grader.sandbox import landlock, network, privileges
from grader.sandbox.cgroup import KernelCgroup
from grader.sandbox.limits import apply_limits
from grader.sandbox.policy import SandboxPolicy


@dataclass
class SandboxStatus:
    active: dict[str, str] = field(default_factory=dict)  # protection -> how it is enforced
    missing: dict[str, str] = field(default_factory=dict)  # protection -> why it is not active


def apply(policy: SandboxPolicy, extra_read_write: Sequence[str] = ()) -> SandboxStatus:
    status = SandboxStatus()
    as_root = os.geteuid() == 0

    if policy.cgroup_dirs:
        try:
            KernelCgroup(dirs=policy.cgroup_dirs).join()
            status.active["process cleanup"] = "cgroup: every process the kernel starts is killed with it"
            status.active["process count"] = f"pids cgroup (at most {policy.limits.processes} tasks)"
            if any(d.startswith("/sys/fs/cgroup/cpu/") for d in policy.cgroup_dirs):
                status.active["CPU share"] = "cpu cgroup: all its processes together weigh as one task"
        except OSError as exc:
            status.missing["process cleanup"] = f"could not join the cgroup: {exc}"
    else:
        status.missing["process cleanup"] = "no writable cgroup: only the kernel's process group is killed"

    network_isolated = False
    if policy.network == "isolated":
        try:
            network.isolate(as_root)
            network_isolated = True
            status.active["network"] = "network namespace with only a private loopback"
        except OSError as exc:
            status.missing["network namespace"] = f"{exc}"

    problems = apply_limits(policy.limits, set_nproc=not as_root)
    limits = policy.limits
    if limits.address_space:
        status.active["memory (address space)"] = f"RLIMIT_AS {limits.address_space >> 20} MB"
    memory_cgroup = any(d.startswith("/sys/fs/cgroup/memory/") or "/unified/" in d for d in policy.cgroup_dirs)
    if memory_cgroup and "process cleanup" in status.active:
        status.active["memory (resident)"] = "memory cgroup for the kernel and all its processes"
    elif not limits.address_space:
        status.missing["memory"] = "no RLIMIT_AS (CUDA) and no memory cgroup: resident memory is not limited"
    if limits.cpu_s:
        status.active["CPU time"] = f"RLIMIT_CPU {limits.cpu_s} s"
    if limits.file_size:
        status.active["file size"] = f"RLIMIT_FSIZE {limits.file_size >> 20} MB"
    if "process count" not in status.active:
        if as_root:
            status.missing["process count"] = "running as root, RLIMIT_NPROC is ignored, and no pids cgroup"
        else:
            status.active["process count"] = f"RLIMIT_NPROC {limits.processes} (counts every process of this uid)"
    for problem in problems:
        status.missing[problem.split(":")[0]] = problem

    if policy.drop_capabilities and privileges.effective_capabilities():
        try:
            privileges.drop_all()
            status.active["capabilities"] = "all dropped (limits cannot be raised, no admin operations)"
        except OSError as exc:
            status.missing["capabilities"] = f"could not drop: {exc}"

    status_fd = None
    if policy.status_path:
        status_fd = os.open(policy.status_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
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


def read_status(path: str) -> SandboxStatus | None:
    try:
        data = json.loads(open(path, encoding="utf-8").read())
        return SandboxStatus({str(k): str(v) for k, v in data["active"].items()},
                             {str(k): str(v) for k, v in data["missing"].items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
