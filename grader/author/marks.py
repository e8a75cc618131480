"""Explain a solution that fails because a cell lacks its `#| grade:` mark.

The grader computes expected outcomes by running only the solution's marked cells (the graded
functions and `#| grade: setup` cells), so that notes, plots and training runs of the notebook
are not re-run on every grading. A helper, constant or import in an unmarked cell is therefore
missing there, and the symptom is a NameError far from its cause. This finds the cell that
defines the name and says which mark to add.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from grader.notebook import cell_marks, load_notebook

NAME_ERROR = re.compile(r"name '(?P<name>\w+)' is not defined")


def _bound_names(source: str) -> set[str]:
    """Top-level names a cell binds: defs, classes, assignments and imports."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def unmarked_cell_defining(solution: Path, name: str) -> int | None:
    """Index of the unmarked code cell of the solution that defines `name`, if any."""
    for index, cell in load_notebook(solution).code_cells:
        if not cell_marks(cell) and name in _bound_names(cell.source):
            return index
    return None


def mark_advice(solution: Path, names: list[str], graded: tuple[str, ...]) -> str:
    """A sentence saying which cell to mark for the first name defined in an unmarked cell, or ''."""
    for name in names:
        index = unmarked_cell_defining(solution, name)
        if index is None:
            continue
        mark = name if name in graded else "setup"
        return (f"`{name}` is defined in cell {index} of {solution.name}, which has no mark, and the grader runs only"
                f" marked cells of the solution: add `#| grade: {mark}` as that cell's first line")
    return ""


def name_error_advice(solution: Path, message: str, graded: tuple[str, ...]) -> str:
    match = NAME_ERROR.search(message)
    return mark_advice(solution, [match.group("name")], graded) if match else ""
