"""Build submissions for tests: the solution notebook with some graded cells rewritten."""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat

from grader.grade import GradeOptions, grade_notebook
from grader.notebook import cell_marks
from grader.report import GradeReport

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


def grade(nb_or_path: nbformat.NotebookNode | Path, tmp_path: Path, name: str = "submission.ipynb", **options) -> GradeReport:
    path = nb_or_path if isinstance(nb_or_path, Path) else write(nb_or_path, tmp_path / name)
    return grade_notebook(path, GradeOptions(**options))


def lost(report: GradeReport) -> set[str]:
    """Names of checks that did not earn full points."""
    return {t.name for t in report.tests if t.score < t.max_score}


def by_name(report: GradeReport) -> dict:
    return {t.name: t for t in report.tests}
