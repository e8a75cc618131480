"""The authoring API: one import, judges without None, explicit facts, self-contained probes, random outputs."""

from __future__ import annotations

import re

import numpy as np
import pytest

import grader.authoring as authoring
from grader.author.selfcontained import self_containment_problems, undefined_names
from grader.checks import PASS, Check, Fail, Probe, Verdict, judging
from grader.probe import ProbeOutcome
from grader.randomness import assert_fraction, assert_unbiased, fraction_interval

SCALE = 2.0


def probe_without_import(ns, X):
    return {"out": torch.as_tensor(ns["f"](X)) * SCALE}  # noqa: F821 - the mistake under test


def helper_shipped(x):
    return x


def probe_self_contained(ns, X, **_):
    import torch

    class Wrapper(torch.nn.Module):
        def forward(self, inputs):
            return helper_shipped(inputs)

    rows = [len(r) for r in X if len(r) > 0]
    return {"out": Wrapper()(torch.as_tensor(X)), "rows": rows, "n": max(rows, default=0)}


def test_one_import_holds_what_checks_py_needs():
    for name in ("Assignment", "Check", "Probe", "Fail", "PASS", "Verdict", "ProbeOutcome", "same_tensor",
                 "same_value", "assert_close", "tensor", "number", "value", "Prepared", "GradingContext",
                 "Facts", "assert_fraction", "assert_unbiased", "Forbid", "judging"):
        assert hasattr(authoring, name), name
    assert set(authoring.__all__) <= set(dir(authoring))


def test_a_probe_using_a_name_it_neither_imports_nor_defines_is_reported():
    probe = Probe("bad_hidden", probe_without_import, ("f",), hidden=True)
    assert undefined_names(probe) == ["SCALE", "torch"]
    [problem] = self_containment_problems([probe])
    assert "bad_hidden" in problem and "`torch`" in problem and "import" in problem


def test_imports_inside_the_probe_nested_scopes_and_shipped_helpers_are_fine():
    shipped = Probe("ok", probe_self_contained, ("f",), helpers=(helper_shipped,))
    assert self_containment_problems([shipped]) == []
    unshipped = Probe("ok_but_helper_missing", probe_self_contained, ("f",))
    assert undefined_names(unshipped) == ["helper_shipped"]


def test_every_probe_of_the_course_is_self_contained():
    from grader.course import Course
    from tests.helpers import ROOT

    course = Course(ROOT)
    for name in course.names():
        assert self_containment_problems(course.load(name).probes) == [], name


def _probe(reference: bool = True) -> Probe:
    return Probe("p", probe_self_contained, ("f",), reference=reference)


def test_facts_reach_a_facts_judge_as_a_mapping_and_judges_never_get_none():
    seen = {}

    def facts_judge(student, facts):
        seen.update(facts)
        return Verdict(0.5, "half")

    check = Check("c", 2, _probe(reference=False), facts_judge=facts_judge)
    verdict = check.decide(ProbeOutcome("ok", {"out": 1}), ProbeOutcome("ok", {"threshold": 0.9}))
    assert verdict == Verdict(0.5, "half") and seen == {"threshold": 0.9}
    plain = Check("d", 1, _probe(), lambda student, expected: None)  # returning None means full points
    assert plain.decide(ProbeOutcome("ok", {}), ProbeOutcome("ok", {})) == PASS


def test_a_check_needs_exactly_one_judge_of_the_right_kind():
    with pytest.raises(ValueError, match="exactly one"):
        Check("none", 1, _probe())
    with pytest.raises(ValueError, match="reference=False"):
        Check("facts on a reference probe", 1, _probe(reference=True), facts_judge=lambda s, f: PASS)
    # the contract before facts were explicit keeps working while assignments migrate
    Check("old style", 1, _probe(reference=False), lambda student, expected: PASS)


def _dropout(rng: np.random.Generator, X: np.ndarray, p: float, calls: int, scale: bool = True, keep: bool = False):
    masks = rng.random((calls, *X.shape)) > p
    if keep:
        masks = ~masks
    return np.where(masks, X / (1 - p) if scale else X, 0.0)


def test_correct_dropout_passes_the_statistical_checks_on_many_seeds():
    X = np.random.default_rng(0).normal(size=(20, 30))
    for seed in range(300):
        p = [0.1, 0.3, 0.5, 0.8][seed % 4]
        draws = _dropout(np.random.default_rng(seed), X, p, calls=20)
        assert_fraction(int((draws == 0).sum()), draws.size, p, "the share of dropped elements")
        assert_unbiased(draws, X, "dropout's result")


def test_typical_dropout_mistakes_fail_the_statistical_checks():
    X = np.abs(np.random.default_rng(0).normal(size=(20, 30))) + 0.5
    rng = np.random.default_rng(1)
    swapped = _dropout(rng, X, 0.3, calls=20, keep=True)
    with pytest.raises(Fail, match=r"is 0\.7\d\d, expected about 0\.3"):
        assert_fraction(int((swapped == 0).sum()), swapped.size, 0.3, "the share of dropped elements")
    unscaled = _dropout(rng, X, 0.3, calls=20, scale=False)
    with pytest.raises(Fail, match="averages"):
        assert_unbiased(unscaled, X, "dropout's result")


def test_hidden_statistical_failures_quote_no_number():
    with judging(hidden=True), pytest.raises(Fail) as fraction:
        assert_fraction(700, 1000, 0.3, "the share")
    X = np.ones((5, 5))
    with judging(hidden=True), pytest.raises(Fail) as mean:
        assert_unbiased(np.stack([X * 0.5] * 10 + [X * 0.6] * 10), X, "the result")
    for fail in (fraction.value, mean.value):
        assert "hidden input" in fail.message and not re.search(r"\d", fail.message), fail.message


def test_fraction_interval_contains_the_truth_and_narrows_with_more_trials():
    low, high = fraction_interval(300, 1000)
    assert low < 0.3 < high
    narrow = fraction_interval(3000, 10000)
    assert narrow[1] - narrow[0] < high - low
