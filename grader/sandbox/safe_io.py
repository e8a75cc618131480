"""File I/O the grader does in directories the student's code can write to.

The grader runs unsandboxed, so a path the student controls must never lead it elsewhere: a
symlink planted where the grader writes would make it overwrite any file; a FIFO or a device
where it reads would hang it or feed it endless data. Writes go to a fresh temporary file that is
renamed over the target (rename replaces a symlink, never follows it); reads refuse symlinks and
anything but a regular file, and never read more than a bound.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


class UnsafeFile(OSError):
    pass


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """The content of a regular file (not a symlink, FIFO or device) of at most max_bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(f"{Path(path).name} is not a regular file")
        if info.st_size > max_bytes:
            raise UnsafeFile(f"{Path(path).name} is larger than {max_bytes >> 20} MB")
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:  # it grew while we read
            raise UnsafeFile(f"{Path(path).name} is larger than {max_bytes >> 20} MB")
        return data
    finally:
        os.close(fd)
