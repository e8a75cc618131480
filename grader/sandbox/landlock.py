"""Linux Landlock through ctypes: which paths a process may touch, which TCP ports, which scopes.

Rules apply to the calling thread and everything it starts afterwards, and can only be tightened,
never loosened, so `restrict()` must run in a single-threaded process before it starts anything
(the exec wrapper, or a freshly forked child). Unknown rights are masked by the running kernel's
ABI, so the same code degrades on older kernels; `abi_version()` says what there is.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Iterable

# Syscall numbers are the same on every architecture that has them (the unified table).
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2
PR_SET_NO_NEW_PRIVS = 38

# File-system rights and the ABI that introduced them.
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3, 5
FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
# Rights that make sense on a regular file (a rule on a file may carry only these).
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV

READ = EXECUTE | READ_FILE | READ_DIR
WRITE = (WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_SOCK | MAKE_FIFO
         | MAKE_SYM | REFER | TRUNCATE)
DEVICE = READ | WRITE_FILE | IOCTL_DEV

# Network rights (ABI 4) and scopes (ABI 6).
BIND_TCP, CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1


class LandlockError(OSError):
    pass


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel's struct is __attribute__((packed))
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args: object) -> int:
    result = _libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        errno = ctypes.get_errno()
        raise LandlockError(errno, os.strerror(errno))
    return int(result)


def abi_version() -> int:
    """The Landlock ABI this kernel offers; 0 when Landlock is missing or disabled."""
    if platform.system() != "Linux":
        return 0
    try:
        return _syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    except LandlockError:
        return 0


def handled_fs(abi: int) -> int:
    return FS_BY_ABI.get(abi, FS_BY_ABI[5]) if abi >= 1 else 0


def restrict(read: Iterable[str], write: Iterable[str], devices: Iterable[str] = (),
             tcp_bind: Iterable[int] = (), tcp_connect: Iterable[int] = (), restrict_tcp: bool = True,
             scope: bool = True) -> int:
    """Allow exactly these paths (and, when `restrict_tcp`, these ports); everything else is denied.

    read: read and execute below these paths; write: full access below them; devices:
    read/write/ioctl below them. Paths that do not exist are skipped. Returns the ABI used.
    Raises LandlockError when Landlock is unavailable, so the caller can report it.
    """
    abi = abi_version()
    if abi < 1:
        raise LandlockError(38, "Landlock is not available on this kernel")
    fs_mask = handled_fs(abi)
    net_mask = (BIND_TCP | CONNECT_TCP) if abi >= 4 and restrict_tcp else 0
    scoped = (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 and scope else 0
    attr = _RulesetAttr(fs_mask, net_mask, scoped)
    ruleset = _syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0))
    try:
        for paths, rights in ((read, READ), (write, READ | WRITE), (devices, DEVICE)):
            for path in paths:
                _add_path(ruleset, path, rights & fs_mask)
        if net_mask:
            for ports, right in ((tcp_bind, BIND_TCP), (tcp_connect, CONNECT_TCP)):
                for port in ports:
                    rule = _NetPortAttr(right, int(port))
                    _syscall(SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_NET_PORT), ctypes.byref(rule), ctypes.c_uint32(0))
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            errno = ctypes.get_errno()
            raise LandlockError(errno, f"prctl(NO_NEW_PRIVS): {os.strerror(errno)}")
        _syscall(SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return abi


def _add_path(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path this machine does not have (e.g. /lib64) needs no rule
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS
        rule = _PathBeneathAttr(rights, fd)
        _syscall(SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0))
    finally:
        os.close(fd)
