"""`grade --watch NOTEBOOK`: re-grade on every save, from a warm fork server.

Each re-grade is the full trusted pipeline (a fresh sandboxed kernel, probes, judged here), the
same as `grade NOTEBOOK`; what is kept between runs is only what does not depend on the
submission: the fork server that has already imported torch and ipykernel (every kernel, and
every reference run, is a fresh fork of it), the grader's own imports, and the next kernel, started
(nothing run in it) while the student edits.

A save is noticed by polling the file's size and modification time every 10 ms: editors and
Jupyter replace the file in one rename, and polling needs no extra dependency and works on every
platform. A file that changed is graded at once if it is a whole JSON document, else when it has
held still for 50 ms (an editor still writing it).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from grader.grade import GradeOptions, grade_notebook_async
from grader.kernel_lease import KernelLease
from grader.report import GradeReport

POLL_S = 0.01
SETTLE_S = 0.05  # a file still being written keeps changing: wait until it holds still this long


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None  # being replaced, or deleted: wait for it to come back
    return st.st_mtime_ns, st.st_size


def _whole_notebook(path: Path, stamp: tuple[int, int]) -> bool:
    """Is the file, as it is now, a complete JSON document that did not change while read? Then
    it was saved in one go (Jupyter renames a finished file over the old one) and there is no
    need to wait for it to hold still; a half-written file is never valid JSON."""
    try:
        complete = isinstance(json.loads(path.read_bytes()), dict)
    except (OSError, ValueError):
        return False
    return complete and _stamp(path) == stamp


async def _next_save(path: Path, last: tuple[int, int] | None) -> tuple[int, int] | None:
    """Wait until the file differs from `last` and is whole, or has held still for SETTLE_S."""
    while True:
        await asyncio.sleep(POLL_S)
        now = _stamp(path)
        if now is None or now == last:
            continue
        if _whole_notebook(path, now):
            return now
        await asyncio.sleep(SETTLE_S)
        if _stamp(path) == now:
            return now


async def watch(path: Path, options: GradeOptions, show: Callable[[GradeReport, float], None],
                runs: int | None = None) -> None:
    """Grade now, then after every save (`runs`: stop after that many gradings, for tests)."""
    from grader.grade import discard_spare, open_spare, wait_for_spare, zygote_environment
    from grader.zygote.client import Zygote

    with tempfile.TemporaryDirectory(prefix="grader-watch-") as tmp:
        zygote = Zygote(Path(tmp), zygote_environment(jobs=1))
        await asyncio.to_thread(zygote.start)
        # The next grading's kernel, started while the student edits (grader/kernel_lease.py).
        spare: asyncio.Future[KernelLease | None] | None = None
        try:
            done = 0
            stamp = _stamp(path)
            while runs is None or done < runs:
                started = time.perf_counter()
                ahead, spare = spare, None  # wait_for_spare discards it itself if Ctrl-C comes meanwhile
                lease = await wait_for_spare(ahead) if ahead is not None else None
                report = await grade_notebook_async(path, options, zygote, spare=lease)
                show(report, time.perf_counter() - started)
                done += 1
                if runs is not None and done >= runs:
                    break
                spare = asyncio.ensure_future(open_spare(options, zygote, report.assignment))
                stamp = await _next_save(path, stamp)
        finally:
            if spare is not None:
                await discard_spare(spare)
            zygote.stop()


def run_watch(path: Path, options: GradeOptions, show: Callable[[GradeReport, float], None]) -> int:
    """The CLI's entry point: runs until Ctrl-C, then stops the fork server; exit status 130."""
    try:
        asyncio.run(watch(path, options, show))
    except KeyboardInterrupt:
        return 130
    return 0

