"""Resource limits (setrlimit) for the student's kernel; inherited by everything it starts.

Soft and hard limits are set equal, and capabilities are dropped afterwards (privileges.py), so
the student's code cannot raise them again.
"""

from __future__ import annotations

import resource

from dataclasses import dataclass

GB = 1 << 30
MB = 1 << 20


@dataclass
class Limits:
    address_space: int | None = 4 * GB  # RLIMIT_AS; None on CUDA (it reserves ~2x GPU memory)
    cpu_s: int | None = 1800  # RLIMIT_CPU: CPU seconds over the kernel's whole life
    file_size: int | None = 512 * MB  # RLIMIT_FSIZE: the largest file it may write
    open_files: int | None = 4096  # RLIMIT_NOFILE
    processes: int | None = 256  # RLIMIT_NPROC where it works (not for root): see cgroup.py
    core: int = 0  # RLIMIT_CORE: no core dumps of a crashed kernel


def apply_limits(limits: Limits, set_nproc: bool) -> list[str]:
    """Set the limits; returns what could not be set (a limit already lower is kept)."""
    problems = []
    table = [
        (resource.RLIMIT_AS, limits.address_space), (resource.RLIMIT_CPU, limits.cpu_s),
        (resource.RLIMIT_FSIZE, limits.file_size), (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, limits.core),
    ]
    if set_nproc:
        table.append((resource.RLIMIT_NPROC, limits.processes))
    for which, value in table:
        if value is None:
            continue
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY and hard < value:
            value = hard
        if which == resource.RLIMIT_CPU:
            # SIGXCPU at the soft limit ends the kernel; the hard limit is a SIGKILL backstop.
            hard_value = value + 5 if hard == resource.RLIM_INFINITY or hard >= value + 5 else hard
        else:
            hard_value = value
        try:
            resource.setrlimit(which, (value, hard_value))
        except (ValueError, OSError) as exc:
            problems.append(f"rlimit {which}: {exc}")
    return problems
