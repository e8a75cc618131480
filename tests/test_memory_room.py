"""--low-memory: how much room there is (machine or container), and what the grading does with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import memory_room
from tests.helpers import grade, solution

GB = 1 << 30


def fake_machine(tmp_path: Path, available_kb: int, cgroup_line: str, files: dict[str, str]) -> tuple[Path, Path]:
    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "self").mkdir(parents=True)
    (proc / "meminfo").write_text(f"MemTotal: 24000000 kB\nMemAvailable: {available_kb} kB\n")
    (proc / "self" / "cgroup").write_text(cgroup_line + "\n")
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text + "\n")
    return proc, root


@pytest.mark.parametrize("cgroup_line,files,expected_gb", [
    # a 768 MB container (cgroup v2) on a big machine: the container decides
    ("0::/autograder", {"autograder/memory.max": str(768 << 20), "autograder/memory.current": str(100 << 20)}, 0.65),
    ("0::/", {"memory.max": "max", "memory.current": "1000"}, 20),  # v2, no limit: the machine decides
    ("4:memory:/job", {"memory/job/memory.limit_in_bytes": str(1 * GB), "memory/job/memory.usage_in_bytes": str(GB // 2)}, 0.5),
    ("4:memory:/", {"memory/memory.limit_in_bytes": str(2**63 - 4096)}, 20),  # v1's "no limit"
    ("0::/gone", {}, 20),  # unreadable cgroup files: the machine decides
])
def test_room_is_the_smaller_of_machine_and_container(tmp_path, cgroup_line, files, expected_gb):
    proc, root = fake_machine(tmp_path, 20 * GB // 1024, cgroup_line, files)
    assert memory_room.room_bytes(proc, root) == pytest.approx(expected_gb * GB, rel=0.02)
    assert memory_room.is_low(proc, root) == (expected_gb < 2)


def test_nothing_known_is_not_low(tmp_path):
    assert memory_room.room_bytes(tmp_path / "none", tmp_path / "none") is None
    assert not memory_room.is_low(tmp_path / "none", tmp_path / "none")


@pytest.mark.parametrize("low", [True, False])
def test_low_memory_runs_the_reference_before_the_cells_with_the_same_grade(tmp_path, low):
    report = grade(solution("hw3"), tmp_path, fork=False, low_memory=low)
    assert report.score == report.max_score == 18
    assert ("reference (before the cells)" in report.timings) == low
