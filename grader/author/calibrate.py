"""`grade-author calibrate`: how the solution fares on one probe's checks over many seeds.

A threshold on something trained (held-out accuracy, a final loss) must leave room for the
run-to-run spread of a correct solution: a student whose code is right but whose random draws
came in another order must not fail. This runs the probe on the solution with several seeds
(new data from `prepare`, new torch seeds, as different submissions get) and prints every
check's verdict, so the author sees the spread and sets the threshold below its worst case.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from grader.author.build import AuthorError, load_assignment, probe_failures, run_on_solution
from grader.checks import Fail, GradingContext, Prepared
from grader.course import Course
from grader.probe import ProbeOutcome


@dataclass
class Trial:
    seed: int
    results: dict[str, tuple[float, str]]  # check name -> (fraction of its points, message)


def calibrate(course: Course, name: str, probe_name: str, seeds: int) -> list[Trial]:
    assignment = load_assignment(course, name)
    probes = {p.name: p for p in assignment.probes}
    if probe_name not in probes:
        raise AuthorError(f"{name} has no probe {probe_name!r} (its probes: {', '.join(probes)})")
    # As hidden, the probe's torch seed changes with each seed, as it does between students' runs.
    probe = replace(probes[probe_name], hidden=True)
    checks = [c for c in assignment.checks if c.probe.name == probe_name]
    trials: list[Trial] = []
    with tempfile.TemporaryDirectory(prefix="grader-calibrate-") as scratch:
        for seed in range(seeds):
            prepared = Prepared()
            if assignment.prepare is not None:
                prepared = assignment.prepare(GradingContext("cpu", Path(scratch), None, seed))
            inputs = {probe.name: probe.make_inputs(seed) | prepared.inputs}
            outcome = run_on_solution(course, assignment, [probe], inputs, seed)[probe.name]
            if outcome.status != "ok":
                raise AuthorError("; ".join(probe_failures(course, assignment, [(probe, outcome)], f" (seed {seed})")))
            expected = outcome if probe.reference else ProbeOutcome("ok", dict(prepared.facts))
            results: dict[str, tuple[float, str]] = {}
            for check in checks:
                try:
                    verdict = check.decide(outcome, expected)
                    results[check.name] = (verdict.fraction, verdict.message)
                except Fail as fail:
                    results[check.name] = (fail.fraction, fail.message)
            trials.append(Trial(seed, results))
    return trials


def render(trials: list[Trial]) -> str:
    lines = []
    for trial in trials:
        for check, (fraction, message) in trial.results.items():
            lines.append(f"seed {trial.seed:3d}  {fraction:4.0%}  {check}: {message}")
    names = sorted({c for t in trials for c in t.results})
    for check in names:
        passed = sum(1 for t in trials if t.results[check][0] >= 1.0)
        lines.append(f"{check}: full points on {passed} of {len(trials)} seeds")
    return "\n".join(lines)
