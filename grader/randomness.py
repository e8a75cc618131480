"""Judging functions whose output is random (dropout, sampling, random crops) by their statistics.

A random function cannot be compared with the reference solution value by value: the student's
random draws differ from the solution's even with the same seed (one extra call to `torch.rand`
shifts everything). What can be checked are properties that hold for every correct answer, such
as "a fraction p of the outputs is zero" or "the output equals the input on average". The probe
calls the function many times and returns the draws; these helpers decide, with a bound that a
correct answer exceeds with probability `false_alarm` (one in a billion by default), so a correct
solution is not failed by bad luck, while a real mistake (forgetting the 1/(1-p) scaling, keeping
instead of dropping) is far outside the bound.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from grader.checks import Fail, judging_hidden

FALSE_ALARM = 1e-9


def _z(false_alarm: float) -> float:
    return NormalDist().inv_cdf(1 - false_alarm / 2)


def fraction_interval(count: int, total: int, false_alarm: float = FALSE_ALARM) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion: where p lies, given `count` successes in `total`."""
    if total <= 0:
        raise ValueError("fraction_interval needs at least one trial")
    z = _z(false_alarm)
    share = count / total
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def assert_fraction(
    count: int, total: int, p: float, what: str, hint: str = "", false_alarm: float = FALSE_ALARM,
) -> None:
    """Fail unless `count` out of `total` independent trials is consistent with probability `p`.

    E.g. `assert_fraction(int((out == 0).sum()), out.size, p, "the share of zeroed outputs")`.
    For a hidden check, the message quotes no number (p may be a hidden input).
    """
    low, high = fraction_interval(count, total, false_alarm)
    if not low <= p <= high:
        suffix = f": {hint}" if hint else ""
        if judging_hidden():
            raise Fail(f"{what} is {'too high' if count / total > p else 'too low'} on a hidden input{suffix}")
        raise Fail(f"{what} is {count / total:.3f}, expected about {p:g}{suffix}")


def assert_unbiased(
    draws: np.ndarray, target: np.ndarray, what: str, hint: str = "", false_alarm: float = FALSE_ALARM,
    atol: float = 1e-6,
) -> None:
    """Fail unless independent `draws` (shape (k, ...)) of a random output average out to `target` (shape (...)).

    Each draw's mean error against `target` is one sample; their mean must be within a normal
    bound of zero (`false_alarm` of failing a correct answer). E.g. dropout in training mode,
    called k times on the same X, must give X on average (inverted dropout scales by 1/(1-p)).
    """
    draws = np.asarray(draws, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    suffix = f": {hint}" if hint else ""
    if draws.ndim < 1 or draws.shape[0] < 2 or draws.shape[1:] != target.shape:
        raise Fail(f"{what} has the wrong shape{suffix}")
    if not np.isfinite(draws).all():
        raise Fail(f"{what} contains NaN or infinity{suffix}")
    errors = (draws - target).reshape(draws.shape[0], -1).mean(axis=1)
    k = errors.size
    bound = _z(false_alarm) * float(errors.std(ddof=1)) / math.sqrt(k) + atol * max(1.0, float(np.abs(target).mean()))
    got, want = float(draws.mean()), float(target.mean())
    if abs(float(errors.mean())) > bound:
        if judging_hidden():
            raise Fail(f"{what} does not average out to the expected values on a hidden input{suffix}")
        ratio = f" ({got / want:.3f} times the expected average)" if abs(want) > 1e-12 else ""
        raise Fail(f"{what} averages {got:.4g} over {k} calls, expected {want:.4g}{ratio}{suffix}")
