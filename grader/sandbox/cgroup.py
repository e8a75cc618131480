"""A control group per kernel: a process-count cap, a memory cap, and a reliable "kill them all".

Process groups are not enough to end everything a student started: a child can call `setsid()`
and outlive its parent. Every process the kernel starts stays in the kernel's cgroup whatever it
does (moving out needs write access to /sys/fs/cgroup, which Landlock denies), so `kill_all()`
finds them all. The pids controller also caps forks (RLIMIT_NPROC does not apply to root), and
the memory controller caps resident memory (what RLIMIT_AS cannot do on CUDA), and the cpu
controller makes all of the kernel's processes together weigh as much as one task against the
rest of the machine (a fork bomb of spinning processes cannot starve other work).

Supported: cgroup v1 hierarchies (pids, memory) and a writable cgroup v2 tree. When neither is
writable (an unprivileged CI runner), `create()` returns None and the caller reports it.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def _own_paths() -> dict[str, str]:
    """controller -> this process's cgroup path within it ('' -> the v2 path)."""
    paths: dict[str, str] = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    except OSError:
        pass
    return paths


def _v1_dir(controller: str, own: dict[str, str]) -> Path | None:
    if controller not in own:
        return None
    base = ROOT / controller / own[controller].lstrip("/")
    return base if (base / "cgroup.procs").exists() and os.access(base, os.W_OK) else None


def _v2_dir(own: dict[str, str], needed: tuple[str, ...]) -> Path | None:
    if (ROOT / "cgroup.controllers").exists():
        base = ROOT / own.get("", "/").lstrip("/")
    elif (ROOT / "unified" / "cgroup.controllers").exists():
        base = ROOT / "unified" / own.get("", "/").lstrip("/")
    else:
        return None
    try:
        enabled = (base / "cgroup.subtree_control").read_text().split()
    except OSError:
        return None
    return base if all(c in enabled for c in needed) and os.access(base, os.W_OK) else None


@dataclass
class KernelCgroup:
    """The directories of one kernel's cgroup (one per controller on v1, one on v2)."""

    dirs: list[str] = field(default_factory=list)
    pids_max: int | None = None
    memory_max: int | None = None

    def join(self, pid: int = 0) -> None:
        """Move `pid` (0: the caller) into the cgroup; done by the wrapper before it execs."""
        for directory in self.dirs:
            Path(directory, "cgroup.procs").write_text(f"{pid or os.getpid()}\n")

    def pids(self) -> set[int]:
        found: set[int] = set()
        for directory in self.dirs:
            try:
                found.update(int(p) for p in Path(directory, "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return found

    def kill_all(self, timeout_s: float = 10.0) -> bool:
        """SIGKILL every process in the cgroup until none is left (a fork bomb keeps forking)."""
        deadline = time.monotonic() + timeout_s
        kill_file = [Path(d, "cgroup.kill") for d in self.dirs if Path(d, "cgroup.kill").exists()]
        while True:
            for path in kill_file:
                try:
                    path.write_text("1\n")
                except OSError:
                    pass
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill_all()
        for directory in self.dirs:
            for _ in range(100):  # a killed task leaves its cgroup a moment after SIGKILL
                try:
                    os.rmdir(directory)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def available() -> dict[str, bool]:
    """Which cgroup features this process could use for its kernels."""
    own = _own_paths()
    v2 = _v2_dir(own, ("pids",)) is not None
    return {
        "pids": v2 or _v1_dir("pids", own) is not None,
        "memory": (_v2_dir(own, ("memory",)) is not None) or _v1_dir("memory", own) is not None,
    }


def create(pids_max: int | None, memory_max: int | None) -> KernelCgroup | None:
    """A new cgroup with these limits, or None when this machine does not let us make one."""
    own = _own_paths()
    name = f"grader-{uuid.uuid4().hex[:12]}"
    group = KernelCgroup(pids_max=pids_max, memory_max=memory_max)
    try:
        v2 = _v2_dir(own, ("pids",))
        if v2 is not None:
            directory = v2 / name
            directory.mkdir()
            group.dirs.append(str(directory))
            if pids_max:
                (directory / "pids.max").write_text(f"{pids_max}\n")
            if memory_max and (directory / "memory.max").exists():
                (directory / "memory.max").write_text(f"{memory_max}\n")
                (directory / "memory.swap.max").exists() and (directory / "memory.swap.max").write_text("0\n")
            else:
                group.memory_max = None
            return group
        pids_dir = _v1_dir("pids", own)
        if pids_dir is None:
            return None
        directory = pids_dir / name
        directory.mkdir()
        group.dirs.append(str(directory))
        if pids_max:
            (directory / "pids.max").write_text(f"{pids_max}\n")
        memory_dir = _v1_dir("memory", own)
        if memory_max and memory_dir is not None:
            directory = memory_dir / name
            directory.mkdir()
            group.dirs.append(str(directory))
            (directory / "memory.limit_in_bytes").write_text(f"{memory_max}\n")
        else:
            group.memory_max = None
        cpu_dir = _v1_dir("cpu", own)
        if cpu_dir is not None:  # default weight: all the kernel's processes together count as one task
            directory = cpu_dir / name
            directory.mkdir()
            group.dirs.append(str(directory))
        return group
    except OSError:
        group.remove()
        return None
