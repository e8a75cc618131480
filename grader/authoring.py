"""Everything an assignment's `checks.py` needs, in one import.

    from grader.authoring import Assignment, Check, Probe, Fail, PASS, same_tensor, ...

The names live in smaller modules (the checks vocabulary, the judge helpers, the probe channel's
value types, the statistics for random outputs); this module only gathers them, so an author does
not have to know the layout and the layout can change without breaking assignments.
docs/writing-an-assignment.md shows each of them in use.
"""

from __future__ import annotations

from grader.checks import (
    PASS,
    Assignment,
    Check,
    Facts,
    FactsJudge,
    Fail,
    GradingContext,
    Judge,
    Prepared,
    Probe,
    Verdict,
    judging,
    judging_hidden,
)
from grader.forbid import Forbid
from grader.judge import (
    TOLERANCES,
    as_number,
    assert_close,
    close_number,
    descends,
    describe,
    finite,
    matches,
    number,
    quote,
    same_tensor,
    same_value,
    shape_text,
    tensor,
    tolerance,
    value,
)
from grader.probe import ObjectValue, ProbeOutcome, TensorValue
from grader.randomness import assert_fraction, assert_unbiased, fraction_interval

__all__ = [
    "Assignment",
    "Check",
    "Facts",
    "FactsJudge",
    "Fail",
    "Forbid",
    "GradingContext",
    "Judge",
    "ObjectValue",
    "PASS",
    "Prepared",
    "Probe",
    "ProbeOutcome",
    "TOLERANCES",
    "TensorValue",
    "Verdict",
    "as_number",
    "assert_close",
    "assert_fraction",
    "assert_unbiased",
    "close_number",
    "descends",
    "describe",
    "finite",
    "fraction_interval",
    "judging",
    "judging_hidden",
    "matches",
    "number",
    "quote",
    "same_tensor",
    "same_value",
    "shape_text",
    "tensor",
    "tolerance",
    "value",
]
