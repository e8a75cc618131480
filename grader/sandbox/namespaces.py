"""The kernel's own namespaces, made with the kernel primitives bubblewrap uses (for a kernel
forked from the zygote, which cannot exec bwrap without losing its pre-imported modules, and
for an exec'd kernel where bwrap is missing).

`enter()` runs in a single-threaded process (a fresh fork or the exec wrapper):
1. unshare the mount, IPC, PID, UTS and network namespaces (first a user namespace mapping our
   own uid, when not root: unprivileged user namespaces);
2. fork: the child is PID 1 of the new PID namespace and becomes the kernel; the parent stays
   outside as a small proxy that waits for it and exits with its status, so the grader's
   handle (pid, kill, wait) keeps working. When the kernel (PID 1) ends, the kernel of the OS
   kills everything left in its namespace: nothing the notebook started survives, setsid() or
   not, cgroup or not. Each side dies with its parent (PR_SET_PDEATHSIG);
3. in the child: a private, empty /dev/shm; then a new root holding only the policy's paths
   (read-only, except scratch and the socket dir), a /dev with only null, zero, full, random,
   urandom and tty, a fresh /proc (only this namespace's processes; /proc/sys read-only), then
   pivot_root into it. `solutions/`, other submissions and the grader's processes do not exist
   there.
What cannot be done is recorded in the status as missing, with the reason; never raised.
"""

from __future__ import annotations

import ctypes
import glob
import os
import platform
import select
import signal
from typing import TYPE_CHECKING

from grader.sandbox import network
from grader.sandbox.apply import NAMESPACE_PROTECTIONS as PROTECTIONS

