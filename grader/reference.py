"""Expected outcomes from the reference solution, computed in the grader's own (trusted) process.

The solution notebook is the instructor's code: its marked cells (graded names and `setup`)
are executed in a fresh namespace here, never in the student's kernel, so a student cannot read
or patch the reference. torch is imported only on this path, so a student grading offline
without `solutions/` never pays for it in the grader process.
"""

from __future__ import annotations

import linecache
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from grader import probe_runtime
from grader.checks import Probe
from grader.notebook import cell_marks, load_notebook
from grader.probe import ProbeOutcome, ProbeResultError, probe_source, read_result, write_inputs


def reference_namespace(solution: Path) -> dict[str, Any]:
    loaded = load_notebook(solution)
    namespace: dict[str, Any] = {"__name__": "__reference__"}
    for index, cell in loaded.code_cells:
        if cell_marks(cell):
            filename = f"<solution {solution.name} cell {index}>"
            # Registered so a traceback through the solution shows its code ("line 2: assert ..."),
            # which is how `grade-author build` tells the author where the solution failed.
            linecache.cache[filename] = (len(cell.source), None, cell.source.splitlines(True), filename)
            code = compile(cell.source, filename, "exec")
            exec(code, namespace)  # trusted: the instructor's solution
    return namespace


def run_reference(
    solution: Path, probes: list[Probe], inputs: dict[str, dict[str, Any]], seed: int, out_dir: Path | None = None
) -> dict[str, ProbeOutcome]:
    """Run each probe against the solution; result files go to out_dir (kept) or a temp dir."""
    namespace = reference_namespace(solution)
    outcomes: dict[str, ProbeOutcome] = {}
    with tempfile.TemporaryDirectory(prefix="grader-ref-") as tmp:
        for probe in probes:
            in_path = Path(tmp) / f"{probe.name}.in"
            out_path = (out_dir or Path(tmp)) / f"{probe.name}.safetensors"
            write_inputs(in_path, inputs[probe.name])
            probe_runtime.run_probe(
                namespace, probe_source(probe.fn, probe.helpers), probe.fn.__name__,
                list(probe.uses), str(in_path), str(out_path), probe.seed(seed),
            )
            try:
                outcomes[probe.name] = read_result(out_path)
            except ProbeResultError as exc:
                outcomes[probe.name] = ProbeOutcome("invalid", {}, detail=str(exc))
    return outcomes


def start_reference(
    pool: ThreadPoolExecutor, solution: Path, probes: list[Probe], inputs: dict[str, dict[str, Any]], seed: int
) -> Future[dict[str, ProbeOutcome]]:
    """Run the reference in a thread while the student's kernel starts and runs (2 cores: free)."""
    return pool.submit(run_reference, solution, probes, inputs, seed)
