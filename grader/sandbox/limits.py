"""Resource limits (setrlimit) for the student's kernel; inherited by everything it starts.

`resource` is imported only where the limits are applied (in the kernel, on Linux): the grader
imports this module for the Limits data on every platform, Windows included.

Soft and hard limits are set equal, and capabilities are dropped afterwards (privileges.py), so
the student's code cannot raise them again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

GB = 1 << 30
MB = 1 << 20
OUTPUT_LIMIT = 1 * MB  # bytes of output the grader keeps per cell (enforced in output.py)
# What the grader's memory holds of a kernel's messages (enforced in execute.py): a message is
# received and decoded whole before any cap can look at it, and a decoded text can take up to 4
# bytes per character. A larger frame makes libzmq drop the connection (ZMQ_MAXMSGSIZE); past
# MESSAGE_QUEUE waiting messages libzmq stops reading (ZMQ_RCVHWM) and the kernel's side waits
# or drops. Honest output is far below: only OUTPUT_LIMIT of it is kept anyway.
MESSAGE_LIMIT = 4 * MB
MESSAGE_QUEUE = 4


# RLIMIT_AS counts address space, not memory, and the CUDA build of torch reserves ~3.3 GB of
# it at import even on a machine without a GPU (VmSize after `import torch`: 3.26 GB, resident
# 0.5 GB). The limit is therefore the notebook's own 4 GB plus that much: with 4 GB in all, a
# notebook had ~0.6 GB left, an honest 1 GB array failed, and a kernel flooded with output (its
# buffers lagging on a busy machine) ran out while the grader's probe was loading its modules.
# Where there is a memory cgroup, it still holds resident memory to 4 GB (policy.MEMORY_MAX).
NOTEBOOK_ADDRESS_SPACE = 4 * GB
TORCH_ADDRESS_SPACE = 4 * GB


@dataclass
class Limits:
    # RLIMIT_AS; None on CUDA (it reserves ~2x GPU memory)
    address_space: int | None = NOTEBOOK_ADDRESS_SPACE + TORCH_ADDRESS_SPACE
    cpu_s: int | None = 1800  # RLIMIT_CPU: CPU seconds over the kernel's whole life
    file_size: int | None = 512 * MB  # RLIMIT_FSIZE: the largest file it may write
    open_files: int | None = 4096  # RLIMIT_NOFILE
    processes: int | None = 128  # pids cgroup (tasks: threads count; an idle kernel has ~14), else RLIMIT_NPROC
    core: int = 0  # RLIMIT_CORE: no core dumps of a crashed kernel


def tasks_of_this_uid() -> int:
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.stat(entry.path).st_uid == uid:
                    count += len(os.listdir(os.path.join(entry.path, "task")))
            except OSError:
                pass
    return count


def apply_limits(limits: Limits, nproc: Literal["exact", "shared"] | None = None) -> list[str]:
    """Set the limits; returns what could not be set (a limit already lower is kept).

    nproc: "exact" when the caller is in a user namespace made for this kernel alone (there
    RLIMIT_NPROC counts only the namespace's tasks), "shared" when it counts every task of this
    uid on the machine, None to leave RLIMIT_NPROC alone (root ignores it; a pids cgroup caps).
    """
    import resource

    problems = []
    table = [
        (resource.RLIMIT_AS, limits.address_space), (resource.RLIMIT_CPU, limits.cpu_s),
        (resource.RLIMIT_FSIZE, limits.file_size), (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, limits.core),
    ]
    if nproc and limits.processes:
        # shared: the uid's other tasks count too, so allow ours on top of those
        table.append((resource.RLIMIT_NPROC, limits.processes + (tasks_of_this_uid() if nproc == "shared" else 0)))
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
