"""cgroup v2 placement against a fake cgroup2 tree that enforces the kernel's rules.

This machine mounts cgroup v1, so v2's logic is exercised on a fake tree in a temp dir: control
files appear on mkdir according to the parent's subtree_control, enabling a controller in a
non-root cgroup that holds processes is EBUSY ("no internal processes"), a controller the parent
did not delegate is ENOENT, a cgroup not delegated to us is not writable, cgroup.kill empties
the subtree. A real v2 test runs where a writable cgroup2 mount exists (the hybrid `unified` tree
here, as root).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.sandbox import cgroup
from grader.sandbox.cgroup import CgroupFS, combine_missing, enforced, place

CONTROL = {"pids": ["pids.max", "pids.current"], "memory": ["memory.max", "memory.swap.max"], "cpu": ["cpu.weight"],
           "io": ["io.weight"]}


class FakeCgroup2(CgroupFS):
    """A cgroup2 tree in a directory; `refused` cgroups are not delegated to us (EACCES)."""

    def __init__(self, root: Path, controllers: tuple[str, ...] = ("cpu", "io", "memory", "pids")) -> None:
        self.root = root
        self.refused: set[Path] = set()
        self.refuse_enable: dict[str, int] = {}  # controller -> errno when enabling it
        self.killed: list[int] = []
        root.mkdir(parents=True, exist_ok=True)
        self._populate(root, controllers)

    def _populate(self, path: Path, controllers) -> None:
        (path / "cgroup.controllers").write_text(" ".join(controllers) + "\n")
        for name in ("cgroup.subtree_control", "cgroup.procs"):
            (path / name).write_text("")
        (path / "cgroup.kill").write_text("")
        for controller in controllers:
            for name in CONTROL.get(controller, []):
                (path / name).write_text("max\n" if name.endswith("max") else "100\n")

    def cgroup(self, relative: str, procs: list[int] = (), subtree: tuple[str, ...] = ()) -> Path:
        """Make a cgroup (and its parents) as systemd would have, holding `procs`."""
        path = self.root
        for part in Path(relative).parts:
            for controller in subtree:  # systemd enables a controller on every ancestor
                if controller not in (path / "cgroup.subtree_control").read_text().split():
                    self._enable(path, controller)
            path = path / part
            if not path.exists():
                self.mkdir(path)
        for controller in subtree:
            self._enable(path, controller)
        for pid in procs:
            self.write(path / "cgroup.procs", f"{pid}\n")
        return path

    def procs(self, path: Path) -> list[str]:
        return (path / "cgroup.procs").read_text().split()

    def _denied(self, path: Path) -> bool:
        return any(path == refused or refused in path.parents for refused in self.refused)

    def writable(self, path: Path) -> bool:
        return not self._denied(path if path.is_dir() else path.parent)

    def mkdir(self, path: Path) -> None:
        if self._denied(path.parent):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        path.mkdir()
        self._populate(path, (path.parent / "cgroup.subtree_control").read_text().split())

    def rmdir(self, path: Path) -> None:
        if self.procs(path) or any(p.is_dir() for p in path.iterdir()):
            raise OSError(errno.EBUSY, "Device or resource busy", str(path))
        shutil.rmtree(path)

    def _enable(self, directory: Path, controller: str) -> None:
        if controller not in (directory / "cgroup.controllers").read_text().split():
            raise FileNotFoundError(errno.ENOENT, "No such file or directory")
        if directory != self.root and self.procs(directory):
            raise OSError(errno.EBUSY, "Device or resource busy")
        if controller in self.refuse_enable:
            raise OSError(self.refuse_enable[controller], os.strerror(self.refuse_enable[controller]))
        current = (directory / "cgroup.subtree_control").read_text().split()
        (directory / "cgroup.subtree_control").write_text(" ".join([*current, controller]))

    def write(self, path: Path, text: str) -> None:
        directory = path.parent
        if self._denied(directory):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        if path.name == "cgroup.subtree_control":
            for token in text.split():
                assert token.startswith("+"), token
                self._enable(directory, token[1:])
        elif path.name == "cgroup.procs":
            if directory != self.root and (directory / "cgroup.subtree_control").read_text().split():
                raise OSError(errno.EBUSY, "Device or resource busy")
            pid = text.strip()
            for other in self.root.rglob("cgroup.procs"):
                other.write_text(" ".join(p for p in other.read_text().split() if p != pid))
            path.write_text(" ".join([*self.procs(directory), pid]))
        elif path.name == "cgroup.kill":
            for procs in [directory / "cgroup.procs", *directory.rglob("*/cgroup.procs")]:
                self.killed.extend(int(p) for p in procs.read_text().split())
                procs.write_text("")
        else:
            path.write_text(text)

    def kill(self, pid: int) -> None:
        self.killed.append(pid)
        for procs in self.root.rglob("cgroup.procs"):
            procs.write_text(" ".join(p for p in procs.read_text().split() if p != str(pid)))


SCOPE = "user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope"


def _place(fake: FakeCgroup2, own: str, **kwargs) -> cgroup.Placement:
    return place(128, 1 << 30, root=fake.root, self_cgroup=f"0::/{own}\n", fs=fake, **kwargs)


def test_delegated_scope_with_the_grader_inside_moves_it_to_a_leaf_and_caps_the_kernel(tmp_path):
    fake = FakeCgroup2(tmp_path / "cg")
    fake.cgroup("user.slice/user-1000.slice/user@1000.service/app.slice", subtree=("cpu", "memory", "pids"))
    scope = fake.cgroup(SCOPE, procs=[111, 112])  # the grader and its zygote
    placement = _place(fake, SCOPE)
    assert placement.missing == {}
    directory = Path(placement.group.dirs[0])
    assert directory.parent == scope
    assert (directory / "pids.max").read_text().strip() == "128"
    assert (directory / "memory.max").read_text().strip() == str(1 << 30)
    assert (directory / "memory.swap.max").read_text().strip() == "0"
    assert set((scope / "cgroup.subtree_control").read_text().split()) == {"cpu", "memory", "pids"}
    assert fake.procs(scope) == [] and fake.procs(scope / cgroup.LEAF) == ["111", "112"]
    assert enforced(placement.group.dirs, fake).keys() == {"process count", "memory (resident)", "CPU share"}

    # the next kernel, the grader now living in the leaf, goes beside the leaf again
    again = _place(fake, f"{SCOPE}/{cgroup.LEAF}")
    assert again.missing == {} and Path(again.group.dirs[0]).parent == scope


def test_kernel_cgroup_join_kill_and_remove_use_cgroup_kill(tmp_path):
    fake = FakeCgroup2(tmp_path / "cg")
    fake.cgroup("user.slice/user-1000.slice/user@1000.service/app.slice", subtree=("cpu", "memory", "pids"))
    fake.cgroup(SCOPE, procs=[111])
    group = _place(fake, SCOPE).group
    group.join(4242)
    fake.write(Path(group.dirs[0], "cgroup.procs"), "4243\n")  # a setsid() child is still in it
    assert group.pids() == {4242, 4243}
    group.remove()
    assert sorted(fake.killed) == [4242, 4243]
    assert not Path(group.dirs[0]).exists()


def test_controllers_the_parent_did_not_delegate_are_named_and_cleanup_still_holds(tmp_path):
    fake = FakeCgroup2(tmp_path / "cg")
    fake.cgroup("user.slice/user-1000.slice/user@1000.service/app.slice", subtree=("pids",))  # systemd < 252
    fake.cgroup(SCOPE, procs=[111])
    placement = _place(fake, SCOPE)
    assert placement.group is not None and "process cleanup" not in placement.missing
    assert "process count" not in placement.missing
    for protection, controller in (("memory (resident)", "memory"), ("CPU share", "cpu")):
        assert f"the {controller} controller is not delegated" in placement.missing[protection]
        assert "run-r1.scope" in placement.missing[protection]
    assert placement.group.memory_max is None


def test_cgroup_not_delegated_to_this_user_gives_an_exact_warning_and_no_cgroup(tmp_path):
    fake = FakeCgroup2(tmp_path / "cg")
    session = fake.cgroup("user.slice/user-1000.slice/session-3.scope", procs=[111])
    fake.refused.add(session)
    placement = _place(fake, "user.slice/user-1000.slice/session-3.scope")
    assert placement.group is None
    assert set(placement.missing) == {"process cleanup", "process count", "memory (resident)", "CPU share"}
    assert all("session-3.scope is not writable" in why and "not delegated" in why
               for why in placement.missing.values())


def test_enabling_refused_by_the_kernel_names_the_controller_and_errno(tmp_path):
    fake = FakeCgroup2(tmp_path / "cg")
    fake.cgroup("system.slice", subtree=("cpu", "memory", "pids"))
    fake.cgroup("system.slice/grader.service", procs=[111])
    fake.refuse_enable["cpu"] = errno.EINVAL  # e.g. a realtime task in the cgroup
    placement = _place(fake, "system.slice/grader.service")
    assert placement.group is not None
    assert list(placement.missing) == ["CPU share"]
    assert "could not enable cpu" in placement.missing["CPU share"]
    assert os.strerror(errno.EINVAL) in placement.missing["CPU share"]


def test_processes_we_cannot_move_keep_the_cgroup_busy_and_the_warning_says_why(tmp_path):
    fake = FakeCgroup2(tmp_path / "cg")
    fake.cgroup("system.slice", subtree=("cpu", "memory", "pids"))
    service = fake.cgroup("system.slice/grader.service", procs=[111])
    original = fake.write

    def write(path: Path, text: str) -> None:
        if path.parent.name == cgroup.LEAF and path.name == "cgroup.procs":
            raise PermissionError(errno.EPERM, "Operation not permitted")
        original(path, text)

    fake.write = write
    placement = _place(fake, "system.slice/grader.service")
    assert placement.group is not None  # cleanup still holds: a v2 cgroup tracks every process
    for protection in ("process count", "memory (resident)", "CPU share"):
        why = placement.missing[protection]
        assert "Device or resource busy" in why and "no processes in a cgroup that hands controllers" in why
        assert str(service / cgroup.LEAF) in why and "Operation not permitted" in why


def test_root_cgroup_is_exempt_from_the_internal_process_rule(tmp_path):
    fake = FakeCgroup2(tmp_path / "cg")
    fake.write(fake.root / "cgroup.procs", "1\n")
    placement = _place(fake, "")
    assert placement.missing == {}
    assert Path(placement.group.dirs[0]).parent == fake.root
    assert not (fake.root / cgroup.LEAF).exists()


def test_hybrid_machine_without_v1_rights_falls_back_to_the_unified_tree_for_cleanup(tmp_path):
    root = tmp_path / "cg"
    fake = FakeCgroup2(root / "unified", controllers=("hugetlb",))
    for controller in ("pids", "memory", "cpu"):
        (root / controller).mkdir(parents=True)
        (root / controller / "cgroup.procs").write_text("")
        fake.refused.add(root / controller)
    text = "4:pids:/\n3:memory:/\n2:cpu:/\n0::/\n"
    placement = place(128, 1 << 30, root=root, self_cgroup=text, fs=fake)
    assert placement.group is not None and Path(placement.group.dirs[0]).parent == root / "unified"
    assert "process cleanup" not in placement.missing
    assert "not writable" in placement.missing["process count"]
    assert "not available in this cgroup v2 tree" in placement.missing["process count"]


def test_combine_missing_prefers_what_another_mechanism_provides():
    active = {"process count": "RLIMIT_NPROC 128 in the kernel's own user namespace"}
    missing = {"process cleanup": "no writable cgroup"}
    from_cgroup = {"process count": "pids not delegated", "CPU share": "cpu not delegated",
                   "process cleanup": "session-3.scope is not writable"}
    combined = combine_missing(active, missing, from_cgroup)
    assert "process count" not in combined
    assert combined["CPU share"] == "cpu not delegated"
    assert combined["process cleanup"] == "no writable cgroup; session-3.scope is not writable"


def _writable_v2() -> Path | None:
    for candidate in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        own = cgroup.parse_self_cgroup(Path("/proc/self/cgroup").read_text()).get("")
        if own is not None and (candidate / "cgroup.controllers").exists() \
                and os.access(candidate / own.lstrip("/"), os.W_OK):
            return candidate
    return None


@pytest.mark.skipif(_writable_v2() is None, reason="no writable cgroup2 mount here")
def test_real_cgroup2_kills_a_setsid_child(tmp_path):
    base = _writable_v2()
    own = cgroup.parse_self_cgroup(Path("/proc/self/cgroup").read_text())[""]
    placement = cgroup._place_v2(base, own, f"grader-test-{os.getpid()}", 128, None, CgroupFS())
    group = placement.group
    assert group is not None
    pidfile = tmp_path / "child"
    code = ("import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n"
            f"    open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n    time.sleep(600)\nos._exit(0)\n")
    subprocess.run([sys.executable, "-c", code], preexec_fn=group.join, check=True)
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pidfile.read_text())
    assert child in group.pids()
    group.remove()
    time.sleep(0.1)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
    assert not Path(group.dirs[0]).exists()


def test_the_cgroup_root_is_a_parameter_a_plain_directory_tree_works_too(tmp_path):
    """No fake file system: the real one on a temp dir laid out like a cgroup2 root."""
    (tmp_path / "cgroup.controllers").write_text("cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    (tmp_path / "cgroup.procs").write_text("")
    placement = place(128, 1 << 30, root=tmp_path, self_cgroup="0::/\n")
    assert placement.missing == {}
    directory = Path(placement.group.dirs[0])
    assert directory.parent == tmp_path
    assert (directory / "pids.max").read_text() == "128\n"
    assert (directory / "memory.max").read_text() == f"{1 << 30}\n"
