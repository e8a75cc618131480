"""Library functions an exercise forbids, found in the student's source by static analysis.

An assignment says, per check, what the student must not call (`Check(..., forbid=(rule,))`):
hw5's point is writing the loops of a convolution, so `F.conv2d` or `nn.MaxPool2d` in `corr2d`
costs the corr2d checks. The grader reads the notebook's source (never the kernel's word), in
its own process, with Python's `ast`:

- names are resolved through the notebook's imports and simple assignments, at module level and
  inside the function: `import torch.nn.functional as F; F.conv2d`, `from torch.nn.functional
  import conv2d as c`, `conv = F.conv2d`, `getattr(F, "conv2d")`, a star import;
- functions of the notebook that the graded function calls are followed (a helper doing the
  forbidden call counts), so is a lambda bound at module level;
- comments, strings, and the student's own names that happen to look alike (a variable or a
  function called `conv2d`) are not uses.

Known limits: a name built at run time (`getattr(F, "conv" + "2d")`, `eval`, `importlib`) is
not followed. This is a rule a course states and enforces for honest students, not a sandbox.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from dataclasses import dataclass

_MAGIC = re.compile(r"^\s*[%!]")


@dataclass(frozen=True)
class Forbid:
    """What one exercise must not use.

    names: patterns (fnmatch) of the last part of a name reached through one of `modules`:
    "conv2d" forbids torch.conv2d, torch.nn.functional.conv2d, torch.ops.aten.conv2d, ...
    methods: patterns of methods called on a value of unknown type (`X.unfold(...)`).
    reason: one sentence for the student: why the exercise asks them to write it themselves.
    """

    names: tuple[str, ...]
    reason: str
    modules: tuple[str, ...] = ("torch",)
    methods: tuple[str, ...] = ()

    def forbids(self, path: str) -> bool:
        parts = path.split(".")
        return parts[0] in self.modules and len(parts) > 1 and any(fnmatch.fnmatchcase(parts[-1], p) for p in self.names)

    def forbids_method(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in self.methods)


@dataclass(frozen=True)
class Use:
    """One forbidden use: what was written, where, and the rule it breaks."""

    function: str  # the graded function it was found in (or reached from)
    written: str  # as the student wrote it, e.g. "F.conv2d"
    resolved: str  # what that is, e.g. "torch.nn.functional.conv2d"
    cell: int
    line: int
    rule: Forbid

    def message(self, cell_of: dict[str, int]) -> str:
        what = self.written if self.written == self.resolved else f"{self.written} ({self.resolved})"
        marks = [name for name, index in cell_of.items() if index == self.cell]
        place = f"the `#| grade: {marks[0]}` cell" if marks else f"cell {self.cell + 1}"
        return (f"{self.function} uses {what} ({place}, line {self.line}), which this exercise does not allow:"
                f" {self.rule.reason}")


Scope = dict[str, "str | ast.AST"]  # a name -> the dotted path it stands for, or the def/lambda it is


def _parse(source: str) -> ast.Module | None:
    # IPython magics and shell lines are not Python: blank them, keeping line numbers.
    text = "\n".join("" if _MAGIC.match(line) else line for line in source.splitlines())
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _bind_import(node: ast.Import | ast.ImportFrom, scope: Scope, stars: list[str]) -> None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                scope[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                scope[top] = top
        return
    if node.level or not node.module:
        return  # a relative import: the student's own files, not a library
    for alias in node.names:
        if alias.name == "*":
            stars.append(node.module)
        else:
            scope[alias.asname or alias.name] = f"{node.module}.{alias.name}"


class _Resolver:
    def __init__(self, scope: Scope, stars: list[str], local: set[str] | None = None) -> None:
        self.scope = scope
        self.stars = stars
        self.local = local or set()  # the function's own variables: they hide module-level names

    def path(self, node: ast.AST) -> str | None:
        """The dotted library path an expression stands for, if it is one."""
        if isinstance(node, ast.Name):
            if node.id in self.local:
                return None
            bound = self.scope.get(node.id)
            if isinstance(bound, str):
                return bound
            if bound is None and self.stars:
                return f"{self.stars[-1]}.{node.id}"
            return None
        if isinstance(node, ast.Attribute):
            base = self.path(node.value)
            return f"{base}.{node.attr}" if base else None
        if _constant_getattr(node):
            assert isinstance(node, ast.Call)
            base = self.path(node.args[0])
            return f"{base}.{node.args[1].value}" if base else None  # type: ignore[attr-defined]
        return None


def _constant_getattr(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
            and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str))


def _written(node: ast.AST) -> str:
    try:
        return ast.unparse(node)[:80]
    except Exception:  # an AST unparse cannot render: say what kind of thing it is
        return type(node).__name__


class Notebook:
    """The module-level names of a notebook's code cells, in execution order."""

    def __init__(self, sources: dict[int, str]) -> None:
        self.scope: Scope = {}
        self.stars: list[str] = []
        self.cell_of_node: dict[int, int] = {}  # id(def node) -> cell index
        self.defs: dict[str, list[tuple[int, ast.AST]]] = {}
        for index in sorted(sources):
            tree = _parse(sources[index])
            if tree is None:
                continue
            resolver = _Resolver(self.scope, self.stars)
            for node in tree.body:
                self._bind(node, index, resolver)

    def _bind(self, node: ast.stmt, index: int, resolver: _Resolver) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            _bind_import(node, self.scope, self.stars)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.scope[node.name] = node
            self.defs.setdefault(node.name, []).append((index, node))
            self.cell_of_node[id(node)] = index
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if isinstance(node.value, ast.Lambda):
                self.scope[name] = node.value
                self.cell_of_node[id(node.value)] = index
            else:
                path = resolver.path(node.value)
                if path:
                    self.scope[name] = path
                else:
                    self.scope.pop(name, None)  # a value of the student's: it hides a library name
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    self._bind(child, index, resolver)

    def definition(self, name: str, cell: int | None) -> tuple[int, ast.AST] | None:
        found = self.defs.get(name, [])
        in_cell = [item for item in found if item[0] == cell]
        chosen = (in_cell or found)[-1:] if (in_cell or found) else []
        if not chosen and isinstance(self.scope.get(name), ast.Lambda):
            node = self.scope[name]
            assert isinstance(node, ast.AST)
            return self.cell_of_node[id(node)], node
        return chosen[0] if chosen else None


