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


@dataclass
class CellPlan:
    index: int
    source: str
    marks: list[str]


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

    def _gave_up(self) -> bool:
        return self.kernel.restarts > MAX_RESTARTS + self._cells_stopped

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
        if self.kernel.restarts >= MAX_RESTARTS + self._cells_stopped:
            if not in_cells or self._cells_stopped:
                self.kernel.restarts += 1
                return
            self._cells_stopped = True
            self.notes.append(f"the kernel {cause} during {what}, after {MAX_RESTARTS} restarts already: the"
                              " notebook's remaining cells were not run; the graded functions were checked"
                              " in a kernel with the cells that had completed")
        else:
            self.notes.append(f"the kernel {cause} during {what}; restarted it and re-ran the cells before it")
        await self.kernel.restart()
        for plan in self._completed:
            if self.deadline.expired():
                self.notes.append("the time budget ran out while re-running cells after the restart")
                return
            replay = await self.kernel.run_cell(plan.source, self.deadline.cap(self.timeouts.cell_s))
            if replay.status not in ("ok", "error"):
                self.notes.append(f"cell {plan.index} did not re-run cleanly after the restart ({replay.status})")
                if replay.status == "dead":
                    return

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
