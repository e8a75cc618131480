"""Build submissions for tests: the solution notebook with some graded cells rewritten."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import textwrap
from pathlib import Path

import nbformat

from grader.grade import GradeOptions, grade_notebook, zygote_environment
from grader.notebook import cell_marks
from grader.report import GradeReport
from grader.zygote.client import Zygote

ROOT = Path(__file__).resolve().parent.parent


def solution(name: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4)


def stub(name: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "assignments" / name / f"{name}.ipynb", as_version=4)


def with_cells(nb: nbformat.NotebookNode, replace: dict[str, str] | None = None,
               append: list[str] | None = None, prepend: list[str] | None = None) -> nbformat.NotebookNode:
    """Replace the source of the cell marked `name` (mark line kept), append/prepend code cells."""
    nb = nbformat.from_dict(nb)
    for name, source in (replace or {}).items():
        cells = [c for c in nb.cells if c.cell_type == "code" and name in cell_marks(c)]
        assert cells, f"no cell is marked {name}"
        cells[0].source = f"#| grade: {name}\n" + textwrap.dedent(source).strip() + "\n"
    for source in reversed(prepend or []):
        nb.cells.insert(0, nbformat.v4.new_code_cell(textwrap.dedent(source).strip()))
    for source in append or []:
        nb.cells.append(nbformat.v4.new_code_cell(textwrap.dedent(source).strip()))
    return nb


def write(nb: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


_ZYGOTES: list[Zygote] = []  # one fork server per test process, started on first use


def shared_zygote() -> Zygote:
    """Kernels forked from a pre-imported server, as in bulk grading: ~1 s a notebook instead of ~4 s."""
    if not _ZYGOTES:
        workdir = Path(tempfile.mkdtemp(prefix="grader-test-zygote-"))
        zygote = Zygote(workdir, zygote_environment(jobs=2))
        zygote.start()
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)  # runs after stop (last in, first out)
        atexit.register(zygote.stop)
        _ZYGOTES.append(zygote)
    return _ZYGOTES[0]


def grade(nb_or_path: nbformat.NotebookNode | Path, tmp_path: Path, name: str = "submission.ipynb",
          fork: bool = True, **options) -> GradeReport:
    """Grade in-process; `fork=False` exec's the kernel (`--exec-kernels`, the path where fork
    servers are not supported). A single `grade` command forks from a fork server of its own,
    as the shared one here does (its start and stop are tested through the CLI)."""
    path = nb_or_path if isinstance(nb_or_path, Path) else write(nb_or_path, tmp_path / name)
    zygote = options.pop("zygote", None)
    if fork and zygote is None:
        zygote = shared_zygote()
    return grade_notebook(path, GradeOptions(**options, exec_kernels=not fork), zygote)


def lost(report: GradeReport) -> set[str]:
    """Names of checks that did not earn full points."""
    return {t.name for t in report.tests if t.score < t.max_score}


def by_name(report: GradeReport) -> dict:
    return {t.name: t for t in report.tests}


def assert_full_marks(report: GradeReport, max_score: float) -> None:
    """The solution: graded, every point, every cell ran cleanly."""
    assert report.status == "graded"
    assert report.score == report.max_score == max_score, [(t.name, t.message) for t in report.tests if t.status != "passed"]
    assert all(c.status == "ok" for c in report.cells), [c for c in report.cells if c.status != "ok"]


def assert_stub_scores_zero(report: GradeReport) -> None:
    """The stub: graded (not an error report), zero, and every check says why."""
    assert report.status == "graded" and report.score == 0 and report.errors == []
    assert all("not implemented yet" in t.message for t in report.tests), [t.message for t in report.tests]


def assert_loses_exactly(report: GradeReport, must_lose: set[str], phrase: str) -> None:
    """A typical mistake: exactly these checks lose points, and the student reads `phrase` about it."""
    assert report.status == "graded"
    assert lost(report) == must_lose, [(t.name, t.message) for t in report.tests if t.score < t.max_score]
    messages = " ".join(by_name(report)[name].message for name in must_lose)
    assert phrase in messages, messages
