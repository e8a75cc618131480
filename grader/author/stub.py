"""Make the student stub from the master notebook.

In `solutions/<name>.ipynb`, code between a `#| begin solution` line and an `#| end solution`
line is the answer; in the stub it becomes `raise NotImplementedError` at the same indentation.
A cell containing `#| solution-only` is left out of the stub. Outputs are cleared and the
assignment name is written into the metadata, where the grader looks for it first.
"""

from __future__ import annotations

import copy
import re

import nbformat
from nbformat import NotebookNode

BEGIN = re.compile(r"^(?P<indent>\s*)#\|\s*begin solution\s*$")
END = re.compile(r"^\s*#\|\s*end solution\s*$")
SOLUTION_ONLY = re.compile(r"^\s*#\|\s*solution-only\s*$", re.MULTILINE)
PLACEHOLDER = 'raise NotImplementedError("your code here")'


class MarkerError(ValueError):
    pass


def strip_solutions(source: str, where: str) -> str:
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if inside:
                raise MarkerError(f"{where}: nested '#| begin solution'")
            inside = True
            out.append(f"{begin.group('indent')}{PLACEHOLDER}")
        elif end:
            if not inside:
                raise MarkerError(f"{where}: '#| end solution' without a begin")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: '#| begin solution' is never closed")
    return "\n".join(out)


def clean_solution_markers(source: str) -> str:
    """The solution as it runs: markers removed (they are comments, so this is cosmetic)."""
    return "\n".join(line for line in source.splitlines() if not (BEGIN.match(line) or END.match(line)))


def make_stub(solution: NotebookNode, assignment: str) -> NotebookNode:
    stub = copy.deepcopy(solution)
    cells = []
    for index, cell in enumerate(stub.cells):
        if SOLUTION_ONLY.search(cell.source):
            continue
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, f"cell {index}")
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
    stub.cells = cells
    stub.metadata.setdefault("grader", {})["assignment"] = assignment
    stub.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return stub


def render(nb: NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"
