"""How much memory this grading may still use: the machine's available memory, or less when the
grader's own cgroup has a limit (a container: Gradescope's default is 768 MB).

A single grading runs the reference solution in a process of its own while the student's kernel
starts; both load torch (~290 MB of private memory each with the CUDA build). Below LOW_MEMORY
bytes of room, grade.py lets them hold torch one after the other instead (docs/platforms.md).
"""

from __future__ import annotations

from pathlib import Path

LOW_MEMORY = 2 << 30


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None  # "max" (v2): no limit


def _available(meminfo: Path) -> int | None:
    try:
        for line in meminfo.read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, UnicodeDecodeError, ValueError, IndexError):
        pass
    return None


def _cgroup_room(proc_cgroup: Path, cgroup_root: Path) -> int | None:
    """Limit minus usage of this process's memory cgroup (v2, else v1), None when unlimited or unknown."""
    try:
        lines = proc_cgroup.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        relative = path.lstrip("/")
        if hierarchy == "0" and controllers == "":
            folder = cgroup_root / relative
            limit, usage = _read_int(folder / "memory.max"), _read_int(folder / "memory.current")
        elif "memory" in controllers.split(","):
            folder = cgroup_root / "memory" / relative
            limit, usage = _read_int(folder / "memory.limit_in_bytes"), _read_int(folder / "memory.usage_in_bytes")
            if limit is not None and limit >= 1 << 60:  # v1 says "no limit" with a huge number
                limit = None
        else:
            continue
        if limit is not None:
            return max(0, limit - (usage or 0))
    return None


def room_bytes(proc: Path = Path("/proc"), cgroup_root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The smaller of the machine's available memory and the cgroup's room; None if neither is known."""
    known = [r for r in (_available(proc / "meminfo"), _cgroup_room(proc / "self" / "cgroup", cgroup_root)) if r is not None]
    return min(known) if known else None


def is_low(proc: Path = Path("/proc"), cgroup_root: Path = Path("/sys/fs/cgroup")) -> bool:
    room = room_bytes(proc, cgroup_root)
    return room is not None and room < LOW_MEMORY