def _local_scope(fn: ast.AST, notebook: Notebook) -> tuple[Scope, set[str], list[str]]:
    """Names bound inside a function: its imports and aliases resolve; other locals hide globals."""
    scope: Scope = dict(notebook.scope)
    local: set[str] = set()
    if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = fn.args
        local.update(a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs))
        local.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
    stars = list(notebook.stars)
    aliases: set[str] = set()
    resolver = _Resolver(scope, stars, set(local))
    for node in ast.walk(fn):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            _bind_import(node, scope, stars)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                for name_node in ast.walk(target):
                    if isinstance(name_node, ast.Name):
                        path = resolver.path(node.value) if len(node.targets) == 1 and target is name_node else None
                        if path:
                            scope[name_node.id] = path  # an alias made inside the function
                            aliases.add(name_node.id)
                        else:
                            local.add(name_node.id)
        elif isinstance(node, (ast.For, ast.comprehension)):
            for name_node in ast.walk(node.target):
                if isinstance(name_node, ast.Name):
                    local.add(name_node.id)
    local -= aliases
    for name in local:
        scope.pop(name, None)  # the function's own variable hides a module-level name
    return scope, local, stars


def find_forbidden(rules: tuple[Forbid, ...], functions: tuple[str, ...] | list[str], sources: dict[int, str],
                   cell_of: dict[str, int]) -> Use | None:
    """The first use of something `rules` forbid in the graded `functions` (and what they call)."""
    if not rules:
        return None
    notebook = Notebook(sources)
    for function in functions:
        found = notebook.definition(function, cell_of.get(function))
        if found is None:
            continue
        use = _search(function, found, notebook, rules, {id(found[1])})
        if use is not None:
            return use
    return None


def _search(function: str, found: tuple[int, ast.AST], notebook: Notebook, rules: tuple[Forbid, ...],
            seen: set[int]) -> Use | None:
    cell, fn = found
    scope, local, stars = _local_scope(fn, notebook)
    resolver = _Resolver(scope, stars, local)
    for node in ast.walk(fn):
        if isinstance(node, (ast.Attribute, ast.Name)) or _constant_getattr(node):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                continue
            path = resolver.path(node)
            if path:
                for rule in rules:
                    if rule.forbids(path):
                        return Use(function, _written(node), path, cell, getattr(node, "lineno", 0), rule)
            if isinstance(node, ast.Name) and node.id not in local:
                target = scope.get(node.id)
                if isinstance(target, ast.AST) and id(target) not in seen:  # a helper of the notebook
                    seen.add(id(target))
                    helper_cell = notebook.cell_of_node.get(id(target), cell)
                    use = _search(function, (helper_cell, target), notebook, rules, seen)
                    if use is not None:
                        return use
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and resolver.path(node.func) is None:
            for rule in rules:
                if rule.forbids_method(node.func.attr):
                    return Use(function, _written(node.func), f"the tensor method .{node.func.attr}()", cell,
                               node.lineno, rule)
    return None
