"""The vocabulary an assignment's `checks.py` is written in.

A `Probe` says how to call the student's code: a plain function `probe(ns, **inputs)` whose
source is sent to the student's kernel (so it must be self-contained: import inside it), plus a
function that builds its inputs from a random generator. The same probe runs against the
reference solution to produce the expected outcome.

A `Check` turns one probe outcome into points: its `judge(student, expected)` returns a
`Verdict` (or raises `Fail`); `expected` is always the reference solution's outcome for the same
inputs. A probe judged on its own terms (`reference=False`, e.g. a trained model measured on
held-out data) has no expected outcome: its checks take `facts_judge(student, facts)`, with the
facts measured by `Assignment.prepare`. Several checks can share one probe: the probe runs once.

Authors import all of this, and the judge helpers, from `grader.authoring`
(docs/writing-an-assignment.md walks through a whole assignment).

Public probes use fixed inputs and expected outcomes stored beside the stub, so they work
without `solutions/`. Hidden probes draw inputs seeded from the submission's hash and need the
reference solution at grading time.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader.forbid import Forbid
from grader.probe import ProbeOutcome

InputMaker = Callable[[np.random.Generator], dict[str, Any]]


class Fail(Exception):
    """Raised by a judge to fail a check with a message for the student."""

    def __init__(self, message: str, fraction: float = 0.0) -> None:
        super().__init__(message)
        self.message = message
        self.fraction = fraction


@dataclass(frozen=True)
class Verdict:
    fraction: float  # share of the check's points earned, 0..1
    message: str = ""


PASS = Verdict(1.0)


DEFAULT_PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Probe:
    name: str
    fn: Callable[..., dict[str, Any]]
    uses: tuple[str, ...]
    inputs: InputMaker = field(default=lambda rng: {})
    hidden: bool = False
    # A limit of its own (a training run, a timing measured by the grader): the probe then runs in
    # a round trip of its own, timed by the grader alone. None: DEFAULT_PROBE_TIMEOUT_S, and the
    # probe may share one round trip with others (grader/student_kernel.py, "batches").
    timeout_s: float | None = None
    helpers: tuple[Callable[..., Any], ...] = ()  # functions the probe calls, shipped with it
    # False: judged on its own terms (e.g. a trained model measured on held-out data), so no
    # reference outcome is computed or stored; its checks take a `facts_judge`, which receives the
    # facts of `Assignment.prepare` (a plain `judge` still works: it gets them as
    # `ProbeOutcome("ok", facts)`, the contract before facts were explicit).
    reference: bool = True

    @property
    def limit_s(self) -> float:
        return DEFAULT_PROBE_TIMEOUT_S if self.timeout_s is None else self.timeout_s

    def seed(self, submission_seed: int) -> int:
        """Public probes get a seed of their own name; hidden ones mix in the submission's."""
        base = zlib.crc32(self.name.encode())
        return (base ^ submission_seed) & 0x7FFFFFFF if self.hidden else base

    def make_inputs(self, submission_seed: int) -> dict[str, Any]:
        return self.inputs(np.random.default_rng(self.seed(submission_seed)))


Facts = Mapping[str, Any]
# judge(student, expected): `expected` is never None; the scorer reports a missing one itself.
Judge = Callable[[ProbeOutcome, ProbeOutcome], Verdict | None]
# facts_judge(student, facts), for a probe with reference=False.
FactsJudge = Callable[[ProbeOutcome, Facts], Verdict | None]

# Whether the check being judged is hidden. Set only by `Check.decide`, for the duration of one
# judge call, so the judge helpers (grader/judge.py) redact what a hidden check must not quote
# (shapes, indices, values, counts of its inputs) without every judge passing a flag around.
_JUDGING_HIDDEN: ContextVar[bool] = ContextVar("grader_judging_hidden", default=False)


def judging_hidden() -> bool:
    """True while a hidden check's judge runs: its messages must not describe the hidden inputs."""
    return _JUDGING_HIDDEN.get()


