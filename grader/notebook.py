"""Load a submission, decide which assignment it is, and find its graded cells.

Graded cells carry a mark that travels with the cell, not with its position:
a line `#| grade: softmax` anywhere in the cell (Quarto-style cell option), or a cell tag
`grade:softmax`. A student may rewrite the body, move the cell or add cells around it; the mark
stays. If a student deletes the mark, the cell is still found by the `def`/`class` it holds.
The reserved name `setup` marks cells (imports, constants) the graded code needs.
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

MARK_TAG_PREFIX = "grade:"
SETUP = "setup"
# The names of one mark line; a single character class, so matching is linear in the line.
MARK_NAMES = re.compile(r"[\w ,]+")


class SubmissionError(Exception):
    """The submission cannot be graded at all; the message is written for the student."""

    def __init__(self, message: str, sha256: str | None = None) -> None:
        super().__init__(message)
        self.sha256 = sha256  # set once the bytes were read, so a re-run can tell nothing changed


@dataclass
class LoadedNotebook:
    path: Path
    sha256: str
    nb: NotebookNode
    warnings: list[str] = field(default_factory=list)

    @property
    def code_cells(self) -> list[tuple[int, NotebookNode]]:
        return [(i, c) for i, c in enumerate(self.nb.cells) if c.cell_type == "code"]


def load_notebook(path: Path) -> LoadedNotebook:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SubmissionError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SubmissionError(f"{path} is a directory, not a notebook") from None
    except OSError as exc:
        raise SubmissionError(f"{path} cannot be read: {exc.strerror}") from None
    sha = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SubmissionError(f"{path.name} is not a notebook: it is not UTF-8 text", sha) from None
    if not text.strip():
        raise SubmissionError(f"{path.name} is empty", sha)
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises JSONDecodeError, NotJSONError, KeyError, ...
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SubmissionError(f"{path.name} is not a valid Jupyter notebook ({first_line[:160]})", sha) from None
    loaded = LoadedNotebook(path=path, sha256=sha, nb=nb)
    loaded.warnings.extend(_normalize_cells(nb))
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        # Many editors write slightly off-spec notebooks; grade them, but say so.
        loaded.warnings.append(f"notebook does not fully follow the nbformat schema: {exc.message[:160]}")
    except (RecursionError, MemoryError):  # nested deeper than the validator can follow
        loaded.warnings.append("notebook is nested too deeply to check against the nbformat schema")
    if not nb.cells:
        raise SubmissionError(f"{path.name} has no cells", sha)
    if not loaded.code_cells:
        raise SubmissionError(f"{path.name} has no code cells", sha)
    return loaded


def _normalize_cells(nb: NotebookNode) -> list[str]:
    """Give every cell a text `source`, a `cell_type` and a dict `metadata`, so the rest of the
    grader can rely on them; say which cells had to be changed.

    The file is the student's: a hand-edited or tool-written notebook may hold a number, null or
    a list with non-text items as `source`, or no `cell_type`. Such a cell is kept (its number
    stays the same for feedback) but has no code.
    """
    odd: list[int] = []
    for number, cell in enumerate(nb.cells, start=1):
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if not isinstance(source, str):
            odd.append(number)
            source = ""
        cell["source"] = source
        if not isinstance(cell.get("cell_type"), str):
            odd.append(number)
            cell["cell_type"] = "raw"  # neither run nor graded
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = NotebookNode()
    if not odd:
        return []
    cells = ", ".join(str(n) for n in list(dict.fromkeys(odd))[:10])
    return [f"cell(s) {cells} have no text as their source or no cell type; they were treated as empty"]


def metadata_assignment(loaded: LoadedNotebook) -> object:
    """What the notebook's metadata says it is (anything: the student can edit it; see Course.identify)."""
    meta = loaded.nb.metadata.get("grader", {})
    return meta.get("assignment") if isinstance(meta, dict) else None


def mark_line_names(line: str) -> list[str] | None:
    """The names of a `#| grade: a, b` line, or None if the line is not a mark.

    Plain string operations, not one regex over the cell: the text is the student's, and a
    backtracking pattern over a crafted line kept the grader busy for minutes.
    """
    text = line.strip()
    if not text.startswith("#|"):
        return None
    text = text[2:].lstrip()
    if not text.startswith("grade:"):
        return None
    names = text[len("grade:"):].strip()
    if not names or not MARK_NAMES.fullmatch(names):
        return None
    return [n.strip() for n in names.split(",") if n.strip()]


def cell_marks(cell: NotebookNode) -> list[str]:
    names: list[str] = []
    tags = cell.get("metadata", {}).get("tags", [])
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, str) and tag.startswith(MARK_TAG_PREFIX):
            names.append(tag[len(MARK_TAG_PREFIX):].strip())
    source = cell.source if isinstance(cell.source, str) else ""
    for line in source.splitlines():
        names.extend(mark_line_names(line) or [])
    return list(dict.fromkeys(names))


def parse_cell(source: str) -> ast.Module | None:
    """The cell's syntax tree, or None when it does not parse (magics, syntax errors, or code
    nested deeper than the parser's recursion limit or memory allows: the source is hostile)."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def defined_names(source: str) -> set[str]:
    """Top-level names a cell defines; empty when the cell does not parse."""
    tree = parse_cell(source)
    if tree is None:
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def locate_graded_cells(loaded: LoadedNotebook, wanted: list[str]) -> dict[str, int]:
    """Map each wanted name to the index of the cell that defines it (last definition wins)."""
    where: dict[str, int] = {}
    for index, cell in loaded.code_cells:
        for name in cell_marks(cell):
            if name in wanted:
                where[name] = index
    for name in wanted:
        if name in where:
            continue
        for index, cell in loaded.code_cells:
            if name in defined_names(cell.source):
                where[name] = index
    return where
