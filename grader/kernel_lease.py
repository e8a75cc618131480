"""A sandboxed kernel in a private folder of its own: everything of a grading that does not depend
on the submission.

A grading takes a lease, puts the submission's files in its scratch folder, starts the kernel
(unless a spare lease was started already), runs the notebook, and closes it: the kernel stops,
the sandbox kills what is left, and the folder is removed. `grade --watch` opens the next lease
while the student edits, so a re-grade after a save starts with a kernel that is ready: it is
as fresh as one started after the save (nothing has run in it), on the same terms.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from grader.execute import KernelSession, write_kernelspec
from grader.sandbox.session import KernelSandbox
from grader.scratch import scratch_folder
from grader.zygote.client import Zygote

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseTerms:
    """What a kernel is started with. A spare lease serves a grading only on equal terms."""

    sandbox: bool
    cuda: bool
    cpu_s: int
    zygote_id: int  # the fork server it was forked from (id()); 0: exec'd


class KernelLease:
    def __init__(self, terms: LeaseTerms, environment: Callable[[Path], dict[str, str]]) -> None:
        self.terms = terms
        self._environment = environment
        self._stack = ExitStack()
        self.folder = self._stack.enter_context(scratch_folder())
        self.scratch = self.folder / "work"
        # Probe files live outside the scratch dir, so the student's code cannot swap the directory
        # itself for a symlink (files inside it are written and read with safe_io).
        self.io_dir = self.folder / "probe-io"
        self.scratch.mkdir()
        self.io_dir.mkdir()
        self.sandbox: KernelSandbox | None = None
        self.session: KernelSession | None = None
        self.started = False

    def set_up(self, zygote: Zygote | None) -> KernelSession:
        """The sandbox's policy and cgroup, and the session that will start the kernel."""
        if self.session is None:
            self.sandbox = KernelSandbox(self.folder, self.scratch, enabled=self.terms.sandbox, cuda=self.terms.cuda,
                                         cpu_s=self.terms.cpu_s, extra_write=[str(self.io_dir)])
            self.session = KernelSession(self.scratch, write_kernelspec(self.folder / "jupyter", self.sandbox.kernel_argv()),
                                         self.sandbox.environment(self._environment(self.scratch)), zygote=zygote,
                                         on_stop=self.sandbox.kill_all)
        return self.session

    async def start(self, zygote: Zygote | None) -> None:
        if not self.started:
            self.started = True
            await self.set_up(zygote).start()

    async def stop(self) -> None:
        if self.session is not None and self.started:
            await self.session.stop()

    def close(self) -> list[str]:
        """Kill what is left and remove the folder; the sandbox's warnings (it never raises)."""
        warnings: list[str] = []
        try:
            if self.sandbox is not None:
                warnings = self.sandbox.warnings()
                self.sandbox.close()
        except Exception as exc:
            log.warning("closing the sandbox failed: %r", exc)
        finally:
            self._stack.close()
        return warnings

    async def discard(self) -> None:
        """A spare nobody will use: stop its kernel and remove everything."""
        try:
            await self.stop()
        except Exception as exc:
            log.warning("stopping a spare kernel failed: %r", exc)
        self.close()