@contextmanager
def judging(hidden: bool) -> Iterator[None]:
    """Judge as a hidden (or public) check would; for tests and tools that call judges directly."""
    token = _JUDGING_HIDDEN.set(hidden)
    try:
        yield
    finally:
        _JUDGING_HIDDEN.reset(token)


@dataclass(frozen=True)
class Check:
    name: str
    points: float
    probe: Probe
    judge: Judge | None = None
    # Shown after the generic message when the student's code raised, e.g. a likely cause.
    error_hint: str = ""

    # A regular expression the error's type and text ("RuntimeError: ...") must match for
    # `error_hint` to be shown: a hint is a diagnosis, given only when the error confirms it.
    # Empty: the hint fits any error of this check.
    error_hint_when: str = ""
    # What the functions under test must not use (e.g. F.conv2d in a hand-written corr2d): found
    # in the notebook's source by grader/forbid.py; a use costs this check's points.
    forbid: tuple[Forbid, ...] = ()
    # Instead of `judge`, for a probe with reference=False: gets the facts of `Assignment.prepare`.
    facts_judge: FactsJudge | None = None

    def __post_init__(self) -> None:
        if (self.judge is None) == (self.facts_judge is None):
            raise ValueError(f"check {self.name!r}: give exactly one of judge= and facts_judge=")
        if self.facts_judge is not None and self.probe.reference:
            raise ValueError(
                f"check {self.name!r}: facts_judge= is for probes with reference=False; probe"
                f" {self.probe.name!r} has a reference outcome, so judge it with judge=(student, expected)"
            )

    @property
    def hidden(self) -> bool:
        return self.probe.hidden

    def decide(self, student: ProbeOutcome, expected: ProbeOutcome) -> Verdict:
        """Run the judge with the check's visibility in effect: redaction is not the judge's job.

        For a reference-free probe, `expected` carries the facts of `Assignment.prepare`."""
        with judging(self.hidden):
            if self.facts_judge is not None:
                return self.facts_judge(student, dict(expected.values)) or PASS
            assert self.judge is not None  # __post_init__
            return self.judge(student, expected) or PASS

    def hint_for_error(self, error_type: str, message: str) -> str:
        """`error_hint` when the error confirms its diagnosis, else ""."""
        if not self.error_hint:
            return ""
        if self.error_hint_when and not re.search(self.error_hint_when, f"{error_type}: {message}"):
            return ""
        return self.error_hint


@dataclass(frozen=True)
class GradingContext:
    """What the pipeline tells an assignment's `prepare` hook about one grading run."""

    device: str  # "cpu" or "cuda"
    scratch: Path  # the student's kernel can read it (and write it: never read back what is there)
    data_root: Path | None  # real data sets (--data-root, else $GRADER_DATA_ROOT), if the user has them
    seed: int  # the submission's seed


@dataclass(frozen=True)
class Prepared:
    """What `Assignment.prepare` made for one run."""

    inputs: dict[str, Any] = field(default_factory=dict)  # added to every probe's inputs (sent to the kernel)
    # probe name -> inputs for that probe only, written just before it runs: data the student's
    # other code (its cells, its other functions) must never see, e.g. a training set
    probe_inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)  # for judges of reference-free probes only
    timeouts: dict[str, float] = field(default_factory=dict)  # probe name -> time limit for this run


@dataclass(frozen=True)
class Assignment:
    name: str
    title: str
    checks: tuple[Check, ...]
    graded_names: tuple[str, ...]  # the functions/classes students write, in notebook order
    cell_timeout_s: float = 60.0
    notebook_budget_s: float = 600.0
    needs_device: bool = False
    # Called once per grading before the kernel starts, e.g. to put a data set where the kernel
    # can read it and keep a held-out split in the grader. Not called by `grade-author build`.
    prepare: Callable[[GradingContext], Prepared] | None = None

    @property
    def probes(self) -> list[Probe]:
        seen: dict[str, Probe] = {}
        for check in self.checks:
            known = seen.setdefault(check.probe.name, check.probe)
            if known is not check.probe:
                raise ValueError(f"{self.name}: two different probes are named {check.probe.name!r}")
        return list(seen.values())

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)
