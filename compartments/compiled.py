"""Compile a :class:`~compartments.symbolic.SymbolicSystem` into JAX functions.

Every sympy expression is turned into a JAX function once (``lambdify`` with
common-subexpression elimination) and cached per model, so no sympy object is
ever touched inside a numerical loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import jax.numpy as jnp
import sympy as sp

from compartments.graph import TIME, Model
from compartments.linear_spectrum import eigenvalue_function, spectral_blocks
from compartments.symbolic import (
    ClosedForm,
    SymbolicSystem,
    build_system,
    one_compartment_closed_form,
)

Array = jnp.ndarray


def _lambdify(args: list, expr: sp.Matrix, shape: tuple[int, ...]) -> Callable[..., Array]:
    raw = sp.lambdify(args, expr, modules="jax", cse=True)

    def func(*values: Array) -> Array:
        out = jnp.asarray(raw(*values), dtype=jnp.float64)
        return out.reshape(shape)

    return func


@dataclass(frozen=True, eq=False)
class CompiledModel:
    """JAX functions of one model. Obtain with :func:`compile_model` (cached).

    All functions take ``A`` (amounts, shape ``(n_states,)``), ``p`` (parameters,
    shape ``(n_params,)``) and, where relevant, the time ``t``.

    Attributes
    ----------
    kind
        ``"closed_form"`` (one-compartment linear, exact), ``"linear"`` (other
        linear graphs: sum of exponentials when ``linear_eigenvalues`` is set, see
        :mod:`compartments.linear_spectrum`, else the matrix exponential) or ``"ode"``
        (diffrax integration).
    linear_eigenvalues
        Closed-form eigenvalues ``p -> (n,)`` of the linear system matrix, or ``None``.
    """

    model: Model
    system: SymbolicSystem
    kind: str
    rhs: Callable[[Array, Array, Array], Array]
    jacobian: Callable[[Array, Array, Array], Array]
    sensitivity_rhs: Callable[[Array, Array, Array, Array], Array]
    outputs: Callable[[Array, Array, Array], Array]
    dose_parameters: Callable[[Array], Array]
    linear_matrix: Callable[[Array], Array] | None
    closed_form: Callable[[Array, Array, Array, Array], Array] | None
    closed_form_derivative: Callable[[Array, Array, Array, Array], Array] | None
    linear_eigenvalues: Callable[[Array], Array] | None = None

    @property
    def n_states(self) -> int:
        """Number of amount states."""
        return len(self.system.states)

    @property
    def n_params(self) -> int:
        """Number of structural parameters."""
        return len(self.system.params)

    @property
    def param_names(self) -> tuple[str, ...]:
        """Parameter names in the order of the parameter vector."""
        return tuple(p.name for p in self.system.params)

    @property
    def state_names(self) -> tuple[str, ...]:
        """Compartment names in state order."""
        return tuple(s.name for s in self.system.states)

    @property
    def output_names(self) -> tuple[str, ...]:
        """Output names."""
        return self.model.output_names

    def param_vector(self, values: dict[str, float]) -> Array:
        """Parameter vector from a ``name -> value`` mapping (all names required).

        Examples
        --------
        >>> from model_library import get  # doctest: +SKIP
        """
        missing = [n for n in self.param_names if n not in values]
        if missing:
            raise KeyError(
                f"missing parameter values {missing} for model {self.model.name!r} "
                f"(parameters: {list(self.param_names)})"
            )
        return jnp.asarray([float(values[n]) for n in self.param_names], dtype=jnp.float64)


@lru_cache(maxsize=128)
def compile_model(model: Model) -> CompiledModel:
    """Build and compile ``model`` (cached per model).

    Examples
    --------
    >>> from compartments.graph import Model
    >>> m = (Model().compartment("central", volume="V").elimination("central", cl="CL")
    ...      .dose("central").output("Cc", "central/V"))
    >>> compile_model(m).kind
    'closed_form'
    """
    system = build_system(model)
    n, m = len(system.states), len(system.params)
    A, p = list(system.states), list(system.params)
    S = list(system.sensitivity_symbols)
    dose = sp.Matrix.hstack(system.bioavailability, system.lag, system.rate, system.duration)
    closed: ClosedForm | None = one_compartment_closed_form(system)
    K = system.linear_matrix
    if closed is not None:
        kind = "closed_form"
    elif K is not None:
        kind = "linear"
    else:
        kind = "ode"
    blocks = spectral_blocks(K) if kind == "linear" else None
    linear_fn = None if K is None else _lambdify([p], K, (n, n))
    closed_fn = closed_der = None
    if closed is not None:
        cargs = [list(closed.a0), list(closed.r), closed.dt, p]
        closed_fn = _lambdify(cargs, closed.solution, (n,))
        closed_der = _lambdify(cargs, closed.derivative, (n, 2 * n + 1 + m))
    return CompiledModel(
        model=model,
        system=system,
        kind=kind,
        rhs=_lambdify([A, p, TIME], system.rhs, (n,)),
        jacobian=_lambdify([A, p, TIME], system.jacobian, (n, n)),
        sensitivity_rhs=_lambdify([A, S, p, TIME], system.sensitivity_rhs, (n, m)),
        outputs=_lambdify([A, p, TIME], system.outputs, (len(model.outputs),)),
        dose_parameters=_lambdify([p], dose, (n, 4)),
        linear_matrix=linear_fn,
        linear_eigenvalues=None if blocks is None else eigenvalue_function(blocks, linear_fn),
        closed_form=closed_fn,
        closed_form_derivative=closed_der,
    )
