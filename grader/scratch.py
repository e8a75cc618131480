"""A private temporary folder per submission, removed afterwards whatever the kernel left in it.

The student's code writes inside it, so its removal must survive anything a notebook can build:
trees nested deeper than the recursion limit or PATH_MAX, folders without permissions, files
still being written. `remove_tree` never raises.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

log = logging.getLogger(__name__)
GIVE_UP_S = 60.0


def _chmod_and_retry(function, path, _exc_info) -> None:  # noqa: ANN001 (shutil's onerror signature)
    with suppress(OSError):
        os.chmod(os.path.dirname(path) or ".", stat.S_IRWXU)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, stat.S_IRWXU)
        function(path)


def _make_enterable(name: str, dir_fd: int) -> None:
    """chmod 700 the folder `name` without following a symlink put in its place.

    Linux has no chmod that refuses symlinks (os.chmod(..., follow_symlinks=False) raises
    NotImplementedError there), so the folder is opened as a path only (O_PATH: no permission on
    the folder itself needed, which a normal user lacks on a folder of mode 0) and changed through
    /proc/self/fd, which names exactly that folder.
    """
    if not hasattr(os, "O_PATH"):  # macOS, BSD: they have a chmod that does not follow symlinks
        with suppress(OSError, NotImplementedError):
            os.chmod(name, stat.S_IRWXU, dir_fd=dir_fd, follow_symlinks=False)
        return
    with suppress(OSError):
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY, dir_fd=dir_fd)
        try:
            os.chmod(f"/proc/self/fd/{fd}", stat.S_IRWXU)
        finally:
            os.close(fd)


def _flatten_and_remove(root: str) -> None:
    """Remove a tree of any depth with two open folders at a time and no recursion.

    Each sub-folder's entries are moved up into the root (renames relative to folder
    descriptors, so no path ever gets long), then the emptied folder is removed.
    """
    counter, give_up = 0, time.monotonic() + GIVE_UP_S
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        while True:
            names = os.listdir(root_fd)
            if not names:
                break
            progress = False
            for name in names:
                try:
                    info = os.stat(name, dir_fd=root_fd, follow_symlinks=False)
                    if not stat.S_ISDIR(info.st_mode):
                        os.unlink(name, dir_fd=root_fd)
                        progress = True
                        continue
                    _make_enterable(name, root_fd)
                    child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=root_fd)
                    try:
                        for inner in os.listdir(child):
                            counter += 1
                            # moving a folder to another parent rewrites its "..": it must be writable
                            _make_enterable(inner, child)
                            os.rename(inner, f".flat-{counter}", src_dir_fd=child, dst_dir_fd=root_fd)
                    finally:
                        os.close(child)
                    os.rmdir(name, dir_fd=root_fd)
                    progress = True
                except OSError:
                    continue
            if not progress or time.monotonic() > give_up:  # something keeps writing: stop, never hang
                raise OSError(f"cannot empty {root}")
    finally:
        os.close(root_fd)
    os.rmdir(root)


def remove_tree(path: Path) -> bool:
    """Remove `path` and everything under it; True when it is gone. Never raises."""
    path_s = str(path)
    try:
        shutil.rmtree(path_s, onerror=_chmod_and_retry)
    except Exception:  # RecursionError on deep trees, names too long for a path, ...
        pass
    if not os.path.lexists(path_s):
        return True
    try:
        _flatten_and_remove(path_s)
    except Exception:
        with suppress(Exception):
            subprocess.run(["rm", "-rf", "--one-file-system", path_s], capture_output=True, timeout=120, check=False)
    gone = not os.path.lexists(path_s)
    if not gone:
        log.warning("could not remove %s", path_s)
    return gone


@contextmanager
def scratch_folder(prefix: str = "grader-") -> Iterator[Path]:
    """A fresh private folder, removed on exit (never raising while doing so)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        remove_tree(folder)
