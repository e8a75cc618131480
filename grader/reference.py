"""Expected outcomes from the reference solution, computed on the grader's (trusted) side.

The solution notebook is the instructor's code: its marked cells (graded names and `setup`)
are executed in a fresh namespace here, never in the student's kernel, so a student cannot read
or patch the reference. torch is never imported in the grader process for this.

Where: in a process forked from the zygote (the fork server that has imported torch for the
kernels), so that the reference shares its pages with the kernel instead of holding a second
torch of its own (one hw3 grading's process tree: 906 -> see docs/platforms.md); without a
zygote (the exec'd-kernel fallback), in a short-lived `python -m grader.reference` process.
`grade-author` runs it in its own process (`run_reference`), where nothing else needs memory.
"""

from __future__ import annotations

import json
import linecache
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader import probe_runtime
from grader.checks import Probe
from grader.notebook import cell_marks, load_notebook
from grader.probe import ProbeOutcome, ProbeResultError, probe_source, read_result, write_inputs

if TYPE_CHECKING:
    from grader.zygote.client import Zygote

SETUP_ADVICE = ("only marked cells of the solution run when grading: if the solution defines or imports this name in"
                " a cell without a mark, mark that cell `#| grade: setup`")


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


def explain(outcome: ProbeOutcome) -> ProbeOutcome:
    """An error of the reference is the course's problem: say what to fix, for the instructor."""
    if outcome.status != "error" or outcome.error is None:
        return outcome
    error = outcome.error
    text = f"{error.type}: {error.message}" if error.message else error.type
    if error.type == "NameError" and not error.where:  # raised by the probe's own code
        outcome.detail = f"the check's probe raised {text}: the probe must import what it uses"
    elif error.type == "NameError":
        outcome.detail = f"the reference solution raised {text}; {SETUP_ADVICE}"
    else:
        outcome.detail = f"the reference solution raised {text}"
    return outcome


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
                outcomes[probe.name] = explain(read_result(out_path))
            except ProbeResultError as exc:
                outcomes[probe.name] = ProbeOutcome("invalid", {}, detail=str(exc))
    return outcomes


def _read_outcomes(out_dir: Path, probes: list[Probe]) -> dict[str, ProbeOutcome]:
    outcomes: dict[str, ProbeOutcome] = {}
    for probe in probes:
        try:
            outcomes[probe.name] = explain(read_result(out_dir / f"{probe.name}.safetensors"))
        except ProbeResultError as exc:
            outcomes[probe.name] = ProbeOutcome("invalid", {}, detail=str(exc))
    return outcomes


class ReferenceFailed(RuntimeError):
    """The solution (the instructor's code) raised, or its process died: the last line says why."""


def _failure(code: int, stderr: str) -> ReferenceFailed:
    lines = stderr.strip().splitlines() or [f"exit status {code}"]
    return ReferenceFailed(lines[-1][:300])


def _run_forked(zygote: Zygote, folder: Path, timeout_s: float) -> None:
    log = folder / "reference.log"
    process = zygote.spawn_reference(str(folder), str(log))
    try:
        code = process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        raise ReferenceFailed(f"the reference solution did not finish within {timeout_s:g} s") from None
    if code != 0:
        raise _failure(code, log.read_text(encoding="utf-8", errors="replace") if log.exists() else "")


def _run_exec(folder: Path, timeout_s: float) -> None:
    done = subprocess.run([sys.executable, "-m", "grader.reference", str(folder)], cwd=folder,
                          capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise _failure(done.returncode, done.stderr)


def run_reference_apart(course_root: Path, assignment: str, solution: Path, probes: list[Probe],
                        inputs: dict[str, dict[str, Any]], seed: int, timeout_s: float,
                        zygote: Zygote | None = None) -> dict[str, ProbeOutcome]:
    """run_reference in a process of its own (forked from `zygote`, else exec'd), through the same
    files as the probe channel (safetensors, never pickle)."""
    with tempfile.TemporaryDirectory(prefix="grader-ref-") as tmp:
        folder = Path(tmp)
        for probe in probes:
            write_inputs(folder / f"{probe.name}.in", inputs[probe.name])
        request = {"course": str(course_root), "assignment": assignment, "solution": str(solution),
                   "probes": [p.name for p in probes], "seed": seed}
        (folder / "request.json").write_text(json.dumps(request), encoding="utf-8")
        if zygote is not None:
            _run_forked(zygote, folder, timeout_s)
        else:
            _run_exec(folder, timeout_s)
        return _read_outcomes(folder, probes)


def start_reference(
    pool: ThreadPoolExecutor, solution: Path, probes: list[Probe], inputs: dict[str, dict[str, Any]], seed: int,
    *, course_root: Path, assignment: str, timeout_s: float, zygote: Zygote | None,
) -> Future[dict[str, ProbeOutcome]]:
    """Run the reference while the student's kernel starts and runs (2 cores: free)."""
    return pool.submit(run_reference_apart, course_root, assignment, solution, probes, inputs, seed, timeout_s, zygote)


def _main(folder: Path) -> None:
    """`python -m grader.reference FOLDER`: FOLDER/request.json and <probe>.in -> <probe>.safetensors."""
    from grader.course import Course

    request = json.loads((folder / "request.json").read_text(encoding="utf-8"))
    wanted = set(request["probes"])
    assignment = Course(Path(request["course"])).load(request["assignment"])
    probes = [p for p in assignment.probes if p.name in wanted]
    namespace = reference_namespace(Path(request["solution"]))
    for probe in probes:
        probe_runtime.run_probe(
            namespace, probe_source(probe.fn, probe.helpers), probe.fn.__name__, list(probe.uses),
            str(folder / f"{probe.name}.in"), str(folder / f"{probe.name}.safetensors"), probe.seed(request["seed"]),
        )


if __name__ == "__main__":
    _main(Path(sys.argv[1]))
