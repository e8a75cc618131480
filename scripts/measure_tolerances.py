"""Measure how far equivalent float32 formulas drift apart, to set the judges' tolerances.

For every probe of hw1-hw5 that has a reference outcome, run it (in this process) on many seeds
against the reference solution and against each valid alternative of tests/alternatives.py,
and report, per probe, the largest difference between matching float32 tensors: relative where
the reference value is at least 1e-3 in size, absolute where it is smaller (there a relative
error means nothing). grader/judge.py's float32 (rtol, atol) must stay about 10x above the
largest of each.

    .venv/bin/python scripts/measure_tolerances.py [--seeds 30]
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.course import Course  # noqa: E402
from grader.judge import TOLERANCES  # noqa: E402
from grader.reference import reference_namespace  # noqa: E402
from tests.alternatives import ALTERNATIVES  # noqa: E402

SETUP = "import math, random, itertools\nimport torch\nfrom torch import nn\nfrom torch.nn import functional as F\n"


def namespace(solution: Path, replace: dict[str, str]) -> dict:
    ns = reference_namespace(solution)
    for source in replace.values():
        exec(compile(SETUP + textwrap.dedent(source), "<alternative>", "exec"), ns)
    return ns


def tensors(value, prefix: str = "") -> dict[str, np.ndarray]:
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return {prefix: value.detach().to(torch.float32).numpy()}
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in tensors(item, f"{prefix}.{key}").items()}
    if isinstance(value, (list, tuple)):
        return {k: v for i, item in enumerate(value) for k, v in tensors(item, f"{prefix}[{i}]").items()}
    return {}


def call(probe, ns: dict, inputs: dict, seed: int):
    args = {k: torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v for k, v in inputs.items()}
    torch.manual_seed(seed)
    return probe.fn(ns, **args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    args = parser.parse_args()
    course = Course(ROOT)
    worst_rel = worst_abs = 0.0
    for hw, alternatives in ALTERNATIVES.items():
        assignment = course.load(hw)
        reference = reference_namespace(course.solution_path(hw))
        others = [namespace(course.solution_path(hw), alt) for alt in alternatives]
        for probe in assignment.probes:
            if not probe.reference or "speed" in probe.name or "synthetic" in probe.name or "data_iter" in probe.name:
                continue  # timing, or random by design: judged on statistics, not values
            rel = small = 0.0
            for seed in range(args.seeds):
                inputs = probe.make_inputs(seed)
                want = tensors(call(probe, reference, inputs, seed))
                for ns in others:
                    got = tensors(call(probe, ns, inputs, seed))
                    for key, e in want.items():
                        a = got.get(key)
                        if a is None or a.shape != e.shape or not e.size:
                            continue
                        diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
                        big = np.abs(e) >= 1e-3
                        if big.any():
                            rel = max(rel, float((diff[big] / np.abs(e[big])).max()))
                        if (~big).any():
                            small = max(small, float(diff[~big].max()))
            worst_rel, worst_abs = max(worst_rel, rel), max(worst_abs, small)
            print(f"{hw} {probe.name:28s} relative {rel:.2e}  absolute (|ref| < 1e-3) {small:.2e}")
    rtol, atol = TOLERANCES["float32"]
    print(f"largest: relative {worst_rel:.2e}, absolute {worst_abs:.2e}; grader/judge.py float32 rtol {rtol:g}"
          f" ({rtol / max(worst_rel, 1e-30):.0f}x), atol {atol:g} ({atol / max(worst_abs, 1e-30):.0f}x)")


if __name__ == "__main__":
    main()
