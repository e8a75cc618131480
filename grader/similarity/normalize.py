"""A graded function as a stream of normalised tokens, each tied to a line of its cell.

Renaming, formatting and comments are what a copier changes first, so none of them may show in
the tokens: local names become v0, v1, ... in order of first use; free names (torch, len, other
graded functions) and attribute and keyword names stay, because they are the substance of the
code. Operands of commutative operators are sorted by their shape, so `b * a` reads as `a * b`.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass

COMMUTATIVE = (ast.Add, ast.Mult, ast.BitAnd, ast.BitOr, ast.BitXor)
# `a > b` is `b < a`: one direction for every comparison of two operands.
FLIPPED = {ast.Gt: ast.Lt, ast.GtE: ast.LtE}


@dataclass(frozen=True)
class Token:
    text: str
    line: int  # 1-based line in the cell's source


@dataclass(frozen=True)
class FunctionCode:
    name: str
    source: str  # the function's own source text, as the student wrote it
    first_line: int  # line of `source`'s first line within its cell
    tokens: tuple[Token, ...]


def _strip_magics(source: str) -> str:
    # IPython magics and shell escapes are not Python; blank them but keep the line numbers.
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _shape(node: ast.AST) -> str:
    """The sort key of commutative operands; names are canonical already, so `b * a` == `a * b`."""
    return ast.dump(node, annotate_fields=False)


class _Canonical(ast.NodeTransformer):
    """Drop docstrings, spell augmented assignments out, order commutative operands."""

    def _drop_docstring(self, node: ast.AST) -> ast.AST:
        body = getattr(node, "body", None)
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass(lineno=body[0].lineno, col_offset=0)]  # type: ignore[attr-defined]
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.generic_visit(node)
        return self._drop_docstring(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]
    visit_ClassDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Expr(self, node: ast.Expr) -> ast.AST | None:
        if isinstance(node.value, ast.Constant):  # a bare string or number: a comment in disguise
            return None
        self.generic_visit(node)
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        load = copy.deepcopy(node.target)
        for sub in ast.walk(load):
            if hasattr(sub, "ctx"):
                sub.ctx = ast.Load()
        value = self.visit_BinOp(ast.BinOp(left=load, op=node.op, right=node.value))
        return ast.copy_location(ast.Assign(targets=[node.target], value=value), node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        self.generic_visit(node)
        if not isinstance(node.op, COMMUTATIVE):
            return node
        operands: list[ast.expr] = []

        def flatten(sub: ast.expr) -> None:  # a + b + c: one chain, sorted as a whole
            if isinstance(sub, ast.BinOp) and type(sub.op) is type(node.op):
                flatten(sub.left)
                flatten(sub.right)
            else:
                operands.append(sub)

        flatten(node)
        operands.sort(key=_shape)
        result: ast.expr = operands[0]
        for operand in operands[1:]:
            result = ast.copy_location(ast.BinOp(left=result, op=type(node.op)(), right=operand), node)
        return result

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        node.values.sort(key=_shape)
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) != 1:
            return node
        op, right = node.ops[0], node.comparators[0]
        if type(op) in FLIPPED:
            node.left, node.comparators, node.ops = right, [node.left], [FLIPPED[type(op)]()]
        elif isinstance(op, (ast.Eq, ast.NotEq, ast.Is, ast.IsNot)) and _shape(right) < _shape(node.left):
            node.left, node.comparators = right, [node.left]
        return node


def _local_names(function: ast.AST) -> set[str]:
    """Names the function binds itself: its parameters and whatever it assigns."""
    names: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not function:
            names.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def _rename(function: ast.AST, also_local: frozenset[str] = frozenset()) -> None:
    """Local names become v0, v1, ... in order of first appearance (parameters first)."""
    local = _local_names(function) | also_local
    canonical: dict[str, str] = {}

    def new(text: str) -> str:
        return canonical.setdefault(text, f"v{len(canonical)}") if text in local else text

    def visit(node: ast.AST) -> None:  # pre-order, fields in source order
        if isinstance(node, ast.Name):
            node.id = new(node.id)
        elif isinstance(node, ast.arg):
            node.arg = new(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not function:
            node.name = new(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            node.name = new(node.name)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(function)


def canonical_tree(tree: ast.AST, also_local: frozenset[str] = frozenset()) -> ast.AST:
    """Canonicalise a freshly parsed tree, in place (copying big trees costs more than parsing).

    `also_local`: names the student chose outside the function (helpers beside it in its cell),
    renamed like its own locals.
    """
    _rename(tree, also_local)
    tree = _Canonical().visit(tree)
    if tree is None:  # the whole node was a bare constant (a docstring)
        return ast.Pass(lineno=1, col_offset=0)
    ast.fix_missing_locations(tree)
    return tree


def _constant(value: object) -> str:
    if isinstance(value, (bool, type(None))) or (isinstance(value, (int, float)) and abs(value) < 1e6):
        return f"C{value!r}"
    if isinstance(value, str) and len(value) <= 12:
        return f"S{value!r}"
    return f"C<{type(value).__name__}>"


def tokens_of(function: ast.AST) -> tuple[Token, ...]:
    """Pre-order walk of a canonical AST: node kinds, names, attributes, keywords, constants."""
    out: list[Token] = []

    def name(text: str) -> str:
        return text

    def walk(node: ast.AST, line: int) -> None:
        line = getattr(node, "lineno", line)
        if isinstance(node, (ast.expr_context, ast.Load, ast.Store, ast.Del)):
            return
        kind = type(node).__name__
        if isinstance(node, ast.Name):
            out.append(Token(name(node.id), line))
            return
        if isinstance(node, ast.Constant):
            out.append(Token(_constant(node.value), line))
            return
        if isinstance(node, ast.arg):
            out.append(Token(name(node.arg), line))
            return
        out.append(Token(kind, line))
        if isinstance(node, ast.Attribute):
            walk(node.value, line)
            out.append(Token("." + node.attr, line))
            return
        if isinstance(node, ast.keyword):
            out.append(Token(f"{node.arg}=", line))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not function:
            out.append(Token(name(node.name), line))
        for child in ast.iter_child_nodes(node):
            walk(child, line)

    walk(function, getattr(function, "lineno", 1))
    return tuple(out)


def graded_function(cell_source: str, name: str) -> FunctionCode | None:
    """The function (or class) `name` of a graded cell (the whole cell when it defines no such thing)."""
    if not isinstance(cell_source, str):  # the notebook is hostile input: its JSON may say anything
        return None
    try:
        return _graded_function(cell_source, name)
    except (RecursionError, MemoryError):  # absurdly nested or huge code: nothing sensible to compare
        return None


def _graded_function(cell_source: str, name: str) -> FunctionCode | None:
    source = _strip_magics(cell_source)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    defs = [n for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == name]
    target: ast.AST = defs[-1] if defs else tree
    lines = source.splitlines()
    if defs:
        start = min([defs[-1].lineno, *(d.lineno for d in defs[-1].decorator_list)])
        end = defs[-1].end_lineno or start
    else:
        start, end = 1, len(lines)
    text = "\n".join(lines[start - 1:end])
    helpers = frozenset(n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                        and n.name != name)
    return FunctionCode(name, text, start, tokens_of(canonical_tree(target, helpers)))


def module_tokens(source: str) -> tuple[Token, ...]:
    """Every statement of some given code, normalised the same way (for discounting it)."""
    if not isinstance(source, str):
        return ()
    try:
        tree = ast.parse(_strip_magics(source))
        out: list[Token] = []
        for node in tree.body:
            out.extend(tokens_of(canonical_tree(node)))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ()
    return tuple(out)
