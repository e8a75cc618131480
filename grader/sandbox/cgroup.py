"""A control group per kernel: a process-count cap, a memory cap, a CPU share, and "kill them all".

Process groups are not enough to end everything a student started: a child can call `setsid()`
and outlive its parent. Every process the kernel starts stays in the kernel's cgroup whatever it
does (moving out needs write access to the cgroup tree, which the sandbox denies), so `kill_all()`
finds them all. The pids controller caps forks (RLIMIT_NPROC does not apply to root), the memory
controller caps resident memory (what RLIMIT_AS cannot do on CUDA or across forks), and the cpu
controller makes all of the kernel's processes together weigh as much as one task against the
rest of the machine (a fork bomb of spinning processes cannot starve other work).

Where the grader may make cgroups:
- cgroup v1 (this project's CI machine): one directory per controller under the grader's own
  cgroup in each hierarchy, when it is writable (root).
- cgroup v2 (current distributions, GitHub runners): the grader's own cgroup must be writable,
  i.e. delegated to its user: root, a container's own cgroup, a `Delegate=` service, or
  `systemd-run --user --scope`. v2 forbids processes in a cgroup that hands controllers to its
  children ("no internal processes"), so when enabling a controller fails with EBUSY the grader
  first moves the processes of its cgroup into a leaf of their own (`grader-self`) and puts the
  kernels' cgroups beside that leaf. Controllers the parent did not delegate, or that the kernel
  refuses, are reported one by one with the reason; a cgroup without controllers still gives
  the cleanup (`cgroup.kill`).

Everything goes through a `CgroupFS` and takes the cgroup root as a parameter, so the tests run
this logic against a fake cgroup2 tree that enforces v2's rules.
"""

from __future__ import annotations

import errno
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("pids", "memory", "cpu")
LEAF = "grader-self"  # v2: the grader's processes move here so that their cgroup may have children
PROTECTION = {"pids": "process count", "memory": "memory (resident)", "cpu": "CPU share"}
CLEANUP = "process cleanup"
ADVICE = ("run the grader in a cgroup delegated to it, e.g. `systemd-run --user --scope -p Delegate=yes grade ...` "
          "(cgroup v2 with systemd), or as root")


class CgroupFS:
    """The kernel's cgroup file system. Tests substitute a fake that enforces cgroup v2's rules."""

    def read(self, path: Path) -> str:
        return path.read_text()

    def write(self, path: Path, text: str) -> None:
        with open(path, "w") as fh:
            fh.write(text)

    def exists(self, path: Path) -> bool:
        return path.exists()

    def writable(self, path: Path) -> bool:
        return os.access(path, os.W_OK)

    def mkdir(self, path: Path) -> None:
        path.mkdir()

    def rmdir(self, path: Path) -> None:
        os.rmdir(path)

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)


def parse_self_cgroup(text: str) -> dict[str, str]:
    """controller -> cgroup path, from /proc/self/cgroup ('' is the v2 path)."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        try:
            _, controllers, path = line.split(":", 2)
        except ValueError:
            continue
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _own_paths() -> dict[str, str]:
    try:
        return parse_self_cgroup(Path("/proc/self/cgroup").read_text())
    except OSError:
        return {}


def _why(exc: OSError) -> str:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{reason}: not delegated to uid {os.getuid()}"
    return reason


@dataclass
class KernelCgroup:
    """The directories of one kernel's cgroup (one per controller on v1, one on v2)."""

    dirs: list[str] = field(default_factory=list)
    pids_max: int | None = None
    memory_max: int | None = None
    fs: CgroupFS = field(default_factory=CgroupFS, repr=False, compare=False)

    def join(self, pid: int = 0) -> None:
        """Move `pid` (0: the caller) into the cgroup; done by the wrapper before it execs."""
        for directory in self.dirs:
            self.fs.write(Path(directory, "cgroup.procs"), f"{pid or os.getpid()}\n")

    def pids(self) -> set[int]:
        found: set[int] = set()
        for directory in self.dirs:
            try:
                found.update(int(p) for p in self.fs.read(Path(directory, "cgroup.procs")).split())
            except (OSError, ValueError):
                pass
        return found

    def kill_all(self, timeout_s: float = 10.0) -> bool:
        """SIGKILL every process in the cgroup until none is left (a fork bomb keeps forking)."""
        deadline = time.monotonic() + timeout_s
        kill_files = [Path(d, "cgroup.kill") for d in self.dirs if self.fs.exists(Path(d, "cgroup.kill"))]
        while True:
            for path in kill_files:  # v2: the kernel kills the whole subtree, racing no fork
                try:
                    self.fs.write(path, "1\n")
                except OSError:
                    pass
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:
                try:
                    self.fs.kill(pid)
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
                    self.fs.rmdir(Path(directory))
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


