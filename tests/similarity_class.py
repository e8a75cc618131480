"""Write a class folder from the corpus: independent students, textbook answers, 3 disguised copies."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import nbformat
from similarity_corpus import HW3, HW5, RENAMES, disguise

from grader.notebook import cell_marks

ROOT = Path(__file__).resolve().parent.parent
CORPUS = {"hw3": HW3, "hw5": HW5}
COPIED = (0, 2, 4)  # which independent students get copied, one copier each (per assignment)


def _notebook(name: str, bodies: dict[str, str], reorder: bool = False) -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "assignments" / name / f"{name}.ipynb", as_version=4)
    graded = []
    for index, cell in enumerate(nb.cells):
        marks = [m for m in cell_marks(cell) if m in bodies] if cell.cell_type == "code" else []
        if marks:
            body = textwrap.dedent(bodies[marks[0]]).strip()
            imports = "import math\n" if "math." in body else ""
            cell.source = f"#| grade: {marks[0]}\n{imports}{body}\n"
            graded.append(index)
    if reorder:  # the copier moves the graded cells around
        cells = [nb.cells[i] for i in graded]
        for index, cell in zip(graded, reversed(cells)):
            nb.cells[index] = cell
    return nb


def _solution_renamed(name: str) -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and any(m != "setup" for m in cell_marks(cell)):
            for old, new in (("X_exp", "E"), ("X_max", "M"), ("correct", "n_ok"), ("total", "n_all"),
                             ("span", "reach"), ("window", "patch"), ("Y", "out")):
                cell.source = re.sub(rf"\b{old}\b", new, cell.source)
    return nb


def _textbook(name: str, renames: dict[str, str]) -> nbformat.NotebookNode:
    """A learner who typed in the book's code (assignments/<name>/known/), in their own names."""
    known = (ROOT / "assignments" / name / "known" / "d2l.py").read_text(encoding="utf-8")
    tree = ast.parse(known)
    defs = {n.name: ast.get_source_segment(known, n) or "" for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    nb = nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        marks = [m for m in cell_marks(cell) if m in defs] if cell.cell_type == "code" else []
        if marks:
            body = defs[marks[0]]
            if "Accumulator(" in body:
                body = defs["Accumulator"] + "\n\n\n" + body
            for old, new in renames.items():
                body = re.sub(rf"\b{old}\b", new, body)
            cell.source = f"#| grade: {marks[0]}\n{body}\n"
    return nb


def write_class(folder: Path) -> dict[str, list[tuple[str, str]]]:
    """Returns, per assignment, the copied pairs (submission names relative to `folder`)."""
    copied: dict[str, list[tuple[str, str]]] = {}
    for name, corpus in CORPUS.items():
        count = min(len(v) for v in corpus.values())
        for i in range(count):
            nb = _notebook(name, {f: impls[i] for f, impls in corpus.items()})
            nbformat.write(nb, folder / f"student{i:02d}_{name}.ipynb")
        for n, i in enumerate(COPIED):
            bodies = {f: disguise(impls[i], RENAMES[name][n]) for f, impls in corpus.items()}
            nbformat.write(_notebook(name, bodies, reorder=True), folder / f"copier{n}_{name}.ipynb")
            copied.setdefault(name, []).append((f"copier{n}_{name}.ipynb", f"student{i:02d}_{name}.ipynb"))
        nbformat.write(nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4), folder / f"book_{name}.ipynb")
        nbformat.write(_solution_renamed(name), folder / f"book2_{name}.ipynb")
        nbformat.write(_textbook(name, {}), folder / f"d2l1_{name}.ipynb")
        nbformat.write(_textbook(name, {"X_exp": "ex", "metric": "acc", "Y": "out", "cmp": "hit"}), folder / f"d2l2_{name}.ipynb")
    return copied
