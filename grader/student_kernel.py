"""Drive the student's kernel: run their cells, then the probes, surviving hangs and crashes.

Recovery rule: when the kernel dies or is stuck in code that ignores interrupts, a new kernel
is started and the cells that had completed are replayed (the culprit is not), so one broken
function costs only its own checks. After MAX_RESTARTS caused by the notebook's own cells, the
rest of its cells are not run, and the probes get one last kernel with the cells that did
complete (a notebook whose scratch cells kill the kernel again and again still earns what its
functions are worth). After that, the remaining work is reported as lost, not retried forever.

Time: every cell, replay, probe and ping takes its limit from the submission's one `Deadline`
(grader/timing.py); once it has passed, what is left is reported as not run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from grader.checks import Probe
from grader.execute import LOST_CONNECTION, KernelSession, RunResult
from grader.probe import ProbeOutcome, ProbeResultError, kernel_call, probe_source, read_result, write_inputs
from grader.report import CellRecord
from grader.sandbox.limits import MESSAGE_LIMIT
from grader.timing import PING_TIMEOUT_S, Deadline, Timeouts

MAX_RESTARTS = 3


# A replay gets what the cell took the first time, times this, plus the slack (and never more than
# the cell timeout): an honest cell re-runs as fast as it first ran, give or take a loaded machine;
# one that only hangs on replay (and ignores interrupts) must not eat the rest of the budget.
REPLAY_FACTOR, REPLAY_SLACK_S = 3.0, 5.0


@dataclass
class CellPlan:
    index: int
    source: str
    marks: list[str]
    duration_s: float = 0.0  # its first run, once it has completed


@dataclass
class StudentRun:
    kernel: KernelSession
    io_dir: Path
    timeouts: Timeouts
    deadline: Deadline
    records: list[CellRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _completed: list[CellPlan] = field(default_factory=list)
    _broken: dict[str, str] = field(default_factory=dict)  # function -> 'timeout' | 'dead'
    _cells_stopped: bool = False  # the cells used up the restarts; the probes' one last kernel was started
    _replay_restarts: int = 0  # restarts that left out a cell which broke only on replay

    def _restarts(self) -> int:
        return self.kernel.restarts - self._replay_restarts

    def _gave_up(self) -> bool:
        return self._restarts() > MAX_RESTARTS + self._cells_stopped

    async def run_cells(self, cells: list[CellPlan]) -> list[CellRecord]:
        for plan in cells:
            if self.deadline.expired() or self._cells_stopped or self._gave_up():
                why = "the notebook's time budget was used up" if self.deadline.expired() else "the kernel kept dying"
                self.records.append(CellRecord(index=plan.index, status="skipped", marks=plan.marks, error=why))
                continue
            result = await self.kernel.run_cell(plan.source, self.deadline.cap(self.timeouts.cell_s))
            self.records.append(
                CellRecord(index=plan.index, status=result.status, duration_s=round(result.duration_s, 3),
                           marks=plan.marks, error=result.error)
            )
            if result.status in ("ok", "error"):
                plan.duration_s = result.duration_s
                self._completed.append(plan)
            else:
                await self._recover(result, f"cell {plan.index}", in_cells=True)
        return self.records

    async def _recover(self, result: RunResult, what: str, in_cells: bool = False) -> None:
        """After a timeout or death, make sure a usable kernel with the completed cells exists."""
        if self.deadline.expired():
            return  # nothing more will run: no restart, no replay
        if result.status == "timeout" and await self._responsive():
            return
        cause = ("stopped responding" if result.status == "timeout"
                 else "was cut off (a message over the size limit)" if result.error == LOST_CONNECTION else "died")
        if self._restarts() >= MAX_RESTARTS + self._cells_stopped:
            if not in_cells or self._cells_stopped:
                self.kernel.restarts += 1
                return
            self._cells_stopped = True
            self.notes.append(f"the kernel {cause} during {what}, after {MAX_RESTARTS} restarts already: the"
                              " notebook's remaining cells were not run; the graded functions were checked"
                              " in a kernel with the cells that had completed")
        else:
            self.notes.append(f"the kernel {cause} during {what}; restarted it and re-ran the cells before it")
        await self._restart_and_replay()

    async def _restart_and_replay(self) -> None:
        """A new kernel with the completed cells re-run. A cell that hangs or kills the kernel on
        replay (though it completed before) is left out, and the kernel started again without it:
        the functions defined elsewhere keep their checks."""
        while True:
            await self.kernel.restart()
            culprit, status = None, ""
            for plan in list(self._completed):
                if self.deadline.expired():
                    self.notes.append("the time budget ran out while re-running cells after the restart")
                    return
                limit = min(self.timeouts.cell_s, REPLAY_FACTOR * plan.duration_s + REPLAY_SLACK_S)
                replay = await self.kernel.run_cell(plan.source, self.deadline.cap(limit))
                if replay.status in ("ok", "error"):
                    continue
                if replay.status == "timeout" and await self._responsive():
                    self._completed.remove(plan)  # interrupted: its definitions may be missing, the kernel is fine
                    self.notes.append(f"cell {plan.index} did not re-run within {limit:g} s after the restart; it was stopped")
                    continue
                culprit, status = plan, replay.status
                break
            if culprit is None:
                return
            self._completed.remove(culprit)
            what = "stopped responding" if status == "timeout" else "killed the kernel"
            self.notes.append(f"cell {culprit.index} {what} when re-run after the restart (it had run before);"
                              " the kernel was started again without it")
            if self.deadline.expired():
                return
            # The next restart is the culprit's, and it is left out now, so it cannot happen again:
            # not counted against MAX_RESTARTS (the rounds are bounded: each removes one cell).
            self._replay_restarts += 1

    async def _responsive(self) -> bool:
        """After a timeout: did the interrupt work, or is the kernel stuck in a loop that ignores it?"""
        result = await self.kernel.run_cell("pass", self.deadline.cap(PING_TIMEOUT_S))
        return result.status == "ok"

    async def run_probe(self, probe: Probe, inputs: dict, seed: int) -> ProbeOutcome:
        broken = {name: self._broken[name] for name in probe.uses if name in self._broken}
        if broken:
            # Calling it again would cost another timeout or kernel restart for the same verdict.
            status: Literal["dead", "timeout"] = "dead" if "dead" in broken.values() else "timeout"
            what = "crashed the kernel" if status == "dead" else "did not return"
            return ProbeOutcome(status, {}, detail=f"{', '.join(broken)} {what} in an earlier check, so it was not called again")
        if self._gave_up():
            return ProbeOutcome("dead", {}, detail="the kernel kept dying, so this check could not run")
        if self.deadline.expired():
            return ProbeOutcome("timeout", {}, detail="the notebook's time budget was used up before this check could run")
        in_path, out_path = self.io_dir / f"{probe.name}.in", self.io_dir / f"{probe.name}.out"
        out_path.unlink(missing_ok=True)
        write_inputs(in_path, inputs)
        code = kernel_call(probe_source(probe.fn, probe.helpers), probe.fn.__name__, list(probe.uses), in_path, out_path, seed)
        timeout = self.deadline.cap(self.timeouts.probe(probe.name, probe.timeout_s))
        result = await self.kernel.run_cell(code, timeout)
        names = ", ".join(probe.uses)
        if result.status in ("timeout", "dead"):
            if len(probe.uses) == 1:  # only then is the culprit known for sure
                self._broken[probe.uses[0]] = result.status
            await self._recover(result, f"the check of {names}")
            if result.status == "timeout":
                detail = f"{names} did not return within {timeout:g} s (an endless loop?)"
            elif result.error == LOST_CONNECTION:
                detail = (f"{names} printed, displayed or raised more than {MESSAGE_LIMIT >> 20} MB of text at once;"
                          " the grader refused it and restarted the kernel. Print less: a summary, a shape or a few values")
            else:
                detail = f"the kernel died while running {names} (os._exit, a crash or running out of memory)"
            return ProbeOutcome(result.status, {}, detail=detail, duration_s=result.duration_s)
        try:
            outcome = read_result(out_path, probe.uses)
        except ProbeResultError as exc:
            detail = str(exc)
            if result.status == "error" and result.error:
                detail += f"; the kernel reported {result.error}"
            return ProbeOutcome("invalid", {}, detail=detail, duration_s=result.duration_s)
        outcome.duration_s = result.duration_s
        return outcome
