"""Safe parsing of model expressions into sympy.

Expressions are parsed with Python's :mod:`ast` and translated node by node into
sympy objects; nothing is ever passed to ``eval``. Only arithmetic, numbers,
names and a fixed set of mathematical functions are accepted.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

import sympy as sp

#: Functions allowed in model expressions.
FUNCTIONS: dict[str, Callable[..., sp.Expr]] = {
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "abs": sp.Abs,
    "sin": sp.sin,
    "cos": sp.cos,
    "tanh": sp.tanh,
    "min": sp.Min,
    "max": sp.Max,
    "expit": lambda x: 1 / (1 + sp.exp(-x)),
    "logit": lambda x: sp.log(x / (1 - x)),
}


class ExpressionError(ValueError):
    """An expression could not be parsed or uses something not allowed."""


def parse_expression(text: str | float | int | sp.Expr, *, context: str = "") -> sp.Expr:
    """Parse ``text`` into a sympy expression without evaluating any code.

    Parameters
    ----------
    text
        The expression, e.g. ``"VM*C/(KM + C)"``; numbers and sympy expressions
        are passed through.
    context
        Where the expression comes from, used in error messages.

    Examples
    --------
    >>> parse_expression("CL/V * central")
    CL*central/V
    """
    if isinstance(text, sp.Basic):
        return sp.sympify(text)
    if isinstance(text, bool):
        raise ExpressionError(f"{context}: expected an expression, got {text!r}")
    if isinstance(text, int | float):
        return sp.Float(text) if isinstance(text, float) else sp.Integer(text)
    if not isinstance(text, str):
        raise ExpressionError(
            f"{context}: expected an expression string, got {type(text).__name__}"
        )
    where = f"{context}: " if context else ""
    try:
        tree = ast.parse(text.replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"{where}cannot parse {text!r}: {exc.msg}") from None
    return _convert(tree.body, text, where)


def _convert(node: ast.AST, text: str, where: str) -> sp.Expr:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(
        node.value, bool
    ):
        return sp.Integer(node.value) if isinstance(node.value, int) else sp.Float(node.value)
    if isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise ExpressionError(
                f"{where}{node.id!r} is a function and needs arguments in {text!r}"
            )
        return sp.Symbol(node.id, real=True)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _convert(node.operand, text, where)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left = _convert(node.left, text, where)
        right = _convert(node.right, text, where)
        ops = {ast.Add: sp.Add, ast.Mult: sp.Mul}
        if type(node.op) in ops:
            return ops[type(node.op)](left, right)
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Div):
            return left / right
        if isinstance(node.op, ast.Pow):
            return left**right
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        func = FUNCTIONS.get(node.func.id)
        if func is None:
            allowed = ", ".join(sorted(FUNCTIONS))
            raise ExpressionError(
                f"{where}unknown function {node.func.id!r} in {text!r}; allowed: {allowed}"
            )
        return func(*[_convert(arg, text, where) for arg in node.args])
    raise ExpressionError(
        f"{where}unsupported syntax {ast.unparse(node)!r} in {text!r}: only numbers, names, "
        "+ - * / ** and the functions exp, log, sqrt, ... are allowed"
    )


def symbol(name: str) -> sp.Symbol:
    """The sympy symbol popkin uses for ``name`` (real-valued)."""
    return sp.Symbol(name, real=True)
