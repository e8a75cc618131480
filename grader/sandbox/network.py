"""A network namespace of its own: only a loopback device nobody else can reach.

Inside, TCP and UDP work on 127.0.0.1 (ipykernel's IOPub pipe binds a TCP port there), but
nothing outside the namespace can be reached: not the internet, not services on the host's
localhost. As root this needs CAP_SYS_ADMIN; otherwise an unprivileged user namespace is made
first (mapping our own uid to itself), where the kernel allows it.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct

CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914
IFF_UP = 0x1

_libc = ctypes.CDLL(None, use_errno=True)


def _unshare(flags: int) -> None:
    if _libc.unshare(flags) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"unshare: {os.strerror(errno)}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def unshare_as_self(flags: int, as_root: bool) -> None:
    """unshare(2) these namespaces; not as root, inside a new user namespace that maps only our
    own uid and gid to themselves (unprivileged user namespaces). Raises OSError."""
    if as_root:
        _unshare(flags)
        return
    uid, gid = os.getuid(), os.getgid()
    _unshare(CLONE_NEWUSER | flags)
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1\n")
    _write("/proc/self/gid_map", f"{gid} {gid} 1\n")


def isolate(as_root: bool) -> None:
    """Move the calling (single-threaded) process into a new network namespace; raises OSError."""
    unshare_as_self(CLONE_NEWNET, as_root)
    loopback_up()


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
