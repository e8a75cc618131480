"""The environment of kernels and of the fork server: plain values, no heavy import (the `grade`
command launches its fork server before it imports the rest of the grader)."""

from __future__ import annotations

import os
import sys

from grader.sandbox.policy import scrub_secrets

# Every kernel gets these, exec'd or forked (the zygote needs some at import: zygote_environment).
KERNEL_VARIABLES = {
    "PYTHONHASHSEED": "0",
    "MPLBACKEND": "Agg",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    # Under the sandbox's RLIMIT_AS (4 GB), each thread's malloc arena reserves 64 MB of address
    # space: a kernel training a CNN (hw6) ran out with glibc's default of 8 arenas per core.
    "MALLOC_ARENA_MAX": "2",
    # A practice `check()` left in a submission does nothing while it is graded (grader/live.py).
    "GRADER_GRADING": "1",
}


def kernel_threads(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def zygote_environment(jobs: int) -> dict[str, str]:
    """The fork server's environment, which its kernels inherit (also in /proc/self/environ).

    Without anything named like a secret, like every kernel's (kernel_environment); with
    KERNEL_VARIABLES, since torch, OpenMP and glibc read some of them once, at import.
    """
    threads = str(kernel_threads(jobs))
    # jobs x threads above the core count makes OpenMP's spinning threads fight.
    return scrub_secrets(dict(os.environ)) | KERNEL_VARIABLES | {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def forks_kernels(exec_kernels: bool) -> bool:
    """Whether a grading forks its kernel from a fork server (Linux: fork, SO_PEERCRED), unless
    `--exec-kernels` asked otherwise."""
    return not exec_kernels and sys.platform.startswith("linux")
