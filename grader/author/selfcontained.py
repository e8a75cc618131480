"""Build-time check that every probe is self-contained source.

A probe is sent to the student's kernel as the text of its function (plus its `helpers=`), and
runs there with nothing else: not the imports at the top of checks.py, not its constants, not the
other functions beside it. A name it uses without defining it only fails when a student's
notebook is graded, and the student is blamed ("raised NameError on a hidden input"). Here the
probe's source is compiled alone and every name it reads from the enclosing module is listed; a
name that is neither a builtin nor defined by the shipped source itself is an author's mistake.
"""

from __future__ import annotations

import builtins
import inspect
import symtable

from grader.checks import Probe
from grader.probe import probe_source

BUILTINS = frozenset(dir(builtins))


def _module_reads(table: symtable.SymbolTable) -> set[str]:
    """Names some nested scope reads from the module (implicit globals), over the whole tree."""
    names: set[str] = set()
    for symbol in table.get_symbols():
        if table.get_type() != "module" and symbol.is_referenced() and symbol.is_global() and not symbol.is_declared_global():
            names.add(symbol.get_name())
    for child in table.get_children():
        names |= _module_reads(child)
    return names


def _location(probe: Probe) -> str:
    try:
        line = inspect.getsourcelines(probe.fn)[1]
        return f"{probe.fn.__name__} (line {line} of {inspect.getsourcefile(probe.fn) or 'checks.py'})"
    except (OSError, TypeError):
        return probe.fn.__name__


def undefined_names(probe: Probe) -> list[str]:
    """Names the probe's shipped source uses but neither defines nor imports (sorted)."""
    source = probe_source(probe.fn, probe.helpers)
    table = symtable.symtable(source, f"<probe {probe.name}>", "exec")
    defined = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    return sorted(_module_reads(table) - defined - BUILTINS)


def self_containment_problems(probes: list[Probe]) -> list[str]:
    problems: list[str] = []
    seen: set[tuple[int, ...]] = set()
    for probe in probes:
        key = (id(probe.fn), *map(id, probe.helpers))
        if key in seen:
            continue
        seen.add(key)
        sharing = [p.name for p in probes if (id(p.fn), *map(id, p.helpers)) == key]
        try:
            names = undefined_names(probe)
        except (OSError, TypeError, SyntaxError) as exc:
            problems.append(f"probe {', '.join(sharing)}: its source cannot be read ({type(exc).__name__}: {exc});"
                            " a probe must be a plain `def` in checks.py")
            continue
        if names:
            listed = ", ".join(f"`{n}`" for n in names)
            problems.append(
                f"probe {', '.join(sharing)}: {_location(probe)} uses {listed} without importing or defining it."
                " A probe runs in the student's kernel with only its own source: put imports inside the"
                " function, pass values as inputs, and ship helper functions with Probe(..., helpers=(...))"
            )
    return problems