if TYPE_CHECKING:
    from grader.sandbox.apply import SandboxStatus
    from grader.sandbox.policy import SandboxPolicy

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
SYS_MOUNT_SETATTR, AT_RECURSIVE, MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID = 442, 0x8000, 0x1, 0x2
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
SHM_BYTES = 2 << 30
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus")  # as bwrap: no writing kernel settings
BASE = "/tmp"  # where the new root is assembled (covered only inside our mount namespace)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.syscall.restype = ctypes.c_long


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64),
                ("userns_fd", ctypes.c_uint64)]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _read_only(target: str) -> None:
    """Make a bind mount and everything below it read-only (and nosuid)."""
    attr = _MountAttr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0, 0, 0)
    result = _libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(-100), target.encode(),
                           ctypes.c_uint(AT_RECURSIVE), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
    if result != 0:  # before Linux 5.12: the top mount only, keeping the flags it is locked with
        st = os.statvfs(target)
        kept = st.f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | kept)


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def _makedirs(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


def _bind(source: str, target: str, read_only: bool) -> None:
    """Bind `source` (a path under the old root) at `target`, as it is: dir, file or symlink."""
    if os.path.islink(source):
        _makedirs(os.path.dirname(target))
        if not os.path.lexists(target):
            os.symlink(os.readlink(source), target)
        return
    if os.path.isdir(source):
        _makedirs(target)
    else:
        _makedirs(os.path.dirname(target))
        if not os.path.exists(target):
            open(target, "w").close()
    _mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        _read_only(target)


def _pivot_root(new_root: str, put_old: str) -> None:
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(38, f"pivot_root: unknown syscall number on {platform.machine()}")
    _check(_libc.syscall(ctypes.c_long(number), new_root.encode(), put_old.encode()), "pivot_root")


def _unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def _die_with_parent(parent_alive: int | None = None, parent: int | None = None) -> None:
    """SIGKILL when the parent dies; leave now if it already has (before prctl took effect).

    Across a PID namespace getppid() says 0, so the child watches a pipe its parent holds open.
    """
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    if parent is not None and os.getppid() != parent:
        os._exit(1)
    if parent_alive is not None:
        readable, _, _ = select.select([parent_alive], [], [], 0)
        os.close(parent_alive)
        if readable:  # end of file: the writer (the parent) is gone
            os._exit(1)


def _proxy(child: int, keep: int) -> None:
    """The parent outside the PID namespace: wait for the kernel, then leave with its status."""
    for fd in range(3, 1024):  # hold nothing the grader or the zygote had open
        if fd != keep:
            try:
                os.close(fd)
            except OSError:
                pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts go to the kernel (control channel, or its group)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: os.kill(child, signal.SIGKILL))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            os._exit(1)
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def unusable_reason() -> str | None:
    """None when a forked child can make the namespaces `enter` makes; else why not.

    Tried, not guessed from sysctls (Debian's unprivileged_userns_clone, Ubuntu's AppArmor rule
    for unprivileged user namespaces, a container's seccomp filter all differ): a child makes them
    and mounts a tmpfs inside. Call it in a single-threaded process (the zygote does, at start).
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        message = b"ok"
        try:
            os.close(read_end)
            network.unshare_as_self(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWNET,
                                    as_root=os.geteuid() == 0)
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")
        except BaseException as exc:  # anything at all: the answer is "no", with the reason
            message = f"{type(exc).__name__}: {exc}".encode()[:300]
        finally:
            try:
                os.write(write_end, message)
            finally:
                os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as answer:
        message = answer.read()
    os.waitpid(pid, 0)
    return None if message == b"ok" else message.decode(errors="replace") or "the test process died"


def enter(policy: SandboxPolicy, extra_read_write: list[str], status: SandboxStatus) -> None:
    """Move the calling single-threaded process into namespaces of its own (see the module doc).

    Returns in the child (PID 1 of the new PID namespace); the parent never returns.
    """
    as_root = os.geteuid() == 0
    flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWNET
    try:
        network.unshare_as_self(flags, as_root)
    except OSError as exc:
        for name in PROTECTIONS:
            if name != "network":
                status.missing[name] = f"could not create namespaces ({exc}); user namespaces may be disabled"
        return
    grandparent = os.getppid()
    alive_r, alive_w = os.pipe()
    child = os.fork()
    if child != 0:
        os.close(alive_r)
        try:
            _die_with_parent(parent=grandparent)
        except OSError:
            pass
        _proxy(child, keep=alive_w)  # never returns
    os.close(alive_w)
    _die_with_parent(parent_alive=alive_r)
    # From here on we are PID 1: a signal without a handler from inside is ignored, SIGKILL ends all.
    try:
        network.loopback_up()
        status.active["network"] = PROTECTIONS["network"]
    except OSError as exc:
        status.missing["network namespace"] = f"loopback: {exc}"
    status.active["PID namespace"] = PROTECTIONS["PID namespace"]
    if _no_terminal():
        status.active["terminal"] = PROTECTIONS["terminal"]
    else:
        status.missing["terminal"] = "the kernel still has a controlling terminal"
    try:
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={SHM_BYTES},mode=1777")
        status.active["IPC namespace"] = PROTECTIONS["IPC namespace"]
    except OSError as exc:
        for name in ("IPC namespace", "device allowlist", "mount namespace"):
            status.missing[name] = f"{exc}"
        return
    try:
        _new_root(policy, extra_read_write, os.getcwd())
        status.active["device allowlist"] = PROTECTIONS["device allowlist"]
        status.active["mount namespace"] = PROTECTIONS["mount namespace"]
    except OSError as exc:
        status.missing["device allowlist"] = status.missing["mount namespace"] = f"could not build the file-system view: {exc}"


def _no_terminal() -> bool:
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
        return False
    except OSError:
        return True


def _new_root(policy: SandboxPolicy, extra_read_write: list[str], cwd: str) -> None:
    """Assemble the kernel's file-system view and pivot into it (bwrap's sequence)."""
    binds = [(p, True) for p in policy.read_only if p not in ("/proc", "/dev") and not p.startswith("/dev/")]
    binds += [(p, False) for p in [*policy.read_write, *extra_read_write] if not p.startswith("/dev")]
    # Resolve symlinked components now, while the old root is '/': a bind follows them later.
    resolved = [(p, os.path.realpath(p), ro) for p, ro in binds if os.path.lexists(p)]
    _mount("tmpfs", BASE, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    os.mkdir(f"{BASE}/newroot")
    os.mkdir(f"{BASE}/oldroot")
    _mount("tmpfs", f"{BASE}/newroot", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    _pivot_root(BASE, f"{BASE}/oldroot")
    os.chdir("/")
    new, old = "/newroot", "/oldroot"
    for path, real, read_only in sorted(resolved, key=lambda item: len(item[1])):
        if path != real:  # e.g. /lib -> usr/lib: the same link inside
            _bind(old + path, new + path, read_only)
        _bind(old + real, new + real, read_only)
    _makedirs(f"{new}/dev")
    _mount("tmpfs", f"{new}/dev", "tmpfs", MS_NOSUID, "mode=0755")
    for name in DEVICES:
        if os.path.exists(f"{old}/dev/{name}"):
            open(f"{new}/dev/{name}", "w").close()
            _mount(f"{old}/dev/{name}", f"{new}/dev/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{new}/dev/{name}")
    os.mkdir(f"{new}/dev/shm")
    for device in policy.extra_devices:  # GPUs
        for path in glob.glob(old + device):
            _bind(path, new + path[len(old):], False)
    _mount(None, f"{new}/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID)  # no new files in /dev
    _mount("tmpfs", f"{new}/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={SHM_BYTES},mode=1777")
    _makedirs(f"{new}/proc")
    _mount("proc", f"{new}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in PROC_READ_ONLY:
        target = f"{new}/proc/{name}"
        if os.path.exists(target):
            _mount(target, target, None, MS_BIND | MS_REC)
            _read_only(target)
    _mount(None, new, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    _check(_libc.umount2(old.encode(), MNT_DETACH), "umount old root")
    os.chdir(new)
    _pivot_root(".", ".")
    _check(_libc.umount2(b".", MNT_DETACH), "umount assembly root")
    os.chdir(cwd)
