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

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from grader.checks import Probe
from grader.execute import LOST_CONNECTION, KernelSession, RunResult
from grader.probe import (
    ProbeOutcome,
    ProbeResultError,
    kernel_batch_call,
    kernel_call,
    probe_source,
    read_result,
    write_inputs,
)
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
            result = await self.kernel.run_cell(plan.source, self.deadline.cap(self.timeouts.cell_s), history=True)
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
                replay = await self.kernel.run_cell(plan.source, self.deadline.cap(limit), history=True)
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

    async def run_probes(self, probes: list[Probe], inputs: dict[str, dict], seeds: dict[str, int]) -> dict[str, ProbeOutcome]:
        """Every probe, in order. Probes without a time limit of their own share round trips
        (one cell runs several): each still has its own limit, enforced here, and its own result."""
        outcomes: dict[str, ProbeOutcome] = {}
        queue = list(probes)
        while queue:
            batch = []
            for probe in queue:
                if not self._batchable(probe):
                    break
                batch.append(probe)
            if len(batch) < 2:
                probe = queue.pop(0)
                outcomes[probe.name] = await self.run_probe(probe, inputs[probe.name], seeds[probe.name])
                continue
            done = await self._run_batch(batch, inputs, seeds)
            outcomes.update(done)
            del queue[:len(done)]
        return outcomes

    def _batchable(self, probe: Probe) -> bool:
        """Not a probe with a limit of its own (whose time the grader alone must measure), nor one
        that run_probe would answer without running (a broken function, no kernel, no time)."""
        return (probe.timeout_s is None and probe.name not in self.timeouts.per_probe_s
                and not any(name in self._broken for name in probe.uses)
                and not self._gave_up() and not self.deadline.expired())

    def _limit(self, probe: Probe) -> float:
        return self.timeouts.probe(probe.name, probe.limit_s)

    async def _run_batch(self, batch: list[Probe], inputs: dict[str, dict], seeds: dict[str, int]) -> dict[str, ProbeOutcome]:
        """Run `batch` in one cell; the outcomes of its first probes, at least one."""
        outs = [self.io_dir / f"{probe.name}.out" for probe in batch]
        calls = []
        for probe, out_path in zip(batch, outs):
            in_path = self.io_dir / f"{probe.name}.in"
            out_path.unlink(missing_ok=True)
            write_inputs(in_path, inputs[probe.name])
            calls.append((probe_source(probe.fn, probe.helpers), probe.fn.__name__, list(probe.uses), in_path, out_path,
                          seeds[probe.name]))
        progress = _Progress(outs, [self._limit(p) for p in batch])
        watcher = asyncio.ensure_future(self._watch(progress))
        try:
            result = await self.kernel.run_cell(kernel_batch_call(calls), self.deadline.cap(sum(progress.limits) + PING_TIMEOUT_S))
        finally:
            watcher.cancel()
        progress.advance()
        outcomes: dict[str, ProbeOutcome] = {}
        for i, probe in enumerate(batch):
            if i >= progress.finished or i == progress.overran:
                break
            outcomes[probe.name] = self._read(probe, outs[i], result, progress.durations[i])
        if len(outcomes) == len(batch):
            if result.status in ("timeout", "dead"):
                # Every result file was there, yet the cell did not end: the notebook's code wrote
                # them itself (the files are the kernel's word, like everything from it; only the
                # time limit could be stretched, to the batch's). The kernel must still be usable.
                await self._recover(result, "the checks of " + ", ".join(dict.fromkeys(n for p in batch for n in p.uses)))
            return outcomes
        probe = batch[len(outcomes)]
        if progress.overran == len(outcomes):  # stopped here, at its own limit
            failed = RunResult("timeout", progress.limits[progress.overran], "did not finish within its limit")
        elif result.status in ("timeout", "dead"):
            failed = result
        else:  # the cell ended early without it (SystemExit, an interrupt of its own): run it alone
            outcomes[probe.name] = await self.run_probe(probe, inputs[probe.name], seeds[probe.name])
            return outcomes
        outcomes[probe.name] = await self._failed(probe, failed, progress.limits[len(outcomes)])
        return outcomes

    async def _watch(self, progress: _Progress) -> None:
        """Each probe's own limit, inside a batch: interrupt the one that overruns, and end the
        kernel if the interrupt is ignored (as a probe alone would be: nbclient, then the ping)."""
        interrupted_at = 0.0
        while True:
            await asyncio.sleep(WATCH_S)
            progress.advance()
            if progress.finished >= len(progress.limits):
                return
            now = time.monotonic()
            if progress.overran is None and now - progress.since > progress.limits[progress.finished]:
                progress.overran, interrupted_at = progress.finished, now
                await self.kernel.interrupt()
            elif progress.overran is not None and now - interrupted_at > PING_TIMEOUT_S:
                await self.kernel.kill()
                return

    def _read(self, probe: Probe, out_path: Path, result: RunResult, duration_s: float) -> ProbeOutcome:
        try:
            outcome = read_result(out_path, probe.uses)
        except ProbeResultError as exc:
            detail = str(exc)
            if result.status == "error" and result.error:
                detail += f"; the kernel reported {result.error}"
            return ProbeOutcome("invalid", {}, detail=detail, duration_s=duration_s)
        outcome.duration_s = duration_s
        return outcome

    async def _failed(self, probe: Probe, result: RunResult, timeout: float) -> ProbeOutcome:
        """A probe that did not return (timeout) or took the kernel with it (dead): recover the kernel."""
        names = ", ".join(probe.uses)
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
        status: Literal["dead", "timeout"] = "timeout" if result.status == "timeout" else "dead"
        return ProbeOutcome(status, {}, detail=detail, duration_s=result.duration_s)

    async def run_probe(self, probe: Probe, inputs: dict, seed: int) -> ProbeOutcome:
        """One probe in a round trip of its own."""
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
        timeout = self.deadline.cap(self._limit(probe))
        result = await self.kernel.run_cell(code, timeout)
        if result.status in ("timeout", "dead"):
            return await self._failed(probe, result, timeout)
        return self._read(probe, out_path, result, result.duration_s)


WATCH_S = 0.01  # how often a batch's progress is looked at (its result files appearing)


@dataclass
class _Progress:
    """How far a batch has got, from the result files that exist (each is written as its probe
    ends). Only timing is taken from this; the results are read and validated afterwards."""

    outs: list[Path]
    limits: list[float]
    finished: int = 0  # probes whose result file exists
    since: float = field(default_factory=time.monotonic)  # when the current probe started
    durations: list[float] = field(default_factory=list)
    overran: int | None = None  # the probe interrupted at its limit

    def advance(self) -> None:
        while self.finished < len(self.outs) and self.outs[self.finished].exists():
            now = time.monotonic()
            self.durations.append(now - self.since)
            self.finished, self.since = self.finished + 1, now
