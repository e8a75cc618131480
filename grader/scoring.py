"""Turn probe outcomes into points. Runs in the grader's process only; nothing here is student code."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from grader.checks import Check, Fail
from grader.diagnose import cell_name, place_of, renamed_definition, structural_hint
from grader.forbid import find_forbidden
from grader.probe import ProbeOutcome
from grader.report import CellRecord, CheckResult, CheckStatus

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What the scorer knows besides outcomes, to explain a missing or broken function."""

    cell_of: dict[str, int]
    cells: dict[int, CellRecord]
    reference_available: bool
    sources: dict[int, str] = field(default_factory=dict)  # code cell index -> its source (for Check.forbid)


def _missing_message(names: list[str], ctx: Context) -> str:
    parts = []
    for name in names:
        index = ctx.cell_of.get(name)
        record = ctx.cells.get(index) if index is not None else None
        renamed = renamed_definition(name, index, ctx.sources, ctx.cells) if index is not None else None
        if index is None:
            parts.append(f"no cell defines {name} (keep the `#| grade: {name}` cell and its def)")
        elif record is not None and record.status != "ok":
            parts.append(f"{name} is not defined: {cell_name(index, record.marks)} ended with {record.status}"
                         + (f": {record.error}" if record.error else ""))
        elif renamed is not None:
            parts.append(renamed)
        else:
            parts.append(f"{name} is not defined after running the notebook")
    return "; ".join(parts)


def _defining_cell_status(name: str, ctx: Context) -> str | None:
    index = ctx.cell_of.get(name)
    record = ctx.cells.get(index) if index is not None else None
    return record.status if record is not None else None


def _timeout_message(check: Check, outcome: ProbeOutcome, ctx: Context) -> str:
    for name in check.probe.uses:
        index = ctx.cell_of.get(name)
        record = ctx.cells.get(index) if index is not None else None
        if record is not None and record.status == "timeout":
            return f"{cell_name(record.index, record.marks)}, which defines {name}, timed out, and so did this check: {outcome.detail}"
    return outcome.detail


def score_check(check: Check, outcome: ProbeOutcome, expected: ProbeOutcome | None, ctx: Context) -> CheckResult:
    def result(status: CheckStatus, fraction: float, message: str) -> CheckResult:
        fraction = min(1.0, max(0.0, fraction))
        return CheckResult(
            name=check.name, score=round(check.points * fraction, 4), max_score=check.points,
            status=status, message=message, hidden=check.hidden, functions=list(check.probe.uses),
            duration_s=round(outcome.duration_s, 3),
        )

    if check.hidden and not ctx.reference_available:
        return result("skipped", 0.0, "hidden check: runs when your instructor grades (needs solutions/)")
    if outcome.status == "missing":
        missing = outcome.missing or list(check.probe.uses)
        timed_out = [n for n in missing if _defining_cell_status(n, ctx) == "timeout"]
        status: CheckStatus = "timeout" if timed_out else "error"
        return result(status, 0.0, _missing_message(missing, ctx))
    if outcome.status == "timeout":
        return result("timeout", 0.0, _timeout_message(check, outcome, ctx))
    if outcome.status == "dead":
        return result("error", 0.0, outcome.detail)
    if outcome.status == "invalid":
        return result("error", 0.0, f"no usable result from {', '.join(check.probe.uses)}: {outcome.detail}")
    if check.forbid and outcome.status in ("ok", "error"):
        use = find_forbidden(check.forbid, check.probe.uses, ctx.sources, ctx.cell_of)
        if use is not None:
            return result("failed", 0.0, use.message(ctx.cell_of))
    if outcome.status == "error":
        assert outcome.error is not None
        what = ", ".join(check.probe.uses)
        error_hint = check.hint_for_error(outcome.error.type, outcome.error.message)
        hint = f" Hint: {error_hint}" if error_hint else ""
        if outcome.error.type == "NotImplementedError":
            return result("error", 0.0, f"{what} is not implemented yet (raises NotImplementedError)")
        structural = structural_hint(outcome.error.type, outcome.error.message, list(check.probe.uses))
        if structural is not None:
            hint = f" {structural}.{hint}"
        prefer = [ctx.cell_of[n] for n in check.probe.uses if n in ctx.cell_of]
        place = place_of(outcome.error.where[-1], ctx.sources, ctx.cells, prefer) if outcome.error.where else ""
        where = f" ({place})" if place else ""
        if check.hidden:
            # The exception's text often quotes sizes or values of the hidden input: keep only
            # its type and the student's own line, which is enough to find the bug.
            return result("error", 0.0, f"{what} raised {outcome.error.type} on a hidden input{where}.{hint}")
        text = f"{outcome.error.type}: {outcome.error.message}" if outcome.error.message else outcome.error.type
        return result("error", 0.0, f"{what} raised {text}{where}.{hint}")
    if expected is None or expected.status != "ok":
        why = expected.detail or expected.status if expected else "missing"
        return result("error", 0.0, f"the expected outcome is unavailable ({why}); tell your instructor")
    try:
        verdict = check.decide(outcome, expected)
    except Fail as fail:
        return result("failed", fail.fraction, fail.message)
    except Exception:  # a judge bug must not cost the student the whole report
        log.exception("judge of %s crashed", check.name)
        return result("error", 0.0, "the grader could not judge this check (a grader bug; tell your instructor)")
    status = "passed" if verdict.fraction >= 1.0 else "failed"
    return result(status, verdict.fraction, verdict.message)
