"""Every time limit of one grading, decided in one place, drawn from one deadline.

A submission gets one budget of wall time. Its cells, the replays after a kernel restart, the
probes and the pings that tell a stuck kernel from a slow one all take their time limits from
what is left of it, so nothing a notebook does (slow replays, probes that ignore SIGINT) can
hold the grader longer than the budget plus the fixed cost of starting and stopping kernels.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# nbclient reads a timeout of 0 as "no timeout": a limit is never below this.
MIN_TIMEOUT_S = 1.0
PING_TIMEOUT_S = 5.0


@dataclass
class Deadline:
    budget_s: float
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)

    def expired(self) -> bool:
        return self.left() <= 0

    def cap(self, limit_s: float) -> float:
        """`limit_s`, or what is left of the budget if that is less (never below MIN_TIMEOUT_S)."""
        return max(MIN_TIMEOUT_S, min(limit_s, self.left()))


@dataclass(frozen=True)
class Timeouts:
    """The limits of one grading: the command line's, else the assignment's and each probe's own."""

    budget_s: float
    cell_s: float
    probe_override_s: float | None = None  # --timeout: every probe gets it
    per_probe_s: dict[str, float] = field(default_factory=dict)  # the assignment's `prepare` may set these

    def probe(self, name: str, own_s: float) -> float:
        return self.probe_override_s or self.per_probe_s.get(name, own_s)

    @classmethod
    def resolve(cls, *, budget_s: float | None, cell_s: float | None, probe_s: float | None,
                default_budget_s: float, default_cell_s: float, per_probe_s: dict[str, float] | None = None) -> Timeouts:
        return cls(budget_s=budget_s or default_budget_s, cell_s=cell_s or default_cell_s,
                   probe_override_s=probe_s, per_probe_s=dict(per_probe_s or {}))


@dataclass
class Stages:
    """Wall seconds spent in each stage of one grading (the report's `timings`; bench_bulk's profile)."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - started, 4)