@dataclass
class Placement:
    """What `place()` made: the kernel's cgroup (None: none at all) and each missing protection's reason."""

    group: KernelCgroup | None
    missing: dict[str, str] = field(default_factory=dict)


def enforced(dirs: list[str], fs: CgroupFS | None = None) -> dict[str, str]:
    """protection -> how, read off the control files the kernel's cgroup directories really have."""
    fs = fs or CgroupFS()
    found: dict[str, str] = {}
    for directory in map(Path, dirs):
        for name, protection, how in (
            ("pids.max", "process count", "pids cgroup"),
            ("memory.max", "memory (resident)", "memory cgroup (v2)"),
            ("memory.limit_in_bytes", "memory (resident)", "memory cgroup (v1)"),
            ("cpu.weight", "CPU share", "cpu cgroup (v2): all its processes together weigh as one task"),
            ("cpu.shares", "CPU share", "cpu cgroup (v1): all its processes together weigh as one task"),
        ):
            if fs.exists(directory / name):
                found[protection] = how
    return found


def place(pids_max: int | None, memory_max: int | None, *, root: Path | None = None,
          self_cgroup: str | None = None, fs: CgroupFS | None = None) -> Placement:
    """A new cgroup for one kernel with these limits, and why each protection it lacks is missing."""
    fs = fs or CgroupFS()
    root = root or ROOT
    own = parse_self_cgroup(self_cgroup) if self_cgroup is not None else _own_paths()
    name = f"grader-{uuid.uuid4().hex[:12]}"
    if fs.exists(root / "cgroup.controllers"):
        return _place_v2(root, own.get("", "/"), name, pids_max, memory_max, fs)
    placement = _place_v1(root, own, name, pids_max, memory_max, fs)
    unified = root / "unified"
    if placement.group is None and fs.exists(unified / "cgroup.controllers") and "" in own:
        # hybrid machine whose v1 hierarchies are not ours: a v2 cgroup still tracks every process
        v2 = _place_v2(unified, own[""], name, pids_max, memory_max, fs)
        if v2.group is not None:
            v2.missing.update({k: f"{placement.missing[k]}; {v}" if k in placement.missing else v
                               for k, v in v2.missing.items()})
            return v2
        placement.missing[CLEANUP] += f"; {v2.missing.get(CLEANUP, '')}"
    return placement


def create(pids_max: int | None, memory_max: int | None, **kwargs) -> KernelCgroup | None:
    """A new cgroup with these limits, or None when this machine does not let us make one."""
    return place(pids_max, memory_max, **kwargs).group


def _place_v1(root: Path, own: dict[str, str], name: str, pids_max: int | None,
              memory_max: int | None, fs: CgroupFS) -> Placement:
    group = KernelCgroup(pids_max=pids_max, memory_max=memory_max, fs=fs)
    missing: dict[str, str] = {}
    limit_files = {"pids": ("pids.max", pids_max), "memory": ("memory.limit_in_bytes", memory_max), "cpu": (None, None)}
    for controller in CONTROLLERS:
        parent = root / controller / own.get(controller, "/").lstrip("/")
        if controller not in own or not fs.exists(parent / "cgroup.procs"):
            missing[PROTECTION[controller]] = f"no cgroup v1 {controller} hierarchy is mounted at {root / controller}"
            continue
        if not fs.writable(parent):
            missing[PROTECTION[controller]] = (f"the {controller} cgroup {parent} is not writable by uid {os.getuid()}"
                                               f" (cgroup v1 is never delegated to a user)")
            continue
        directory = parent / name
        try:
            fs.mkdir(directory)
            group.dirs.append(str(directory))
            limit_file, value = limit_files[controller]
            if limit_file and value:
                fs.write(directory / limit_file, f"{value}\n")
        except OSError as exc:
            missing[PROTECTION[controller]] = f"could not make {directory}: {_why(exc)}"
    if "memory (resident)" in missing:
        group.memory_max = None
    if not group.dirs:
        missing[CLEANUP] = "no writable cgroup: a child that calls setsid() could outlive grading"
        return Placement(None, missing)
    return Placement(group, missing)


def _enable(parent: Path, controllers: list[str], fs: CgroupFS) -> dict[str, OSError]:
    failed: dict[str, OSError] = {}
    for controller in controllers:  # one at a time: each failure gets its own reason
        try:
            fs.write(parent / "cgroup.subtree_control", f"+{controller}\n")
        except OSError as exc:
            failed[controller] = exc
    return failed


