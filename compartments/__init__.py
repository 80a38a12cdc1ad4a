"""popkin's structural layer: compartment graphs, dosing events and their solution.

One individual, deterministic: graph -> sympy ODEs -> compiled JAX functions ->
solution (closed form, matrix exponential or ODE) with sensitivities.
"""

from compartments import jax_config as _jax_config  # noqa: F401  (float64 + compile cache)
from compartments.compiled import CompiledModel, compile_model
from compartments.edits import add_lag, add_peripheral, add_transit, set_elimination
from compartments.expressions import ExpressionError, parse_expression
from compartments.graph import Model, ModelError

__all__ = [
    "CompiledModel",
    "ExpressionError",
    "Model",
    "ModelError",
    "compile_model",
    "add_lag",
    "add_peripheral",
    "add_transit",
    "parse_expression",
    "set_elimination",
]
