"""What the student's kernel may do: a SandboxPolicy, built by the grader, applied in the kernel.

The grader builds the policy (it knows the paths) and writes it to a JSON file outside the
scratch directory; the exec wrapper (launch.py) or a forked child (apply.py) applies it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from grader.sandbox.limits import GB, Limits

SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/proc", "/sys", "/opt")
DEVICE_DIRS = ("/dev",)
SHARED_MEMORY = ("/dev/shm",)
GPU_DEVICES = ("/dev/nvidia*", "/dev/nvidia-caps/*", "/dev/dri/*")  # CUDA needs these inside the sandbox
MEMORY_MAX = 4 * GB  # resident memory of the kernel and everything it starts
# Environment variables that must not reach the student's code (it could print them).
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|API_?KEY|PRIVATE|AUTH|COOKIE|SESSION|^AWS_|^GH_|^GITHUB_|^ACTIONS_|^CI_JOB")


@dataclass
class SandboxPolicy:
    """Plain data (no pydantic): the exec wrapper must start fast, and only the grader writes it."""

    read_only: list[str]  # readable and executable, recursively
    read_write: list[str]  # full access, recursively (the scratch directory)
    devices: list[str] = field(default_factory=lambda: list(DEVICE_DIRS))  # read, write, ioctl
    limits: Limits = field(default_factory=Limits)
    # isolated: a network namespace of its own, else Landlock denies all TCP bind/connect
    network: Literal["isolated", "open"] = "isolated"
    tcp_bind_ports: list[int] = field(default_factory=list)  # ports it may bind without a namespace
    cgroup_dirs: list[str] = field(default_factory=list)  # cgroups to join before anything else
    drop_capabilities: bool = True
    status_path: str | None = None  # where the wrapper reports what it applied
    # the grader's user namespace (inode): a kernel in another one has a namespace of its own,
    # where RLIMIT_NPROC counts only its tasks (whoever made it: the wrapper or bubblewrap)
    grader_user_namespace: int = 0
    # How the kernel gets namespaces of its own (PID, IPC, mount, network) and a minimal /dev:
    # "bwrap" (exec'd kernels, bwrap.py), "namespaces" (the same primitives called directly,
    # namespaces.py: forked kernels, or no bwrap), "none" (the grader says why in `isolation_missing`).
    isolation: Literal["bwrap", "namespaces", "none"] = "namespaces"
    isolation_missing: str = ""
    extra_devices: list[str] = field(default_factory=list)  # globs of devices to add (GPUs)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> SandboxPolicy:
        data = json.loads(text)
        data["limits"] = Limits(**data.get("limits", {}))
        return cls(**data)  # an unknown or missing key is a TypeError: the file is ours, fail loudly


def _existing(paths: list[str]) -> list[str]:
    seen: list[str] = []
    for path in paths:
        if path and os.path.exists(path) and path not in seen:
            seen.append(path)
    return seen


def user_namespace() -> int:
    """This process's user namespace (the inode of /proc/self/ns/user; 0 where there is none)."""
    try:
        return os.stat("/proc/self/ns/user").st_ino
    except OSError:
        return 0


def grader_package_dir() -> str:
    return str(Path(__file__).resolve().parent.parent)


def build_policy(scratch: Path, status_path: Path | None = None, *, cuda: bool = False,
                 cpu_s: int | None = None, extra_read: list[str] | None = None,
                 extra_write: list[str] | None = None, cgroup_dirs: list[str] | None = None) -> SandboxPolicy:
    """The policy for one submission: its scratch dir writable; Python, grader and system readable."""
    python = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
              str(Path(os.path.realpath(sys.executable)).parent.parent)]
    read_only = _existing([*python, grader_package_dir(), *SYSTEM_READ, *(extra_read or [])])
    limits = Limits(address_space=None if cuda else Limits().address_space)
    if cpu_s is not None:
        limits.cpu_s = cpu_s
    return SandboxPolicy(
        read_only=read_only,
        read_write=_existing([str(scratch), *SHARED_MEMORY, *(extra_write or [])]),
        limits=limits,
        cgroup_dirs=list(cgroup_dirs or []),
        status_path=str(status_path) if status_path else None,
        grader_user_namespace=user_namespace(),
        extra_devices=list(GPU_DEVICES) if cuda else [],
    )


def scrub_secrets(env: dict[str, str]) -> dict[str, str]:
    """`env` without the variables whose names look like secrets."""
    return {k: v for k, v in env.items() if not SECRET_NAME.search(k.upper())}


def sandbox_environment(env: dict[str, str], scratch: Path) -> dict[str, str]:
    """The kernel's environment: secrets removed, every cache and config dir inside scratch."""
    clean = scrub_secrets(env)
    if "PYTHONPATH" in clean:  # a relative entry ('.', '') would put the scratch dir on sys.path
        clean["PYTHONPATH"] = os.pathsep.join(p for p in clean["PYTHONPATH"].split(os.pathsep) if os.path.isabs(p))
    s = str(scratch)
    clean.update({
        "HOME": s, "TMPDIR": s, "IPYTHONDIR": f"{s}/.ipython", "MPLCONFIGDIR": f"{s}/.matplotlib",
        "XDG_CACHE_HOME": f"{s}/.cache", "XDG_CONFIG_HOME": f"{s}/.config", "XDG_DATA_HOME": f"{s}/.local/share",
        "JUPYTER_RUNTIME_DIR": f"{s}/.jupyter/runtime", "JUPYTER_DATA_DIR": f"{s}/.jupyter/data",
        "JUPYTER_CONFIG_DIR": f"{s}/.jupyter", "TORCHINDUCTOR_CACHE_DIR": f"{s}/.cache/inductor",
        "TRITON_CACHE_DIR": f"{s}/.cache/triton", "TORCH_HOME": f"{s}/.cache/torch",
    })
    return clean
