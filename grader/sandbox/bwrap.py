"""bubblewrap (`bwrap`): the exec'd kernel's own namespaces, set up by a tool thousands trust.

The kernel sees a file system made only of what the policy allows (read-only binds of Python,
the grader package and system dirs; read-write binds of its scratch and socket dirs), a fresh
/proc of its own PID namespace, a /dev with only null, zero, full, random, urandom, tty and a
private pts, a private empty /dev/shm, and its own IPC, network (loopback only) and UTS
namespaces. `--new-session` leaves it no controlling terminal (no TIOCSTI into the grader's);
`--die-with-parent` and the PID namespace end everything it started when it ends, with no cgroup.

bwrap sets no resource limits and no Landlock rules: the wrapper inside still applies them.
Measured (docs/architecture.md, "The sandbox"): about 20 ms per start, as root and as an ordinary user (user namespaces).
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
from collections.abc import Sequence

from grader.sandbox.policy import SandboxPolicy

SHM_BYTES = 2 << 30  # the private /dev/shm (DataLoader workers pass tensors through it)
# Mounted by bwrap itself rather than bound from the host.
SPECIAL = ("/proc", "/dev", "/dev/shm")


def find() -> str | None:
    return shutil.which("bwrap")


@functools.cache
def unusable_reason() -> str | None:
    """None when bwrap can build a sandbox here; else why not (asked once per process)."""
    path = find()
    if path is None:
        return "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        run = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "--new-session",
                              "--proc", "/proc", "--dev", "/dev", "true"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not run: {exc}"
    if run.returncode != 0:
        return f"bwrap cannot create namespaces here ({run.stderr.strip()[:200] or run.returncode}); " \
               "unprivileged user namespaces may be disabled"
    return None


def _bind(flag: str, path: str) -> list[str]:
    """Bind `path` at the same place; a symlink (e.g. /lib -> usr/lib) stays a symlink."""
    if os.path.islink(path):
        return ["--symlink", os.readlink(path), path]
    return [flag, path, path]


def command(policy: SandboxPolicy, extra_read_write: list[str], inner: list[str], cwd: str,
            extra_read_only: Sequence[str] = ()) -> list[str]:
    """The bwrap command line that runs `inner` in the policy's file-system view."""
    bwrap = find() or "bwrap"
    args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--hostname", "sandbox",
            # ipykernel's parent poller would see bwrap's init (pid 1) as its parent and quit.
            "--unsetenv", "JPY_PARENT_PID"]
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm"]
    for device in policy.extra_devices:
        for path in glob.glob(device):
            args += ["--dev-bind", path, path]
    binds = {p: "--ro-bind" for p in [*policy.read_only, *extra_read_only]}
    binds.update({p: "--bind" for p in [*policy.read_write, *extra_read_write]})
    # Shortest first: a bind inside another must come after it (the venv inside a checkout).
    for path in sorted(binds, key=len):
        if path not in SPECIAL and not path.startswith("/dev/") and os.path.lexists(path):
            args += _bind(binds[path], path)
    # bwrap's root is a tmpfs; nothing may be written outside the binds.
    args += ["--remount-ro", "/", "--chdir", cwd, "--", *inner]
    return args