def _into_leaf(parent: Path, fs: CgroupFS) -> None:
    """Move every process of `parent` into parent/LEAF, so that parent may hand controllers down."""
    leaf = parent / LEAF
    if not fs.exists(leaf):
        fs.mkdir(leaf)
    for _ in range(10):  # processes can appear while we move (a fork): repeat until empty
        pids = fs.read(parent / "cgroup.procs").split()
        if not pids:
            return
        for pid in pids:
            try:
                fs.write(leaf / "cgroup.procs", f"{pid}\n")
            except ProcessLookupError:
                pass


def _place_v2(base: Path, own_path: str, name: str, pids_max: int | None,
              memory_max: int | None, fs: CgroupFS) -> Placement:
    own_dir = base / own_path.lstrip("/")
    parent = own_dir.parent if own_dir.name == LEAF else own_dir  # we moved ourselves earlier
    missing: dict[str, str] = {}
    if not fs.writable(parent) or not fs.writable(parent / "cgroup.subtree_control"):
        why = f"cgroup v2: the grader's cgroup {parent} is not writable by uid {os.getuid()} (not delegated)"
        return Placement(None, {CLEANUP: why, **{PROTECTION[c]: why for c in CONTROLLERS}})
    try:
        available = fs.read(parent / "cgroup.controllers").split()
        enabled = fs.read(parent / "cgroup.subtree_control").split()
    except OSError as exc:
        why = f"cgroup v2: cannot read the controllers of {parent}: {_why(exc)}"
        return Placement(None, {CLEANUP: why, **{PROTECTION[c]: why for c in CONTROLLERS}})
    for controller in CONTROLLERS:
        if controller not in available:
            where = ("is not available in this cgroup v2 tree (bound to a v1 hierarchy, or not built in)"
                     if parent == base else f"is not delegated to {parent} (its parent's cgroup.subtree_control "
                                            f"lacks it)")
            missing[PROTECTION[controller]] = (f"cgroup v2: the {controller} controller {where}; available: "
                                               f"{' '.join(available) or 'none'}")
    wanted = [c for c in CONTROLLERS if c in available and c not in enabled]
    failed = _enable(parent, wanted, fs)
    leaf_error = ""
    if any(error.errno == errno.EBUSY for error in failed.values()):
        try:  # "no internal processes": our processes go to a leaf, the kernels' cgroups beside it
            _into_leaf(parent, fs)
            failed = _enable(parent, list(failed), fs)
        except OSError as move_error:
            leaf_error = f"; moving its processes into {parent / LEAF} failed: {_why(move_error)}"
    for controller, refused in failed.items():
        reason = _why(refused)
        if refused.errno == errno.EBUSY:
            reason += " (cgroup v2 allows no processes in a cgroup that hands controllers to its children)"
        missing[PROTECTION[controller]] = f"cgroup v2: could not enable {controller} in {parent}: {reason}{leaf_error}"
    directory = parent / name
    group = KernelCgroup(pids_max=pids_max, memory_max=memory_max, fs=fs)
    try:
        fs.mkdir(directory)
    except OSError as exc:
        why = f"cgroup v2: could not make {directory}: {_why(exc)}"
        return Placement(None, {CLEANUP: why, **{PROTECTION[c]: why for c in CONTROLLERS}})
    group.dirs.append(str(directory))
    try:
        # a controller the parent now hands down has its files in every child: write the limit
        if pids_max and PROTECTION["pids"] not in missing:
            fs.write(directory / "pids.max", f"{pids_max}\n")
        if memory_max and PROTECTION["memory"] not in missing:
            fs.write(directory / "memory.max", f"{memory_max}\n")
            if fs.exists(directory / "memory.swap.max"):
                fs.write(directory / "memory.swap.max", "0\n")
        else:
            group.memory_max = None
    except OSError as exc:
        group.remove()
        why = f"cgroup v2: could not set the limits in {directory}: {_why(exc)}"
        return Placement(None, {CLEANUP: why, **{PROTECTION[c]: why for c in CONTROLLERS}})
    return Placement(group, missing)


def combine_missing(active: dict[str, str], missing: dict[str, str], cgroup_missing: dict[str, str]) -> dict[str, str]:
    """The kernel's missing protections: what its wrapper reported, with the cgroup's exact reasons.

    A protection another mechanism provides (e.g. the process count by RLIMIT_NPROC in a user
    namespace of its own) is not missing.
    """
    combined = dict(missing)
    for what, why in cgroup_missing.items():
        if what in active:
            continue
        if what in combined and why not in combined[what] and combined[what] not in why:
            combined[what] = f"{combined[what]}; {why}"
        elif what not in combined or combined[what] in why:
            combined[what] = why
    return combined
