"""The sandbox of one submission, as the grading pipeline uses it.

`KernelSandbox` owns the kernel's cgroup and policy file, gives the kernelspec argv (the exec
wrapper) and the kernel's environment, kills everything the kernel started, and turns what the
wrapper reported into warnings for the report.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from grader.sandbox import bwrap, cgroup, launch
from grader.sandbox.apply import read_status
from grader.sandbox.policy import MEMORY_MAX, build_policy

POLICY_ENV = "GRADER_SANDBOX_POLICY"  # a forked (zygote) kernel finds its policy here


def launcher_argv(policy_path: Path) -> list[str]:
    """How to start the exec wrapper so that nothing in its cwd (the scratch dir) can shadow a module.

    `-I`: neither the cwd nor PYTHON* variables nor the user's site-packages reach sys.path; the
    wrapper runs as a script (whose directory, inside the grader package, is sys.path[0]) and
    finds the grader package beside it.
    """
    return [sys.executable, "-I", str(Path(launch.__file__).resolve()), "--policy", str(policy_path), "--"]


# No SQLite input history: a grading kernel runs once and nobody reads it back, and creating the
# database took ~15 ms of every kernel start (`In`, `_i` and `%history` still work, in memory).
KERNEL_OPTIONS = ("--HistoryManager.enabled=False",)


def kernel_command() -> list[str]:
    """ipykernel's usual command, started so that its scratch cwd shadows nothing it imports at
    start-up (`-P`, 3.11+; ipykernel adds the cwd to sys.path itself once it runs) and without the
    user site-packages (HOME is the scratch dir, so they would be the notebook's own)."""
    flags = ["-s", "-P"] if sys.version_info >= (3, 11) else ["-s"]
    # IPython would put the cwd before site-packages (a `torch.py` there would shadow torch):
    # the wrapper and the zygote append it at the end instead.
    return [sys.executable, *flags, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--IPKernelApp.ignore_cwd=True",
            *KERNEL_OPTIONS]


class KernelSandbox:
    def __init__(self, tmp: Path, scratch: Path, *, enabled: bool = True, cuda: bool = False,
                 cpu_s: int | None = None, extra_read: list[str] | None = None,
                 extra_write: list[str] | None = None) -> None:
        self.enabled = enabled
        self.scratch = scratch
        self.policy_path = tmp / "sandbox-policy.json"
        self.status_path = tmp / "sandbox-status.json"
        self.cgroup: cgroup.KernelCgroup | None = None
        self.cgroup_missing: dict[str, str] = {}  # protection -> why the cgroup could not provide it
        if not enabled:
            return
        policy = build_policy(scratch, self.status_path, cuda=cuda, cpu_s=cpu_s, extra_read=extra_read,
                              extra_write=extra_write)
        # Namespaces: bubblewrap for an exec'd kernel where it works, else the same primitives
        # called directly (namespaces.py; a forked kernel always uses those).
        policy.isolation = "bwrap" if bwrap.unusable_reason() is None else "namespaces"
        placement = cgroup.place(policy.limits.processes, MEMORY_MAX)
        self.cgroup, self.cgroup_missing = placement.group, placement.missing
        if self.cgroup is not None:
            policy.cgroup_dirs = self.cgroup.dirs
        self.policy_path.write_text(policy.to_json(), encoding="utf-8")

    def kernel_argv(self) -> list[str] | None:
        """The kernelspec argv: the wrapper, then the usual ipykernel command (None: no sandbox)."""
        if not self.enabled or sys.platform == "win32":  # Windows' execv starts a new process: no wrapper
            return None
        return launcher_argv(self.policy_path) + kernel_command()

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        """`env` (grade.kernel_environment: already without secrets) plus where the policy is."""
        if not self.enabled:
            return env
        return env | {POLICY_ENV: str(self.policy_path)}

    def kill_all(self) -> None:
        """After the kernel is stopped: end whatever it left behind (even after setsid)."""
        if self.cgroup is not None:
            self.cgroup.kill_all()

    def close(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None

    def warnings(self) -> list[str]:
        if not self.enabled:
            return ["the sandbox was disabled (--no-sandbox): the notebook ran with the grader's own rights"]
        if sys.platform == "win32":
            return ["sandbox: none on Windows (no Landlock, namespaces, cgroups or resource limits): the notebook "
                    "ran with your own rights; grade only notebooks you trust, or use Linux (WSL 2 works)"]
        status = read_status(str(self.status_path))
        if status is None:
            return ["sandbox: the kernel did not report its protections, so none can be assumed active"]
        missing = cgroup.combine_missing(status.active, status.missing, self.cgroup_missing)
        return [f"sandbox: no {what} protection on this machine ({why})" for what, why in missing.items()]


def apply_from_environment(kernel_args: list[str]) -> None:
    """For a kernel forked from a pre-imported server: apply the policy named in its environment.

    Call it in the child right after fork (single-threaded), after chdir/env/stdio are set up.
    """
    path = os.environ.get(POLICY_ENV)
    if not path:
        return
    from grader.sandbox.apply import apply
    from grader.sandbox.policy import SandboxPolicy

    with open(path, encoding="utf-8") as fh:
        policy = SandboxPolicy.from_json(fh.read())
    from grader.sandbox.launch import connection_dir

    if policy.isolation == "bwrap":  # exec'ing bwrap would lose the pre-imported modules
        policy.isolation = "namespaces"
    apply(policy, connection_dir(kernel_args),
          start="forked: the sandbox's modules were imported before fork, the scratch dir joins sys.path after it")
