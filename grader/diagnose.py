"""Say where a problem is, in the student's notebook, and recognise common structural mistakes.

Cells are named as a student finds them: by their mark and a 1-based position among all cells
("the `#| grade: corr2d` cell (cell 5), line 3"), never by ipykernel's temporary file names or
0-based indices. Every parse here is plain string work over the student's text (linear time).
"""

from __future__ import annotations

from grader.notebook import defined_names
from grader.report import CellRecord


def cell_name(index: int, marks: list[str] | None = None) -> str:
    """'the `#| grade: softmax` cell (cell 5)', or 'cell 5' for an unmarked one (index is 0-based)."""
    graded = [m for m in marks or [] if m != "setup"] or list(marks or [])
    return f"the `#| grade: {graded[0]}` cell (cell {index + 1})" if graded else f"cell {index + 1}"


def place_of(where: str, sources: dict[int, str], cells: dict[int, CellRecord], prefer: list[int]) -> str:
    """'line N: code' from a traceback, as '<cell name>, line N: code' when the cell can be told."""
    head, sep, code = where.partition(": ")
    if not sep or not head.startswith("line ") or not head[5:].isdigit():
        return where
    lineno, code = int(head[5:]), code.strip()
    found = []
    for index, source in sources.items():
        lines = source.splitlines()
        if 0 < lineno <= len(lines) and lines[lineno - 1].strip()[: len(code)] == code and code:
            found.append(index)
    preferred = [i for i in found if i in prefer]
    chosen = preferred if len(preferred) == 1 else found if len(found) == 1 else []
    if not chosen:
        return where
    record = cells.get(chosen[0])
    return f"{cell_name(chosen[0], record.marks if record else None)}, {where}"


def _quoted_after(text: str, marker: str) -> str | None:
    start = text.find(marker)
    if start < 0:
        return None
    rest = text[start + len(marker):]
    end = rest.find("'")
    return rest[:end] if 0 < end <= 100 else None


def structural_hint(error_type: str, message: str, names: list[str]) -> str | None:
    """A message for a structural mistake the exception reveals, or None."""
    what = ", ".join(names)
    if error_type == "TypeError":
        keyword = _quoted_after(message, "unexpected keyword argument '")
        if keyword is not None:
            return (f"{what} was called with keyword `{keyword}`, which it does not accept: keep the stub's"
                    " parameter names (renaming a parameter breaks callers that pass it by name)")
    module_init = ("before Module.__init__() call" in message
                   or any(f"object has no attribute '{a}'" in message for a in ("_modules", "_parameters", "_buffers")))
    if error_type in ("AttributeError", "RuntimeError") and module_init:
        return ("an nn.Module subclass's __init__ must call `super().__init__()` before it assigns layers or"
                " parameters")
    return None


def renamed_definition(name: str, index: int, sources: dict[int, str], cells: dict[int, CellRecord]) -> str | None:
    """'the cell marked `softmax` defines `my_softmax`' when the marked cell defines another name."""
    record = cells.get(index)
    if record is None or name not in record.marks or index not in sources:
        return None
    defined = defined_names(sources[index])
    if name in defined:
        return None
    others = sorted(n for n in defined if not n.startswith("_"))
    if not others:
        return None
    listed = ", ".join(f"`{n}`" for n in others[:3])
    return (f"the cell marked `{name}` ({cell_name(index, record.marks)}) defines {listed} but not `{name}`:"
            f" keep the name `{name}` from the stub")


def failed_cells(records: list[CellRecord]) -> list[str]:
    """One line for each cell outside the graded ones that raised or timed out."""
    lines = []
    for record in records:
        if record.status in ("error", "timeout") and not [m for m in record.marks if m != "setup"]:
            what = "timed out" if record.status == "timeout" else f"raised {record.error or 'an error'}"
            lines.append(f"{cell_name(record.index, record.marks)} {what}")
    return lines
