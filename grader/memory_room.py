"""How much memory this grading may still use: the machine's available memory, or less when the
grader's own cgroup has a limit (a container: Gradescope's default is 768 MB).

A single grading runs the reference solution in a process of its own while the student's kernel
starts; both load torch (~290 MB of private memory each with the CUDA build). Below LOW_MEMORY
bytes of room, grade.py lets them hold torch one after the other instead (docs/platforms.md).
"""

from __future__ import annotations

from pathlib import Path

from grader.sandbox.cgroup import parse_self_cgroup

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
        own = parse_self_cgroup(proc_cgroup.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError):
        return None
    candidates = []
    if "" in own:
        folder = cgroup_root / own[""].lstrip("/")
        candidates.append((folder / "memory.max", folder / "memory.current"))
    if "memory" in own:
        folder = cgroup_root / "memory" / own["memory"].lstrip("/")
        candidates.append((folder / "memory.limit_in_bytes", folder / "memory.usage_in_bytes"))
    for limit_file, usage_file in candidates:
        limit = _read_int(limit_file)
        if limit is not None and limit < 1 << 60:  # v2 says "max", v1 a huge number, for no limit
            return max(0, limit - (_read_int(usage_file) or 0))
    return None


def room_bytes(proc: Path = Path("/proc"), cgroup_root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The smaller of the machine's available memory and the cgroup's room; None if neither is known."""
    known = [r for r in (_available(proc / "meminfo"), _cgroup_room(proc / "self" / "cgroup", cgroup_root)) if r is not None]
    return min(known) if known else None


def is_low(proc: Path = Path("/proc"), cgroup_root: Path = Path("/sys/fs/cgroup")) -> bool:
    room = room_bytes(proc, cgroup_root)
    return room is not None and room < LOW_MEMORY
